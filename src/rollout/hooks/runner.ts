import { API_VERSION, LOAD_TEST_MAX_RPS, type Rollout } from '../../api/rollout.js';
import { parseDuration } from '../../api/duration.js';
import { describeHttpError, sendRequest } from '../../http/request.js';
import type { EventRecorder, EventTarget } from '../../kube/events.js';
import type { Logger } from '../../observability/logger.js';
import { WEBHOOK_DEFAULTS, type WebhookCall, type WebhookNotification, type WebhookPayload, type WebhookResult } from '../decide/hooks.js';
import { LoadTest } from './load-test.js';

/** A gate or rollback hook is asked again this long after its last answer. */
export const WEBHOOK_POLL_MS = 3_000;
/** A failed pre-rollout, rollout or post-rollout call is tried again after 1 s, 2 s, 4 s ..., at most this. */
const MAX_RETRY_BACKOFF_MS = 10_000;
/** A hook's answer is read up to this size (it is only quoted in messages); a larger one is a failed call. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface WebhookRunnerDeps {
  events: EventRecorder;
  logger: Logger;
  /** Reconciles the Rollout again: an answer changed what decide() sees. */
  requeue: (rolloutKey: string) => void;
  pollIntervalMs?: number;
}

/** One call the runner makes for a Rollout, for as long as decide() wants it. */
interface Running {
  call: WebhookCall;
  target: EventTarget;
  abort: AbortController;
  result?: WebhookResult;
  timer?: NodeJS.Timeout;
  load?: LoadTest;
}

