import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileMetricConditions } from '../../../src/analysis/condition.js';
import type { MeasurementVerdict } from '../../../src/analysis/measure.js';
import { prometheusProvider, queryPrometheusRange, type RangeAnswer } from '../../../src/analysis/providers/prometheus.js';
import type { MeasureContext, MeasurementProgress } from '../../../src/analysis/providers/provider.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';
import { webProvider } from '../../../src/analysis/providers/web.js';
import type { CanaryWebhook } from '../../../src/api/rollout.js';
import { DeadlineExceeded } from '../../../src/http/deadline.js';
import { originOf, sendRequest } from '../../../src/http/request.js';
import type { Logger } from '../../../src/observability/logger.js';
import { WebhookNotifier } from '../../../src/observability/notifier.js';
import { callKey, type WebhookResult } from '../../../src/rollout/decide/hooks.js';
import { LoadTest, type LoadTestSummary } from '../../../src/rollout/hooks/load-test.js';
import { WebhookRunner } from '../../../src/rollout/hooks/runner.js';
import { makeRollout } from '../rollout/fake-cluster.js';

/**
 * An impostor that sends a good, passing answer one byte every DRIP_MS: every byte arrives well within any idle
 * timer, so only a deadline over the whole exchange cuts it off. Each answer takes seconds in all, far past the deadline.
 */
const DRIP_MS = 50;
const DEADLINE_MS = 600;
/** The machine is shared and loaded: the bound is generous, yet far below the seconds a dripped answer takes. */
const GRACE_MS = 2_000;
const ANSWER_BYTES = 200;
const DEADLINE_MESSAGE = /did not finish within its 600 ms deadline \(gave up after [\d.]+ m?s\)$/;

const T0 = 1_700_000_000;
const GOOD_ANSWERS: Record<string, unknown> = {
  '/api/v1/query': { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [T0, '0.99'] }] } },
  '/api/v1/query_range': { status: 'success', data: { resultType: 'matrix', result: [{ metric: { pod: 'a' }, values: [[T0, '0.99'], [T0 + 60, '0.98']] }] } },
  '/web': { successRate: 0.99 },
  '/hook': { approved: true },
  '/notify': { ok: true },
};

function drip(res: ServerResponse, body: string): void {
  let sent = 0;
  const timer = setInterval(() => {
    res.write(body[sent]);
    if (++sent === body.length) {
      clearInterval(timer);
      res.end();
    }
  }, DRIP_MS);
  res.on('close', () => clearInterval(timer));
}

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    const [, mode, ...rest] = url.pathname.split('/');
    const answer = GOOD_ANSWERS[`/${rest.join('/')}`];
    if (answer === undefined) return void res.writeHead(404).end();
    // Valid JSON padded with whitespace, so dripping it takes ANSWER_BYTES * DRIP_MS.
    const body = JSON.stringify(answer).padEnd(ANSWER_BYTES);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    if (mode === 'drip') drip(res, body);
    else res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const timed = async <T>(work: () => Promise<T>): Promise<{ result: T; elapsedMs: number }> => {
  const started = Date.now();
  const result = await work();
  return { result, elapsedMs: Date.now() - started };
};

/** The deadline message for `what` to this server. */
const deadlineMessage = (what: string): RegExp => new RegExp(`^${what} to ${base.replaceAll('.', '\\.')} ${DEADLINE_MESSAGE.source}`);

const expectCutAtDeadline = (elapsedMs: number): void => {
  expect(elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS);
  expect(elapsedMs).toBeLessThan(DEADLINE_MS + GRACE_MS);
};

const context: MeasureContext = {
  run: { name: 'api-run', namespace: 'shop', uid: 'uid-api-run' },
  metric: { name: 'success-rate', provider: { prometheus: { query: 'success_rate' } } },
  index: 0,
  args: {},
  conditions: compileMetricConditions({ name: 'success-rate', successCondition: 'result[0] >= 0.95' }),
};

const verdictOf = (progress: MeasurementProgress): MeasurementVerdict | undefined => (progress.phase === 'Done' ? progress.verdict : undefined);

const measurePrometheus = async (mode: string): Promise<MeasurementVerdict | undefined> => {
  const provider = prometheusProvider({ defaultAddress: undefined, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, readSecret: async () => '' }, { address: `${base}/${mode}`, query: 'success_rate', timeout: '600ms' });
  return verdictOf(await provider.run(context));
};

const measureWeb = async (mode: string): Promise<MeasurementVerdict | undefined> => {
  const provider = webProvider({ maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES }, { url: `${base}/${mode}/web`, jsonPath: '$.successRate', timeout: '600ms' });
  return verdictOf(await provider.run(context));
};

const queryRange = (mode: string): Promise<RangeAnswer> =>
  queryPrometheusRange({ address: `${base}/${mode}`, query: 'success_rate', timeoutMs: DEADLINE_MS, headers: {}, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES }, T0 * 1000, (T0 + 60) * 1000, 60_000);

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, with: () => quiet };

