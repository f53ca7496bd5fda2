import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/logger.js';
import { MAX_NOTIFICATIONS_IN_FLIGHT, slackPayload, WebhookNotifier } from '../../../src/observability/notifier.js';

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

    it('posts the payload in the background, and survives a failing or absent receiver', async () => {
      const logger = createLogger('error', {});
      const notifier = new WebhookNotifier(`${url}/hook`, logger);
      expect(notifier.notify({ namespace: 'shop', name: 'api', reason: 'RolloutCompleted', message: 'revision abc is now stable' })).toBeUndefined();
      await notifier.settled();
      expect(received.at(-1)).toMatchObject({ text: 'Rollout shop/api promoted: revision abc is now stable' });
      const broken = new WebhookNotifier(`${url}/broken`, logger);
      broken.notify({ namespace: 'shop', name: 'api', reason: 'RolloutAborted', message: 'x' });
      await broken.settled();
      expect(received.at(-1)).toMatchObject({ text: expect.stringContaining('Rollout shop/api aborted') });
      const absent = new WebhookNotifier('http://127.0.0.1:1/', logger, 500);
      absent.notify({ namespace: 'shop', name: 'api', reason: 'RolloutAborted', message: 'x' });
      await absent.settled();
    });

    it(`keeps at most ${MAX_NOTIFICATIONS_IN_FLIGHT} notifications in flight to a receiver that never answers`, async () => {
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      let seen = 0;
      silent.on('request', () => seen++);
      const notifier = new WebhookNotifier(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, createLogger('error', {}), 1000);
      for (let i = 0; i < MAX_NOTIFICATIONS_IN_FLIGHT + 10; i++) notifier.notify({ namespace: 'shop', name: `api-${i}`, reason: 'RolloutAborted', message: 'x' });
      await notifier.settled();
      expect(seen).toBe(MAX_NOTIFICATIONS_IN_FLIGHT);
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    });
  });
});