/** The answer to one HTTP call, as a result: 2xx passes; anything else, a call past its deadline or an error does not. */
export async function callWebhook(url: string, payload: WebhookPayload, timeoutMs: number, signal?: AbortSignal): Promise<Omit<WebhookResult, 'key'>> {
  const started = Date.now();
  try {
    const response = await sendRequest<string>({
      what: 'the call',
      url,
      method: 'POST',
      data: payload,
      deadlineMs: timeoutMs,
      ...(signal !== undefined && { signal }),
      headers: { 'Content-Type': 'application/json' },
      maxResponseBytes: MAX_ANSWER_BYTES,
      sizeBudget: `a hook answer is read up to ${MAX_ANSWER_BYTES / 1024} KiB`,
      // A redirect is an answer like any other non-2xx: a gate must be opened by the URL it names.
      maxRedirects: 0,
      responseType: 'text',
      transformResponse: (text: unknown) => text,
      validateStatus: () => true,
    });
    const body = String(response.data ?? '').trim().slice(0, 120);
    const passed = response.status >= 200 && response.status < 300;
    return { outcome: passed ? 'passed' : 'failed', message: `HTTP ${response.status}${body && !passed ? `: ${body}` : ''} in ${Date.now() - started}ms` };
  } catch (err) {
    return { outcome: 'failed', message: describeHttpError(err) };
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Makes the webhook calls decide() asks for, in the background: a reconcile never waits on a hook. Answers are
 * kept in memory, read back by the next reconcile as facts, and a changed answer re-enqueues the Rollout. A gate
 * polled every few seconds records an Event when it opens or closes, not at every poll. What must survive a
 * restart (which gate is waited at, whose pre-rollout passed) is in status; after a restart the gates are asked
 * again, and a step's rollout hooks are called again.
 */
export class WebhookRunner {
  private readonly running = new Map<string, Map<string, Running>>();
  /** Event hooks whose last call failed, so a receiver that is down gives one Warning, not one per transition. */
  private readonly failingEventHooks = new Set<string>();

  constructor(private readonly deps: WebhookRunnerDeps) {}

  /** The latest answers for the Rollout's calls, for its facts. */
  results(rolloutKey: string): WebhookResult[] {
    return [...(this.running.get(rolloutKey)?.values() ?? [])].flatMap((run) => (run.result === undefined ? [] : [run.result]));
  }

  /** Starts the wanted calls that are not running, and stops every other one of this Rollout. */
  sync(rollout: Rollout, calls: readonly WebhookCall[]): void {
    const rolloutKey = keyOf(rollout);
    const current = this.running.get(rolloutKey) ?? new Map<string, Running>();
    const wanted = new Set(calls.map((call) => call.key));
    for (const [key, run] of current) {
      if (wanted.has(key)) continue;
      this.cancel(run);
      current.delete(key);
    }
    for (const call of calls) {
      if (current.has(call.key)) continue;
      const run: Running = { call, target: targetOf(rollout), abort: new AbortController() };
      current.set(call.key, run);
      if (call.mode === 'poll') void this.poll(rolloutKey, run);
      else if (call.mode === 'once') void this.once(rolloutKey, run);
      else this.startLoad(run);
    }
    if (current.size > 0) this.running.set(rolloutKey, current);
    else this.running.delete(rolloutKey);
  }

  /** Event and post-rollout calls: made once (post-rollout with its retries), never waited on. */
  notify(rollout: Rollout, notifications: readonly WebhookNotification[]): void {
    const target = targetOf(rollout);
    for (const notification of notifications) void this.deliver(target, notification);
  }

  /** A deleted Rollout: stops its calls and forgets them. */
  forget(rolloutKey: string): void {
    for (const run of this.running.get(rolloutKey)?.values() ?? []) this.cancel(run);
    this.running.delete(rolloutKey);
    for (const key of this.failingEventHooks) if (key.startsWith(`${rolloutKey}/`)) this.failingEventHooks.delete(key);
  }

  stop(): void {
    for (const rolloutKey of [...this.running.keys()]) this.forget(rolloutKey);
  }

  private cancel(run: Running): void {
    run.abort.abort();
    clearTimeout(run.timer);
    run.load?.stop();
  }

  private async poll(rolloutKey: string, run: Running): Promise<void> {
    const { call } = run;
    const answer = await callWebhook(call.hook.url, call.payload, call.timeoutMs, run.abort.signal);
    if (run.abort.signal.aborted) return;
    const changed = run.result?.outcome !== answer.outcome;
    run.result = { key: call.key, ...answer };
    if (changed) {
      const { hook } = call;
      const state =
        hook.type === 'rollback'
          ? answer.outcome === 'passed' ? 'asks for a rollback' : 'does not ask for a rollback'
          : answer.outcome === 'passed' ? 'open' : 'closed';
      await this.record(run.target, answer.outcome === 'passed' && hook.type === 'rollback' ? 'Warning' : 'Normal', 'WebhookAnswered', `webhook ${hook.name} (${hook.type}) ${state}: ${answer.message}`);
      this.deps.requeue(rolloutKey);
    }
    if (run.abort.signal.aborted) return;
    run.timer = setTimeout(() => void this.poll(rolloutKey, run), this.deps.pollIntervalMs ?? WEBHOOK_POLL_MS);
  }

  private async once(rolloutKey: string, run: Running): Promise<void> {
    const answer = await this.withRetries(run.call, run.abort.signal);
    if (run.abort.signal.aborted) return;
    run.result = { key: run.call.key, outcome: answer.outcome, message: answer.message };
    await this.recordOutcome(run.target, run.call, answer);
    this.deps.requeue(rolloutKey);
  }

  private async withRetries(call: WebhookCall | WebhookNotification, signal: AbortSignal): Promise<Omit<WebhookResult, 'key'> & { calls: number }> {
    let calls = 0;
    for (;;) {
      const answer = await callWebhook(call.hook.url, call.payload, call.timeoutMs, signal);
      calls++;
      if (answer.outcome === 'passed' || calls > call.retries || signal.aborted) return { ...answer, calls };
      this.deps.logger.info('webhook call failed; retrying', { webhook: call.hook.name, type: call.hook.type, answer: answer.message, calls });
      await sleep(Math.min(MAX_RETRY_BACKOFF_MS, 1000 * 2 ** (calls - 1)), signal);
    }
  }

  private async recordOutcome(target: EventTarget, call: WebhookCall | WebhookNotification, answer: Omit<WebhookResult, 'key'> & { calls: number }): Promise<void> {
    const { hook } = call;
    const tries = answer.calls === 1 ? '' : ` after ${answer.calls} calls`;
    const passed = answer.outcome === 'passed';
    await this.record(target, passed ? 'Normal' : 'Warning', passed ? 'WebhookPassed' : 'WebhookFailed', `webhook ${hook.name} (${hook.type}) ${passed ? 'passed' : 'failed'}${tries}: ${answer.message}`);
  }

  private startLoad(run: Running): void {
    const { hook, timeoutMs } = run.call;
    const rps = Math.min(Number(hook.metadata?.rps ?? WEBHOOK_DEFAULTS.loadTestRps), LOAD_TEST_MAX_RPS);
    const durationMs = hook.metadata?.duration === undefined ? WEBHOOK_DEFAULTS.loadTestDurationMs : parseDuration(hook.metadata.duration);
    run.load = new LoadTest({ url: hook.url, rps, durationMs, timeoutMs }, (summary) => {
      const why = summary.lastError === undefined ? '' : `; the last failure: ${summary.lastError}`;
      void this.record(
        run.target,
        'Normal',
        'LoadTestEnded',
        `load-test ${hook.name} ${summary.ended === 'duration' ? 'ran its duration' : 'stopped with its step'}: ${summary.sent} requests, ${summary.errors} failed, ${summary.skipped} skipped (a slow answer held them)${why}`,
      );
    });
    void this.record(run.target, 'Normal', 'LoadTestStarted', `load-test ${hook.name}: ${rps} requests a second to ${hook.url} for at most ${durationMs / 1000}s`);
    run.load.start();
  }

  private async deliver(target: EventTarget, notification: WebhookNotification): Promise<void> {
    const signal = new AbortController().signal;
    const answer = await this.withRetries(notification, signal);
    const { hook } = notification;
    if (hook.type === 'post-rollout') return this.recordOutcome(target, notification, answer);
    // Event hooks: fire and forget; say so once when a receiver starts failing and once when it recovers.
    const key = `${target.namespace}/${target.name}/${hook.name}`;
    const failing = answer.outcome === 'failed';
    if (failing === this.failingEventHooks.has(key)) return;
    if (failing) this.failingEventHooks.add(key);
    else this.failingEventHooks.delete(key);
    this.deps.logger.warn('event webhook', { namespace: target.namespace, name: target.name, webhook: hook.name, answer: answer.message });
    await this.record(target, failing ? 'Warning' : 'Normal', failing ? 'WebhookFailed' : 'WebhookPassed', `webhook ${hook.name} (event) ${failing ? 'fails' : 'answers again'}: ${answer.message}`);
  }

  private async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.deps.logger.info('webhook', { namespace: target.namespace, name: target.name, reason, message });
    await this.deps.events.record(target, type, reason, message);
  }
}

function keyOf(rollout: Rollout): string {
  return `${rollout.metadata.namespace ?? 'default'}/${rollout.metadata.name ?? ''}`;
}

function targetOf(rollout: Rollout): EventTarget {
  return { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', namespace: rollout.metadata.namespace ?? 'default', uid: rollout.metadata.uid };
}