/** The first answer a confirm-promotion gate gets, as the runner records it. */
async function askGate(mode: string): Promise<WebhookResult | undefined> {
  const hook: CanaryWebhook = { name: 'qa-approval', type: 'confirm-promotion', url: `${base}/${mode}/hook`, timeout: '600ms' };
  const call = { key: callKey(hook, { revision: 'r2', attempt: 1, stepIndex: 3 }), hook, mode: 'poll' as const, payload: { name: 'api', namespace: 'shop', phase: 'WaitingPromotion' as const, checksum: 'r2', metadata: {} }, timeoutMs: DEADLINE_MS, retries: 0 };
  let answered: () => void = () => {};
  const first = new Promise<void>((resolve) => (answered = resolve));
  const runner = new WebhookRunner({ events: { record: async () => {} }, logger: quiet, requeue: () => answered(), pollIntervalMs: 60_000 });
  try {
    runner.sync(makeRollout(), [call]);
    await first;
    return runner.results('shop/api')[0];
  } finally {
    runner.stop();
  }
}

/** Sends one notification and returns what the notifier logged as failures. */
async function notify(mode: string): Promise<string[]> {
  const failures: string[] = [];
  const logger: Logger = { ...quiet, warn: (msg, fields) => void failures.push(`${msg}: ${String(fields?.error)}`) };
  const notifier = new WebhookNotifier(`${base}/${mode}/notify`, logger, DEADLINE_MS);
  notifier.notify({ namespace: 'shop', name: 'api', reason: 'RolloutCompleted', message: 'revision r2 is now stable' });
  await notifier.settled();
  return failures;
}

/** A load test that ends by its duration, long enough for its first requests to meet their deadline. */
const loadTest = (mode: string, durationMs: number): Promise<LoadTestSummary> =>
  new Promise((resolve) => new LoadTest({ url: `${base}/${mode}/web`, rps: 2, durationMs, timeoutMs: DEADLINE_MS }, resolve).start());

describe('a dripped good answer is cut off at the deadline, never accepted', () => {
  it('a Prometheus instant query: an Error measurement, not a pass', async () => {
    const { result, elapsedMs } = await timed(() => measurePrometheus('drip'));
    expect(result).toEqual({ phase: 'Error', message: expect.stringMatching(deadlineMessage('the Prometheus query')), deadlineExceeded: true });
    expectCutAtDeadline(elapsedMs);
  });

  it('a Prometheus range query (backtest): an error, no series', async () => {
    const { result, elapsedMs } = await timed(() => queryRange('drip'));
    expect(result).toEqual({ kind: 'error', message: expect.stringMatching(deadlineMessage('the Prometheus range query')), deadlineExceeded: true });
    expectCutAtDeadline(elapsedMs);
  });

  it('a web metric: an Error measurement, not a pass', async () => {
    const { result, elapsedMs } = await timed(() => measureWeb('drip'));
    expect(result).toEqual({ phase: 'Error', message: expect.stringMatching(deadlineMessage('the web metric request')), deadlineExceeded: true });
    expectCutAtDeadline(elapsedMs);
  });

  it('a confirm-promotion gate: stays closed, the call failed', async () => {
    const { result, elapsedMs } = await timed(() => askGate('drip'));
    expect(result).toMatchObject({ outcome: 'failed', message: expect.stringMatching(deadlineMessage('the call')) });
    expectCutAtDeadline(elapsedMs);
  });

  it('a notification: logged as failed, with the deadline', async () => {
    const { result, elapsedMs } = await timed(() => notify('drip'));
    expect(result).toEqual([expect.stringMatching(deadlineMessage('notification webhook failed: the notification'))]);
    expectCutAtDeadline(elapsedMs);
  });

  it('a load-test request: counted as failed, and the summary says why', async () => {
    const summary = await loadTest('drip', 2_500);
    expect(summary.errors).toBeGreaterThanOrEqual(1);
    expect(summary.lastError).toMatch(deadlineMessage('a load-test request'));
  });
});

describe('the same good answer, sent at once', () => {
  it('passes every kind of call within the same deadline', async () => {
    expect(await measurePrometheus('fast')).toEqual({ phase: 'Successful', value: '0.99' });
    expect(await queryRange('fast')).toEqual({ kind: 'series', series: [{ labels: { pod: 'a' }, samples: [[T0 * 1000, '0.99'], [(T0 + 60) * 1000, '0.98']] }] });
    expect(await measureWeb('fast')).toEqual({ phase: 'Successful', value: '0.99' });
    expect(await askGate('fast')).toMatchObject({ outcome: 'passed', message: expect.stringMatching(/^HTTP 200 in \d+ms$/) });
    expect(await notify('fast')).toEqual([]);
    const load = await loadTest('fast', 1_200);
    expect(load).toMatchObject({ errors: 0, ended: 'duration' });
    expect(load.sent).toBeGreaterThan(0);
  });
});

describe('sendRequest', () => {
  it('leaves a caller that cancels with its own error, not a deadline, and stops reading at once', async () => {
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 100);
    const { result, elapsedMs } = await timed(() =>
      sendRequest({ what: 'the call', url: `${base}/drip/hook`, method: 'POST', deadlineMs: 5_000, maxResponseBytes: 1024, sizeBudget: 'test', signal: cancel.signal }).then(
        () => 'answered',
        (err: unknown) => err,
      ),
    );
    expect(result).toBeInstanceOf(Error);
    expect(result).not.toBeInstanceOf(DeadlineExceeded);
    expect(elapsedMs).toBeLessThan(DEADLINE_MS + GRACE_MS);
  });

  it('names only the origin in messages: a path or query may hold a token', () => {
    expect(originOf('https://ops:pw@hooks.example.com:8443/services/T0/B0/s3cret?token=x')).toBe('https://hooks.example.com:8443');
    expect(originOf('not a url')).toBe('an unparseable URL');
  });
});
