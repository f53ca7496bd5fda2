import { parseDuration } from '../../api/duration.js';
import type { CanaryStep, CanaryWebhook } from '../../api/rollout.js';
import type { Announcement } from './machine.js';
import { webhookHash } from './revision.js';
import type { Stage } from './stage.js';
import type { GateType } from './gates.js';

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 10_000,
  maxTimeoutMs: 5 * 60_000,
  retries: 2,
  loadTestRps: 10,
  loadTestDurationMs: 10 * 60_000,
} as const;

/**
 * The step a canary's pods and traffic are planned at. At a gate, the step before it: the gate holds what comes
 * next. Past the last step (a confirm-promotion gate, or an analysis hold while waiting at it), the last step:
 * nothing is promoted before the gate opens.
 */
export function plannedStepIndex(stage: Stage, context: { stepIndex: number; steps: readonly CanaryStep[] }): number {
  if (stage === 'stable' || stage === 'aborted') return context.stepIndex;
  return stage === 'gated' || context.stepIndex >= context.steps.length ? context.stepIndex - 1 : context.stepIndex;
}

/** Flagger's canary phase names, which hook receivers already understand. */
export type HookPhase = 'Waiting' | 'Progressing' | 'WaitingPromotion' | 'Succeeded' | 'Failed';

/** The body of every call, in Flagger's shape: the revision is Flagger's checksum. */
export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: HookPhase;
  checksum: string;
  metadata: Record<string, string>;
}

/**
 * How the shell runs a call: `poll` (gates, rollback) calls again every few seconds for as long as it is wanted,
 * `once` (pre-rollout, rollout) calls until a 2xx or its retries are spent, `load` sends load-test traffic.
 */
export type CallMode = 'poll' | 'once' | 'load';

export interface WebhookCall {
  /** Names the call and the position it is for: a result is only ever read back for the same key. */
  key: string;
  hook: CanaryWebhook;
  mode: CallMode;
  payload: WebhookPayload;
  timeoutMs: number;
  /** Calls after a failed one (`once`). */
  retries: number;
}

/** A call that is only made, never waited on: event and post-rollout hooks. */
export interface WebhookNotification {
  hook: CanaryWebhook;
  payload: WebhookPayload;
  timeoutMs: number;
  retries: number;
}

/**
 * What the shell last learned from a call. For a gate or rollback: `passed` while its latest answer was 2xx,
 * `failed` while it was anything else. For a `once` call: its final outcome.
 */
export interface WebhookResult {
  key: string;
  outcome: 'passed' | 'failed';
  /** The answer, for messages: `HTTP 403: not approved`, `timeout after 10s`. */
  message: string;
}

export function hookTimeoutMs(hook: CanaryWebhook): number {
  return hook.timeout === undefined ? WEBHOOK_DEFAULTS.timeoutMs : Math.min(parseDuration(hook.timeout), WEBHOOK_DEFAULTS.maxTimeoutMs);
}

/** Where a call is made, as far as its key goes: a gate's answer for one step never opens another. */
interface CallPosition {
  revision: string;
  attempt: number;
  stepIndex: number;
}

export function callKey(hook: CanaryWebhook, position: CallPosition): string {
  const step = hook.type === 'rollback' || hook.type === 'load-test' ? '*' : String(position.stepIndex);
  return `${hook.type}/${hook.name}/${webhookHash(hook)}/${position.revision}/${position.attempt}/${step}`;
}

export function hookPhase(stage: Stage, gate: GateType | undefined): HookPhase {
  if (stage === 'stable') return 'Succeeded';
  if (stage === 'aborted') return 'Failed';
  if (stage === 'gated' && gate === 'confirm-rollout') return 'Waiting';
  if (stage === 'gated' && gate === 'confirm-promotion') return 'WaitingPromotion';
  return 'Progressing';
}

export interface HookPlanInput {
  hooks: readonly CanaryWebhook[];
  stage: Stage;
  gate: GateType | undefined;
  rollout: { name: string; namespace: string };
  revision: string;
  attempt: number;
  stepIndex: number;
}

const STEP_STAGES: ReadonlySet<Stage> = new Set(['weighting', 'timedPause', 'indefinitePause', 'analyzing', 'experimenting', 'inconclusive']);

function callOf(hook: CanaryWebhook, input: HookPlanInput, mode: CallMode): WebhookCall {
  return {
    key: callKey(hook, input),
    hook,
    mode,
    payload: payloadOf(hook, input, hookPhase(input.stage, input.gate)),
    timeoutMs: hookTimeoutMs(hook),
    retries: mode === 'once' ? (hook.retries ?? WEBHOOK_DEFAULTS.retries) : 0,
  };
}

