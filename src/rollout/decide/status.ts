import { isDeepStrictEqual } from 'node:util';
import type { Condition } from '../../api/meta.js';
import type { DesiredAnalysisRun } from './analysis-runs.js';
import type { RolloutPhase, RolloutStatus } from '../../api/rollout.js';
import { setCondition, setConditions, type DesiredCondition } from '../../api/conditions.js';
import type { RolloutSettings } from './defaults.js';
import type { RolloutFacts } from './facts.js';
import type { RolloutContext } from './machine.js';
import type { ScalingLimits } from './replicas.js';
import { ABORTED_REASON, HOLD_REASON } from './restore.js';
import { formatLabelSelector } from './selector.js';
import { isPauseStage, type Stage } from './stage.js';
import { pauseDeadline, setWeightAt, stepOrdinal, stepProgress } from './steps.js';
import { toTimestamp } from '../../api/time.js';
import { plannedStepIndex } from './hooks.js';
import type { TrafficTarget } from '../../traffic/types.js';
import { describeExperiment, experimentAt } from './experiment.js';

export const DEADLINE_REASON = 'ProgressDeadlineExceeded';
/** Progressing condition reason (and Event) while the analysis a step needs names a template that does not exist. */
export const TEMPLATE_MISSING_REASON = 'AnalysisTemplateMissing';

/** Pod counts summed over owned ReplicaSets, as the scale subresource and kubectl show them. */
export interface ObservedCounts {
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
}

export function observedCounts(facts: RolloutFacts): ObservedCounts {
  const sum = (pick: (rs: RolloutFacts['replicaSets'][number]) => number): number =>
    facts.replicaSets.reduce((total, rs) => total + pick(rs), 0);
  return {
    replicas: sum((rs) => rs.replicas),
    updatedReplicas: sum((rs) => (rs.revision === facts.currentRevision ? rs.replicas : 0)),
    readyReplicas: sum((rs) => rs.readyReplicas),
    availableReplicas: sum((rs) => rs.availableReplicas),
  };
}

/** The current revision's share of available pods: without a router, its share of traffic. */
export function actualWeight(facts: RolloutFacts, currentRevision: string): number {
  const total = facts.replicaSets.reduce((sum, rs) => sum + rs.availableReplicas, 0);
  if (total === 0) return 0;
  const current = facts.replicaSets.find((rs) => rs.revision === currentRevision)?.availableReplicas ?? 0;
  return Math.round((100 * current) / total);
}

export interface StatusInput {
  facts: RolloutFacts;
  settings: RolloutSettings;
  limits: ScalingLimits;
  context: RolloutContext;
  stage: Stage;
  /** Stable stage with every pod of the stable revision available and nothing else left. */
  converged: boolean;
  /** The current revision's ReplicaSet is created this reconcile. */
  creating: boolean;
  /** Pods the step wants: canary and stable, for the message. */
  stepCounts: { canary: number; stable: number } | undefined;
  /** pingPong: the swap after a promotion is still pending, and the canary's steps wait for it. */
  swapPending: boolean;
  progressStartTime: number | undefined;
  deadlineExceeded: boolean;
  analysisRuns: DesiredAnalysisRun[];
  stepsHash: string;
  /** Templates the current position needs that do not exist: the rollout waits for them until its progress deadline. */
  missingTemplates: string[];
  /** With a router: what it should make true, and whether it reports that in effect. */
  traffic?: { target: TrafficTarget; inEffect: boolean };
  /** At a gate: which of its hooks hold it and what they answered. */
  gateWait?: string | undefined;
}

/** Paused condition reason while a confirm-* gate holds the canary. */
export const GATE_REASON = 'WebhookGate';

/** A confirm-* gate waits for an outside approval, as a pause waits for a person; pre-rollout is a call in progress. */
function heldByGate(input: StatusInput): boolean {
  return input.stage === 'gated' && input.context.gate !== 'pre-rollout';
}

