import type { StateValue } from 'xstate';
import type { RolloutSettings } from './defaults.js';
import type { RolloutFacts } from './facts.js';
import type { RolloutStatus } from '../../api/rollout.js';
import { findCondition } from '../../api/conditions.js';
import type { GateType } from './gates.js';
import { rolloutMachine, type RolloutContext, type RolloutSnapshot } from './machine.js';
import { isAnalysis, isExperiment, isIndefinitePause, isTimedPause } from './steps.js';
import { parseTimestamp } from '../../api/time.js';

export const ABORTED_REASON = 'RolloutAborted';
/** Paused condition reason while analysis holds the rollout; its message is the hold reason. */
export const HOLD_REASON = 'AnalysisHold';

/**
 * When status names no stable revision but the Rollout owns ReplicaSets of other revisions (status
 * lost, or adopted), the newest one still running is what serves traffic: treat it as stable
 * rather than cutting over to the new template without steps.
 */
export function inferStableRevision(facts: RolloutFacts): string | undefined {
  const running = facts.replicaSets
    .filter((rs) => rs.revision !== facts.currentRevision && rs.replicas > 0)
    .sort((a, b) => b.revisionNumber - a.revisionNumber || b.createdAt - a.createdAt);
  return running[0]?.revision;
}

/** The machine's context as status, spec and the clock describe it. */
export function restoreContext(facts: RolloutFacts, settings: RolloutSettings): RolloutContext {
  const status = facts.rollout.status ?? {};
  const stableRevision = status.stableRevision ?? inferStableRevision(facts);
  const currentRevision = status.currentRevision ?? stableRevision;
  const stepIndex = Math.min(Math.max(status.currentStepIndex ?? 0, 0), settings.steps.length);
  const aborted = findCondition(status.conditions, 'Progressing');
  const held = findCondition(status.conditions, 'Paused');
  const waiting = status.webhooks?.waitingFor;
  return {
    now: facts.now,
    steps: settings.steps,
    specPaused: settings.paused,
    progressDeadlineAbort: settings.progressDeadlineAbort,
    stableRevision,
    currentRevision,
    stepIndex: currentRevision === stableRevision ? settings.steps.length : stepIndex,
    pauseStartTime: parseTimestamp(status.pauseStartTime),
    abortedAt: parseTimestamp(status.abortedAt),
    abortReason: aborted?.reason === ABORTED_REASON ? aborted.message : undefined,
    holdReason: held?.reason === HOLD_REASON && held.status === 'True' ? held.message : undefined,
    attempt: status.attempt ?? 0,
    hookTypes: (facts.rollout.spec.strategy.canary.webhooks ?? []).map((hook) => hook.type),
    // A wait recorded for another step (the steps were edited) is no wait here.
    gate: waiting !== undefined && waiting.step === stepIndex ? gateTypeOf(waiting.type) : undefined,
    gateSince: waiting !== undefined && waiting.step === stepIndex ? parseTimestamp(waiting.since) : undefined,
    preRolloutPassed: status.webhooks?.preRolloutPassed,
    experiment: experimentClockOf(status, settings, stepIndex),
  };
}

/** The experiment clock status records, when it is for the experiment step at `stepIndex`. */
function experimentClockOf(status: RolloutStatus, settings: RolloutSettings, stepIndex: number): RolloutContext['experiment'] {
  const recorded = status.experiment;
  const startedAt = parseTimestamp(recorded?.startedAt);
  if (recorded?.step !== stepIndex || !isExperiment(settings.steps[stepIndex]) || startedAt === undefined) return undefined;
  return { startedAt, availableAt: parseTimestamp(recorded.availableAt) };
}

/**
 * The state the status describes. An abort counts only once acknowledged (abortedAt set), so a
 * fresh `status.abort: true` is still a request the machine has to see as an event; likewise a
 * missing pauseStartTime on a pause step means the pause was never entered, which the transient
 * `route` state does on the first event.
 */
export function restoreStateValue(context: RolloutContext): StateValue {
  if (context.stableRevision === undefined) return 'new';
  if (context.currentRevision === context.stableRevision) return 'stable';
  if (context.abortedAt !== undefined) return 'aborted';
  const step = context.steps[context.stepIndex];
  const paused = context.pauseStartTime !== undefined;
  if (context.gate !== undefined && context.gateSince !== undefined) return { canary: 'gated' };
  // An analysis hold can happen at any step (background analysis), so it is checked before the step's kind.
  if (paused && context.holdReason !== undefined) return { canary: 'inconclusive' };
  if (step === undefined) return { canary: 'route' };
  if (isTimedPause(step)) return { canary: paused ? 'timedPause' : 'route' };
  if (isIndefinitePause(step)) return { canary: paused ? 'indefinitePause' : 'route' };
  if (isAnalysis(step)) return { canary: paused ? 'inconclusive' : 'analyzing' };
  // Without its clock the experiment was never started (or status was lost): `route` starts it.
  if (isExperiment(step)) return { canary: context.experiment === undefined ? 'route' : 'experimenting' };
  return { canary: 'weighting' };
}

function gateTypeOf(type: string): GateType | undefined {
  return type === 'confirm-rollout' || type === 'pre-rollout' || type === 'confirm-traffic-increase' || type === 'confirm-promotion' ? type : undefined;
}

export function restoreSnapshot(facts: RolloutFacts, settings: RolloutSettings): RolloutSnapshot {
  const context = restoreContext(facts, settings);
  return rolloutMachine.resolveState({ value: restoreStateValue(context), context });
}