function payloadOf(hook: CanaryWebhook, input: Pick<HookPlanInput, 'rollout' | 'revision'>, phase: HookPhase, extra: Record<string, string> = {}): WebhookPayload {
  return { name: input.rollout.name, namespace: input.rollout.namespace, phase, checksum: input.revision, metadata: { ...hook.metadata, ...extra } };
}

/**
 * The calls wanted at this position: the gate waited at, the rollout hooks of the current step, and the rollback
 * hooks and load tests for as long as the canary runs with pods (past its first gates). Anything not listed is
 * stopped by the shell, so leaving a position ends its calls.
 */
export function wantedCalls(input: HookPlanInput): WebhookCall[] {
  const { stage, gate } = input;
  if (stage === 'stable' || stage === 'aborted') return [];
  const calls: WebhookCall[] = [];
  const startedWithPods = stage !== 'gated' || input.stepIndex > 0;
  for (const hook of input.hooks) {
    if (stage === 'gated' && hook.type === gate) calls.push(callOf(hook, input, gate === 'pre-rollout' ? 'once' : 'poll'));
    if (hook.type === 'rollout' && STEP_STAGES.has(stage)) calls.push(callOf(hook, input, 'once'));
    if (hook.type === 'rollback') calls.push(callOf(hook, input, 'poll'));
    if (hook.type === 'load-test' && startedWithPods) calls.push(callOf(hook, input, 'load'));
  }
  return calls;
}

/** What the results of some calls add up to: all passed, one failed (the first, for the reason), or still waiting. */
export type Verdict = { kind: 'passed' } | { kind: 'failed'; hook: CanaryWebhook; message: string } | { kind: 'waiting'; pending: WebhookCall[]; closed: { hook: CanaryWebhook; message: string }[] };

export function verdictOf(calls: readonly WebhookCall[], results: ReadonlyMap<string, WebhookResult>): Verdict {
  const pending: WebhookCall[] = [];
  const closed: { hook: CanaryWebhook; message: string }[] = [];
  for (const call of calls) {
    const result = results.get(call.key);
    if (result === undefined) pending.push(call);
    else if (result.outcome === 'failed') {
      if (call.mode === 'once') return { kind: 'failed', hook: call.hook, message: result.message };
      closed.push({ hook: call.hook, message: result.message });
    }
  }
  return pending.length === 0 && closed.length === 0 ? { kind: 'passed' } : { kind: 'waiting', pending, closed };
}

/** The event hooks' calls for the Events a reconcile announces, and post-rollout's at promotion or abort. */
export function notificationsFor(
  hooks: readonly CanaryWebhook[],
  announcements: readonly Announcement[],
  context: { rollout: { name: string; namespace: string }; revision: string; phase: HookPhase; now: number },
): WebhookNotification[] {
  const notifications: WebhookNotification[] = [];
  const make = (hook: CanaryWebhook, phase: HookPhase, extra: Record<string, string> = {}): WebhookNotification => ({
    hook,
    payload: payloadOf(hook, context, phase, extra),
    timeoutMs: hookTimeoutMs(hook),
    retries: hook.type === 'post-rollout' ? (hook.retries ?? WEBHOOK_DEFAULTS.retries) : 0,
  });
  for (const announcement of announcements) {
    for (const hook of hooks.filter((candidate) => candidate.type === 'event')) {
      notifications.push(
        make(hook, context.phase, {
          eventReason: announcement.reason,
          eventType: announcement.type,
          eventMessage: announcement.message,
          timestamp: String(context.now),
        }),
      );
    }
    const ended = announcement.reason === 'RolloutCompleted' ? 'Succeeded' : announcement.reason === 'RolloutAborted' ? 'Failed' : undefined;
    if (ended === undefined) continue;
    for (const hook of hooks.filter((candidate) => candidate.type === 'post-rollout')) notifications.push(make(hook, ended));
  }
  return notifications;
}

/** "hook approve (HTTP 403: not yet)" for messages. */
export function describeClosed(closed: readonly { hook: CanaryWebhook; message: string }[], pending: readonly WebhookCall[]): string {
  return [...closed.map(({ hook, message }) => `${hook.name} closed (${message})`), ...pending.map((call) => `${call.hook.name} not answered yet`)].join(', ');
}