export function rolloutPhase(input: StatusInput): RolloutPhase {
  const { stage, context } = input;
  if (stage === 'aborted' || input.deadlineExceeded) return 'Degraded';
  if (context.specPaused) return 'Paused';
  // Waiting for a template is no pause: the progress deadline runs.
  if (input.missingTemplates.length > 0) return 'Progressing';
  if (isPauseStage(stage) || heldByGate(input)) return 'Paused';
  if (stage === 'stable' && input.converged) return 'Healthy';
  return 'Progressing';
}

function availableOf(facts: RolloutFacts, revision: string | undefined): number {
  return facts.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
}

/** One sentence a person reads in `kubectl get`: where the rollout is and what it waits for. */
export function rolloutMessage(input: StatusInput): string {
  const { facts, settings, context, stage } = input;
  const weight = setWeightAt(context.steps, plannedStepIndex(stage, context));
  const at = stepOrdinal(context.stepIndex, context.steps.length);
  if (stage === 'aborted') return `aborted: ${context.abortReason ?? 'by request'}`;
  if (input.deadlineExceeded) {
    const what = stage === 'stable' ? `rolling out revision ${context.currentRevision}` : `canary at ${at}`;
    return `progress deadline exceeded: ${what} made no progress for ${settings.progressDeadlineMs / 1000}s`;
  }
  if (context.specPaused) {
    return stage === 'stable' ? 'paused by spec.paused' : `paused by spec.paused at ${at}, canary at ${weight}%`;
  }
  if (input.missingTemplates.length > 0) {
    const deadline = (input.progressStartTime ?? facts.now) + settings.progressDeadlineMs;
    return `canary at ${weight}%, waiting at ${at} for ${input.missingTemplates.join(', ')}, which does not exist; aborting at ${toTimestamp(deadline)} unless it appears`;
  }
  switch (stage) {
    case 'timedPause': {
      const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime ?? facts.now) ?? facts.now;
      return `canary at ${weight}%, pausing until ${toTimestamp(deadline)}`;
    }
    case 'indefinitePause':
      return `canary at ${weight}%, paused at ${at} until promoted`;
    case 'inconclusive':
      return `${context.holdReason ?? `analysis hold at ${at}`}: promote to continue or abort`;
    case 'analyzing':
      return `canary at ${weight}%, waiting for analysis at ${at}`;
    case 'experimenting': {
      const experiment = experimentAt(facts.rollout.metadata.name ?? '', context);
      return `canary at ${weight}%, experiment at ${at}: ${experiment === undefined ? 'starting' : describeExperiment(experiment, facts.experimentReplicaSets ?? [], facts.now)}`;
    }
    case 'gated': {
      const before = context.stepIndex >= context.steps.length ? 'promotion' : at;
      return `canary at ${weight}%, waiting before ${before} for ${context.gate} webhooks: ${input.gateWait ?? 'passed'}`;
    }
    case 'weighting': {
      if (input.swapPending) return `canary waits at ${at} for ping and pong to swap after revision ${context.stableRevision} was promoted: all traffic first goes to the side that selects it`;
      const counts = input.stepCounts ?? { canary: 0, stable: 0 };
      const canary = availableOf(facts, context.currentRevision);
      const stable = availableOf(facts, context.stableRevision);
      return `moving canary to ${weight}% at ${at}: ${canary}/${counts.canary} canary and ${stable}/${counts.stable} stable pods available`;
    }
    case 'stable': {
      const available = availableOf(facts, context.stableRevision);
      if (input.converged) return `revision ${context.stableRevision} is healthy: ${available}/${settings.replicas} pods available`;
      if (input.traffic !== undefined && !input.traffic.inEffect && available >= settings.replicas) {
        const why = facts.traffic?.problem ?? `waiting for the router to put ${input.traffic.target.canaryWeight}% of traffic on the canary`;
        return `revision ${context.stableRevision} is available; ${why}`;
      }
      if (available >= settings.replicas) return `revision ${context.stableRevision} is available; scaling down older revisions`;
      return `rolling out revision ${context.stableRevision}: ${available}/${settings.replicas} pods available`;
    }
  }
}

