import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/logger.js';
import { slackPayload, WebhookNotifier } from '../../../src/observability/notifier.js';

describe('notifications', () => {
  it('builds a Slack-compatible payload for aborted, promoted and paused, and nothing for other events', () => {
    const payload = slackPayload({ namespace: 'shop', name: 'api', reason: 'RolloutAborted', message: 'analysis failed at step 1/5' });
    expect(payload).toMatchObject({
      text: 'Rollout shop/api aborted: analysis failed at step 1/5',
      attachments: [{ color: '#d62728', title: 'Rollout shop/api aborted' }],
    });
    expect(slackPayload({ namespace: 'shop', name: 'api', reason: 'RolloutCompleted', message: 'x' })?.text).toBe('Rollout shop/api promoted: x');
    expect(slackPayload({ namespace: 'shop', name: 'api', reason: 'RolloutPaused', message: 'x' })?.text).toBe('Rollout shop/api paused: x');
    expect(slackPayload({ namespace: 'shop', name: 'api', reason: 'RolloutStepCompleted', message: 'x' })).toBeUndefined();
  });

  describe('WebhookNotifier', () => {
    let server: Server;
    let url: string;
    const received: unknown[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          received.push(JSON.parse(body));
          res.statusCode = req.url === '/broken' ? 500 : 200;
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('posts the payload, and survives a failing receiver', async () => {
      const logger = createLogger('error', {});
      await new WebhookNotifier(`${url}/hook`, logger).notify({ namespace: 'shop', name: 'api', reason: 'RolloutCompleted', message: 'revision abc is now stable' });
      expect(received.at(-1)).toMatchObject({ text: 'Rollout shop/api promoted: revision abc is now stable' });
      await expect(new WebhookNotifier(`${url}/broken`, logger).notify({ namespace: 'shop', name: 'api', reason: 'RolloutAborted', message: 'x' })).resolves.toBeUndefined();
      await expect(new WebhookNotifier('http://127.0.0.1:1/', logger, 500).notify({ namespace: 'shop', name: 'api', reason: 'RolloutAborted', message: 'x' })).resolves.toBeUndefined();
    });
  });
});
