import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CanaryWebhook, WebhookType } from '../../../src/api/rollout.js';
import { callKey, hookTimeoutMs, type WebhookCall } from '../../../src/rollout/decide/hooks.js';
import { WEBHOOK_POLL_MS, WebhookRunner } from '../../../src/rollout/hooks/runner.js';
import type { Logger } from '../../../src/observability/logger.js';
import { makeRollout } from './fake-cluster.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, with: () => quiet } as unknown as Logger;

/** A hook receiver whose answers the test scripts; it counts and keeps what it was sent, and when (on the fake clock). */
class Receiver {
  readonly bodies: unknown[] = [];
  readonly calledAt: number[] = [];
  calls = 0;
  answer: (call: number, request: IncomingMessage) => { status: number; body?: string } | 'hang' = () => ({ status: 200 });
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        this.calls++;
        this.calledAt.push(Date.now());
        if (body) this.bodies.push(JSON.parse(body));
        const answer = this.answer(this.calls, request);
        if (answer === 'hang') return;
        response.writeHead(answer.status, answer.status === 302 ? { Location: '/elsewhere' } : {});
        response.end(answer.body ?? '');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const rollout = makeRollout();
const recorded: Array<{ type: string; reason: string; message: string }> = [];
const requeued: string[] = [];
let runner: WebhookRunner;
let receiver: Receiver;

async function setup(): Promise<void> {
  recorded.length = 0;
  requeued.length = 0;
  receiver = new Receiver();
  await receiver.start();
  runner = new WebhookRunner({
    events: { record: async (_target, type, reason, message) => void recorded.push({ type, reason, message }) },
    logger: quiet,
    requeue: (key) => requeued.push(key),
  });
}

// The runner's poll intervals, back-offs and load ticks run on a fake clock; the HTTP exchanges with the receiver are
// real I/O, so setImmediate stays real to let them happen.
beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }));

afterEach(async () => {
  runner.stop();
  vi.useRealTimers();
  await receiver.stop();
});