function pausedCondition(input: StatusInput): DesiredCondition {
  const { stage, context } = input;
  const at = stepOrdinal(context.stepIndex, context.steps.length);
  if (stage === 'inconclusive') return { type: 'Paused', status: 'True', reason: HOLD_REASON, message: context.holdReason ?? `analysis hold at ${at}` };
  if (heldByGate(input)) return { type: 'Paused', status: 'True', reason: GATE_REASON, message: rolloutMessage(input) };
  if (context.specPaused) return { type: 'Paused', status: 'True', reason: 'SpecPaused', message: 'spec.paused is true' };
  if (stage === 'timedPause' || stage === 'indefinitePause') return { type: 'Paused', status: 'True', reason: 'PauseStep', message: `pause at ${at}` };
  return { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'not paused' };
}

function progressingCondition(input: StatusInput, phase: RolloutPhase, message: string): DesiredCondition {
  const { stage, context } = input;
  if (stage === 'aborted') return { type: 'Progressing', status: 'False', reason: ABORTED_REASON, message: context.abortReason ?? 'aborted' };
  if (input.deadlineExceeded) return { type: 'Progressing', status: 'False', reason: DEADLINE_REASON, message };
  // Unknown, as Deployments and Argo report a paused rollout: neither moving nor failed.
  if (phase === 'Paused') return { type: 'Progressing', status: 'Unknown', reason: 'RolloutPaused', message };
  if (input.missingTemplates.length > 0) return { type: 'Progressing', status: 'True', reason: TEMPLATE_MISSING_REASON, message };
  if (phase === 'Healthy') return { type: 'Progressing', status: 'True', reason: 'RolloutCompleted', message: `revision ${context.stableRevision} is fully rolled out` };
  if (input.creating) return { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: `creating a ReplicaSet for revision ${context.currentRevision}` };
  return { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message };
}

/**
 * Available counts every owned pod, canary included, against replicas - maxUnavailable: mid-canary
 * the stable ReplicaSet alone is smaller by design, and the service is still whole.
 */
function availableCondition(input: StatusInput, available: number): DesiredCondition {
  const minimum = Math.max(0, input.settings.replicas - input.limits.maxUnavailable);
  return available >= minimum
    ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: `${available} pods available, minimum ${minimum}` }
    : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: `${available} pods available, minimum ${minimum}` };
}

function readyCondition(phase: RolloutPhase, message: string): DesiredCondition {
  return phase === 'Healthy'
    ? { type: 'Ready', status: 'True', reason: 'RolloutHealthy', message }
    : { type: 'Ready', status: 'False', reason: `Rollout${phase}`, message };
}

function progressingReason(input: StatusInput): string {
  if (input.stage === 'aborted') return ABORTED_REASON;
  return input.deadlineExceeded ? DEADLINE_REASON : 'RolloutProgressing';
}

/**
 * The abnormal-true pair kstatus (Flux, kubectl wait) reads: Reconciling while pods move and while paused (a paused
 * canary is not done, so whatever reads only this pair keeps waiting), Stalled once aborted or past the progress
 * deadline, which kstatus reports as Failed instead of waiting forever.
 */
function kstatusConditions(phase: RolloutPhase, message: string, reason: string): DesiredCondition[] {
  const moving = phase === 'Progressing' || phase === 'Paused';
  return [
    moving
      ? { type: 'Reconciling', status: 'True', reason: phase === 'Paused' ? 'RolloutPaused' : reason, message }
      : { type: 'Reconciling', status: 'False', reason: `Rollout${phase}`, message },
    phase === 'Degraded'
      ? { type: 'Stalled', status: 'True', reason, message }
      : { type: 'Stalled', status: 'False', reason: `Rollout${phase}`, message },
  ];
}

/** With a router, the weight it reports in effect; while it cannot say, the last one it did. */
function trafficWeight(facts: RolloutFacts): number {
  return facts.traffic?.canaryWeight ?? facts.rollout.status?.actualWeight ?? 0;
}

