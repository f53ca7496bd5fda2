import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { restartLogLevel, resilientInformer, WARMUP_GRACE_MS } from '../../../src/kube/informer.js';
import { createLogger } from '../../../src/observability/logger.js';

/** What client-node's list call throws while a new CRD's storage initializes. */
const initializing = new k8s.ApiException(429, 'Unknown API Status Code!', { kind: 'Status', code: 429, message: 'storage is (re)initializing' }, {});
/** What its watch reports for the same answer: only the HTTP status. */
const watchTooMany = Object.assign(new Error('Too Many Requests'), { statusCode: 429 });

describe('informer restart log level', () => {
  it('is debug while a new resource warms up, and a warning once that has lasted the grace period', () => {
    for (const err of [initializing, watchTooMany, new k8s.ApiException(404, 'Not Found', {}, {}), new Error('storage is (re)initializing')]) {
      expect(restartLogLevel(err, 0), String(err)).toBe('debug');
      expect(restartLogLevel(err, WARMUP_GRACE_MS - 1), String(err)).toBe('debug');
      expect(restartLogLevel(err, WARMUP_GRACE_MS), String(err)).toBe('warn');
    }
  });

  it('warns at once about anything else', () => {
    expect(restartLogLevel(new k8s.ApiException(403, 'Forbidden', {}, {}), 0)).toBe('warn');
    expect(restartLogLevel(new k8s.ApiException(500, 'Internal Server Error', {}, {}), 0)).toBe('warn');
    expect(restartLogLevel(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }), 0)).toBe('warn');
    expect(restartLogLevel(undefined, 0)).toBe('warn');
  });

  it('logs the informer retrying through 429s at debug', async () => {
    const lines: Array<{ level: string; msg: string; informer?: string }> = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as (typeof lines)[number]));
    const informer = resilientInformer(new k8s.KubeConfig(), '/apis/fledge.dev/v1alpha1/rollouts', () => Promise.reject(initializing), { logger, name: 'rollouts' });
    await informer.start();
    // The first retry is due after 500 ms, so a second failure proves it retried.
    while (lines.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    await informer.stop();
    expect(lines.slice(0, 2)).toEqual([
      expect.objectContaining({ level: 'debug', msg: 'informer stopped; restarting', informer: 'rollouts' }),
      expect.objectContaining({ level: 'debug', msg: 'informer stopped; restarting', informer: 'rollouts' }),
    ]);
    expect(informer.synced).toBe(false);
  });
});