function call(type: WebhookType, mode: WebhookCall['mode'], extra: Partial<CanaryWebhook> = {}, retries = 0): WebhookCall {
  const hook: CanaryWebhook = { name: `${type}-hook`, type, url: receiver.url, ...extra };
  return {
    key: callKey(hook, { revision: 'r2', attempt: 1, stepIndex: 0 }),
    hook,
    mode,
    payload: { name: 'api', namespace: 'shop', phase: 'Progressing', checksum: 'r2', metadata: hook.metadata ?? {} },
    timeoutMs: hookTimeoutMs(hook),
    retries,
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Waits, at most `ms` of real time, for `condition`: the calls are real HTTP to the receiver. With `drive`, whenever
 * the runner is waiting on a timer (the next poll, a back-off), the fake clock jumps to it meanwhile.
 */
const until = async (condition: () => boolean, { ms = 3000, drive = true }: { ms?: number; drive?: boolean } = {}): Promise<void> => {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('timed out waiting');
    if (drive && vi.getTimerCount() > 0) await vi.advanceTimersToNextTimerAsync();
    else await nextTurn();
  }
};

/** Lets real I/O run for `ms` of real time with the fake clock standing still: room for a call that should not come. */
const quietFor = async (ms: number): Promise<void> => {
  const end = performance.now() + ms;
  while (performance.now() < end) await nextTurn();
};

describe('webhook runner', () => {
  it('polls a gate, recording one Event when it closes and one when it opens, however often it polls', async () => {
    await setup();
    receiver.answer = (n) => (n < 8 ? { status: 403, body: 'not approved' } : { status: 200 });
    const gate = call('confirm-promotion', 'poll', { metadata: { team: 'shop' } });
    runner.sync(rollout, [gate]);
    await until(() => runner.results('shop/api')[0]?.outcome === 'passed');
    expect(receiver.calls).toBeGreaterThanOrEqual(8);
    expect(new Set(receiver.calledAt.slice(1).map((at, i) => at - (receiver.calledAt[i] ?? 0))), 'the poll interval').toEqual(new Set([WEBHOOK_POLL_MS]));
    expect(recorded.map((event) => event.message.replace(/ in \d+ms/, ''))).toEqual([
      'webhook confirm-promotion-hook (confirm-promotion) closed: HTTP 403: not approved',
      'webhook confirm-promotion-hook (confirm-promotion) open: HTTP 200',
    ]);
    expect(requeued).toEqual(['shop/api', 'shop/api']);
    expect(receiver.bodies[0]).toEqual({ name: 'api', namespace: 'shop', phase: 'Progressing', checksum: 'r2', metadata: { team: 'shop' } });
    // No longer wanted: polling stops, with nothing left scheduled.
    runner.sync(rollout, []);
    expect(vi.getTimerCount(), 'timers left').toBe(0);
    expect(runner.results('shop/api')).toEqual([]);
  });

  it('keeps a gate closed on a redirect, and opens it on a 2xx whatever the body says', async () => {
    await setup();
    receiver.answer = (n) => (n === 1 ? { status: 302 } : { status: 200, body: '<html>garbage' });
    runner.sync(rollout, [call('confirm-rollout', 'poll')]);
    await until(() => recorded.length === 2);
    expect(recorded[0]?.message).toMatch(/closed: HTTP 302/);
    expect(recorded[1]?.message).toMatch(/open: HTTP 200/);
  });

  it('retries a pre-rollout call with back-off and passes on the first 2xx; fails once its retries are spent', async () => {
    await setup();
    receiver.answer = (n) => (n < 3 ? { status: 500, body: 'db down' } : { status: 200 });
    runner.sync(rollout, [call('pre-rollout', 'once', {}, 2)]);
    await until(() => runner.results('shop/api').length === 1);
    expect(runner.results('shop/api')[0]).toMatchObject({ outcome: 'passed' });
    const [first = 0, second = 0, third = 0] = receiver.calledAt;
    expect([second - first, third - second], 'the back-off between calls').toEqual([1000, 2000]);
    expect(recorded.map((event) => [event.type, event.reason])).toEqual([['Normal', 'WebhookPassed']]);
    expect(recorded[0]?.message).toMatch(/passed after 3 calls: HTTP 200/);

    receiver.calls = 0;
    receiver.answer = () => ({ status: 503, body: 'still down' });
    runner.sync(rollout, [call('rollout', 'once', {}, 1)]);
    await until(() => runner.results('shop/api').some((result) => result.key.startsWith('rollout/')));
    expect(runner.results('shop/api').find((result) => result.key.startsWith('rollout/'))).toMatchObject({ outcome: 'failed', message: expect.stringMatching(/^HTTP 503: still down/) });
    expect(receiver.calls).toBe(2);
    expect(recorded.at(-1)).toMatchObject({ type: 'Warning', reason: 'WebhookFailed', message: expect.stringMatching(/failed after 2 calls/) });
  });

  it('counts a hook that does not answer within its timeout as failed', async () => {
    await setup();
    receiver.answer = () => 'hang';
    runner.sync(rollout, [call('pre-rollout', 'once', { timeout: '200ms' })]);
    await until(() => runner.results('shop/api').length === 1);
    expect(runner.results('shop/api')[0]).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/^the call to http:\/\/127\.0\.0\.1:\d+ did not finish within its 200 ms deadline \(gave up after [\d.]+ m?s\)$/),
    });
  });

  it('sends a bounded load and stops it when no longer wanted', async () => {
    await setup();
    runner.sync(rollout, [call('load-test', 'load', { metadata: { rps: '50', duration: '10s' } })]);
    // 500 ms at 50 a second: 25 ticks, each a request; the load test is not driven past them.
    await vi.advanceTimersByTimeAsync(500);
    await until(() => receiver.calls === 25, { drive: false });
    runner.sync(rollout, []);
    await until(() => recorded.some((event) => event.reason === 'LoadTestEnded'), { drive: false });
    expect(recorded.map((event) => event.reason)).toEqual(['LoadTestStarted', 'LoadTestEnded']);
    expect(recorded[1]?.message).toMatch(/stopped with its step: 25 requests, 0 failed/);
    // Past the last request's own short-lived timers, nothing is left to tick.
    await vi.advanceTimersByTimeAsync(1000);
    expect(vi.getTimerCount(), 'timers left').toBe(0);
    expect(receiver.calls).toBe(25);
  });

  it('fires event hooks and warns once, not per event, while their receiver fails', async () => {
    await setup();
    receiver.answer = () => ({ status: 500 });
    const hook: CanaryWebhook = { name: 'audit', type: 'event', url: receiver.url };
    const notification = { hook, payload: { name: 'api', namespace: 'shop', phase: 'Progressing' as const, checksum: 'r2', metadata: { eventReason: 'RolloutStarted' } }, timeoutMs: 1000, retries: 0 };
    runner.notify(rollout, [notification, notification, notification]);
    await until(() => receiver.calls === 3);
    // Room for the three answers to be handled, each of which could record an Event.
    await quietFor(50);
    expect(recorded.map((event) => event.reason)).toEqual(['WebhookFailed']);
  });
});