export const TRAFFIC_CONDITION = 'TrafficRouting';
export const TRAFFIC_ERROR_REASON = 'TrafficRoutingError';

/** Whether the router has made the traffic split what this position asks for, and if not, why. */
function trafficCondition(input: StatusInput, traffic: { target: TrafficTarget; inEffect: boolean }): DesiredCondition {
  const observed = input.facts.traffic;
  const wanted = `${traffic.target.canaryWeight}% of traffic on the canary`;
  if (observed?.problem !== undefined) return { type: TRAFFIC_CONDITION, status: 'False', reason: TRAFFIC_ERROR_REASON, message: observed.problem };
  if (traffic.inEffect) return { type: TRAFFIC_CONDITION, status: 'True', reason: 'TrafficInEffect', message: wanted };
  const now = observed?.canaryWeight === undefined ? 'not yet taken up by the data plane' : `${observed.canaryWeight}% in effect`;
  return { type: TRAFFIC_CONDITION, status: 'False', reason: 'TrafficPending', message: `asking for ${wanted}; ${now}` };
}

/**
 * The status with a router's refusal of what was asked: TrafficRouting False, its lastTransitionTime kept when it
 * already was False (or every retry would rewrite status).
 */
export function withTrafficRefused(status: RolloutStatus, problem: string, now: number): RolloutStatus {
  const desired = { type: TRAFFIC_CONDITION, status: 'False' as const, reason: TRAFFIC_ERROR_REASON, message: problem };
  return { ...status, conditions: setCondition(status.conditions ?? [], desired, now, status.observedGeneration) };
}

/** The last write-back to Git after an abort, as a condition `kubectl describe` and the plugin show. */
function writeBackCondition(record: RolloutStatus['writeBack']): DesiredCondition[] {
  if (record === undefined) return [];
  const message = record.message ?? record.outcome;
  return record.outcome === 'Failed'
    ? [{ type: 'GitWriteBack', status: 'False', reason: 'GitWriteBackFailed', message }]
    : [{ type: 'GitWriteBack', status: 'True', reason: record.outcome === 'Committed' ? 'GitWriteBackCommitted' : 'GitWriteBackUnchanged', message }];
}

/** Conditions this controller replaced or no longer sets; others' conditions pass through. */
const RETIRED_CONDITIONS = new Set(['InvalidSpec']);

/** The complete status this reconcile wants; keys it leaves out are to be removed. */
export function composeStatus(input: StatusInput): RolloutStatus {
  const { facts, settings, context, stage } = input;
  const generation = facts.rollout.metadata.generation;
  const counts = observedCounts(facts);
  const phase = rolloutPhase(input);
  const message = rolloutMessage(input);
  // A Rollout that no longer routes loses its TrafficRouting condition with the router.
  const previous: Condition[] = (facts.rollout.status?.conditions ?? []).filter(
    (c) => !RETIRED_CONDITIONS.has(c.type) && (input.traffic !== undefined || c.type !== TRAFFIC_CONDITION),
  );
  const conditions = setConditions(
    previous,
    [
      progressingCondition(input, phase, message),
      availableCondition(input, counts.availableReplicas),
      pausedCondition(input),
      readyCondition(phase, message),
      ...kstatusConditions(phase, message, progressingReason(input)),
      ...(input.traffic !== undefined ? [trafficCondition(input, input.traffic)] : []),
      ...writeBackCondition(facts.rollout.status?.writeBack),
    ],
    facts.now,
    generation,
  );
  const completedSteps = stage === 'stable' ? settings.steps.length : context.stepIndex;
  const currentRevision = context.currentRevision ?? facts.currentRevision;
  const status: RolloutStatus = {
    observedGeneration: generation,
    phase,
    message,
    stableRevision: context.stableRevision,
    currentRevision,
    currentStepIndex: completedSteps,
    stepsHash: input.stepsHash,
    stepProgress: stepProgress(completedSteps, settings.steps.length),
    canaryWeight: stage === 'aborted' ? 0 : stage === 'stable' ? 100 : setWeightAt(context.steps, plannedStepIndex(stage, context)),
    actualWeight: input.traffic !== undefined ? trafficWeight(facts) : actualWeight(facts, currentRevision),
    pauseStartTime: isPauseStage(stage) && context.pauseStartTime !== undefined ? toTimestamp(context.pauseStartTime) : undefined,
    abort: stage === 'aborted' ? true : undefined,
    abortedAt: stage === 'aborted' && context.abortedAt !== undefined ? toTimestamp(context.abortedAt) : undefined,
    progressStartTime: input.progressStartTime !== undefined ? toTimestamp(input.progressStartTime) : undefined,
    restartedAt: facts.rollout.status?.restartedAt,
    // Written by the write-back after an abort, not by this plan: carried over so the merge patch keeps it.
    writeBack: facts.rollout.status?.writeBack,
    attempt: context.attempt > 0 ? context.attempt : undefined,
    webhooks: webhookStatus(input),
    experiment: experimentStatus(context),
    stepAnalysisRun: input.analysisRuns.find((run) => run.kind === 'step')?.name,
    backgroundAnalysisRun: input.analysisRuns.find((run) => run.kind === 'background')?.name,
    ...counts,
    selector: formatLabelSelector(facts.rollout.spec.selector),
    conditions,
  };
  return withoutUndefined(status);
}

/** The experiment step's clock, which a restart must not reset. */
function experimentStatus({ experiment, stepIndex }: RolloutContext): RolloutStatus['experiment'] {
  if (experiment === undefined) return undefined;
  return { step: stepIndex, startedAt: toTimestamp(experiment.startedAt), ...(experiment.availableAt !== undefined && { availableAt: toTimestamp(experiment.availableAt) }) };
}

/** What a restart must not forget about webhooks: the gate waited at, and whose pre-rollout passed. */
function webhookStatus({ stage, context }: StatusInput): RolloutStatus['webhooks'] {
  const waitingFor =
    stage === 'gated' && context.gate !== undefined
      ? { type: context.gate, step: context.stepIndex, since: toTimestamp(context.gateSince ?? context.now) }
      : undefined;
  const preRolloutPassed = stage !== 'stable' && context.preRolloutPassed === context.currentRevision ? context.preRolloutPassed : undefined;
  if (waitingFor === undefined && preRolloutPassed === undefined) return undefined;
  return withoutUndefined({ waitingFor, preRolloutPassed });
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** Status fields that report what the caches show (pod counts, the weight they make, the words) and decide nothing. */
const OBSERVED_FIELDS: ReadonlySet<string> = new Set(['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'actualWeight', 'message', 'progressStartTime']);

/**
 * How `next` differs from `previous`: not at all; only in what it observes (the fields above, and conditions that
 * keep their type and status while a reason or message moves); or in something decided (a phase, step, revision,
 * abort, a condition turning True or False). An observed-only change may wait (statusWriteDue says how long): the
 * next reconcile computes all of it again from the caches, and nothing decided depends on it being written.
 */
export function statusChange(previous: RolloutStatus, next: RolloutStatus): 'none' | 'observed' | 'decided' {
  let observed = false;
  const prev = previous as Record<string, unknown>;
  const want = next as Record<string, unknown>;
  for (const key of new Set([...Object.keys(prev), ...Object.keys(want)])) {
    if (isDeepStrictEqual(prev[key], want[key])) continue;
    if (key === 'conditions') {
      const statuses = (conditions: Condition[] | undefined): Map<string, string> => new Map((conditions ?? []).map((c) => [c.type, c.status]));
      if (!isDeepStrictEqual(statuses(previous.conditions), statuses(next.conditions))) return 'decided';
    } else if (!OBSERVED_FIELDS.has(key)) {
      return 'decided';
    }
    observed = true;
  }
  return observed ? 'observed' : 'none';
}
