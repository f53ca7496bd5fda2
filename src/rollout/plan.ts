import { transition } from 'xstate';
import type { RolloutStatus } from '../api/rollout.js';
import { findCondition } from './conditions.js';
import { resolveSettings, type RolloutSettings } from './defaults.js';
import { desiredAnalysisRuns, missingTemplatesOf, type DesiredAnalysisRun } from './analysis-runs.js';
import type { AnalysisRunFacts, RolloutFacts } from './facts.js';
import { replicaSetsToPrune } from './history.js';
import { rolloutMachine, type Announcement, type RolloutEvent, type RolloutSnapshot } from './machine.js';
import {
  canaryStepCounts,
  idealCounts,
  isAtCounts,
  planReplicaSets,
  scalingLimits,
  type ReplicaMode,
  type ReplicaSetTarget,
} from './replicas.js';
import { restoreSnapshot } from './restore.js';
import { isPauseStage, stageOf, type Stage } from './stage.js';
import { composeStatus, DEADLINE_REASON, observedCounts, TEMPLATE_MISSING_REASON, type ObservedCounts } from './status.js';
import { stepsHash } from './revision.js';
import { desiredServices, type ServiceTarget } from './services.js';
import { pauseDeadline } from './steps.js';

export interface RolloutPlan {
  /** The complete desired status (the shell merge-patches it, and only writes when it differs). */
  status: RolloutStatus;
  replicaSets: ReplicaSetTarget[];
  /** Names, history pruning. */
  deleteReplicaSets: string[];
  events: Announcement[];
  /** For pause deadlines, scale-down delays, the progress deadline. */
  requeueAfterMs?: number;
  /** AnalysisRuns that should exist now; runs of this Rollout not listed here are to be terminated. */
  analysisRuns: DesiredAnalysisRun[];
  /** What the stable and canary Services should select. */
  services: ServiceTarget[];
}

/** Which revision gets how many pods, by stage. */
export function replicaModeOf(
  stage: Stage,
  context: { stableRevision: string | undefined; currentRevision: string | undefined; steps: RolloutSettings['steps']; stepIndex: number },
  replicas: number,
  hasTrafficRouter: boolean,
  fallbackRevision: string,
): ReplicaMode {
  const stableRevision = context.stableRevision ?? fallbackRevision;
  const canaryRevision = context.currentRevision ?? fallbackRevision;
  if (stage === 'stable' || canaryRevision === stableRevision) return { kind: 'stable', revision: stableRevision };
  if (stage === 'aborted') return { kind: 'aborted', stableRevision, canaryRevision };
  const counts = canaryStepCounts(context.steps, context.stepIndex, replicas, hasTrafficRouter);
  return { kind: 'canary', stableRevision, canaryRevision, ...counts };
}

function positionKey(snapshot: RolloutSnapshot): string {
  const { stableRevision, currentRevision, stepIndex, abortedAt, pauseStartTime } = snapshot.context;
  return JSON.stringify([snapshot.value, stableRevision, currentRevision, stepIndex, abortedAt, pauseStartTime]);
}

function countsChanged(previous: RolloutStatus, counts: ObservedCounts): boolean {
  return (
    previous.replicas !== counts.replicas ||
    previous.updatedReplicas !== counts.updatedReplicas ||
    previous.readyReplicas !== counts.readyReplicas ||
    previous.availableReplicas !== counts.availableReplicas
  );
}

/**
 * Whether the steps differ from those the status was written for. A status from before stepsHash
 * existed (an upgrade) adopts the steps, unless its step index is beyond them, which proves they shrank.
 */
function stepsChanged(previous: RolloutStatus, currentHash: string, stepCount: number): boolean {
  if (previous.stepsHash !== undefined) return previous.stepsHash !== currentHash;
  return (previous.currentStepIndex ?? 0) > stepCount;
}

/** A run whose verdict counts: one cut short by termination judged a step the canary had left. */
function verdictOf(run: AnalysisRunFacts | undefined): AnalysisRunFacts | undefined {
  return run?.terminated === true ? undefined : run;
}

/** What a run says about its verdict, for reasons and events. */
function reasonOf(run: AnalysisRunFacts): string {
  return run.message ?? `AnalysisRun ${run.name} is ${run.phase ?? 'Pending'}`;
}

/**
 * The pure decision for one reconcile: restore the machine from status, feed it what the facts
 * say happened, then let the planners size ReplicaSets and write status. Same facts, same plan.
 */
export function decide(facts: RolloutFacts): RolloutPlan {
  const settings = resolveSettings(facts.rollout.spec);
  const limits = scalingLimits(settings.replicas, settings.maxSurge, settings.maxUnavailable);
  const previous = facts.rollout.status ?? {};
  const counts = observedCounts(facts);
  const events: Announcement[] = [];

  const restored = restoreSnapshot(facts, settings);
  let snapshot = restored;
  const send = (event: RolloutEvent): boolean => {
    const [next, actions] = transition(rolloutMachine, snapshot, event);
    for (const action of actions) {
      if (action.type === 'announce') events.push(action.params as Announcement);
    }
    const changed = next !== snapshot && positionKey(next) !== positionKey(snapshot);
    snapshot = next;
    return changed;
  };

  const currentStepsHash = stepsHash(settings.steps);
  if (facts.currentRevision === snapshot.context.currentRevision && stepsChanged(previous, currentStepsHash, settings.steps.length)) {
    // Before SYNC: a restored position past the end of shorter steps would otherwise complete the canary.
    send({ type: 'STEPS_CHANGED', previousStepIndex: previous.currentStepIndex ?? 0 });
  }
  send({ type: 'SYNC' });
  const origin = positionKey(snapshot);
  const rolloutName = facts.rollout.metadata.name ?? '';
  const runByName = new Map(facts.analysisRuns.map((run) => [run.name, run]));
  if (facts.currentRevision !== snapshot.context.currentRevision) {
    // A new template makes pending abort and promote requests moot: they were about the old canary.
    send({ type: 'REVISION_OBSERVED', revision: facts.currentRevision });
  } else {
    if (previous.abort === true && previous.abortedAt === undefined) {
      if (!send({ type: 'ABORT', reason: 'aborted by request (status.abort)' })) {
        events.push({ type: 'Normal', reason: 'AbortIgnored', message: `nothing to abort: revision ${snapshot.context.stableRevision} is stable` });
      }
    } else if (previous.abort !== true && snapshot.matches('aborted')) {
      send({ type: 'RETRY' });
    }
    if (previous.promote !== undefined) {
      const stageBefore = stageOf(snapshot);
      const promoted = send({ type: previous.promote === 'full' ? 'PROMOTE_FULL' : 'PROMOTE_STEP' });
      if (!promoted && stageBefore !== 'stable') {
        const why = stageBefore === 'aborted' ? 'the rollout is aborted; retry or change the template' : 'spec.paused is true';
        events.push({ type: 'Warning', reason: 'PromoteIgnored', message: `promote ${previous.promote} ignored: ${why}` });
      }
    }
  }

  const stepCountsFor = (current: RolloutSnapshot): ReplicaMode =>
    replicaModeOf(stageOf(current), current.context, settings.replicas, facts.hasTrafficRouter, facts.currentRevision);
  const progressedThisReconcile = (): boolean => countsChanged(previous, counts) || positionKey(snapshot) !== origin;
  const previousProgressStart = Date.parse(previous.progressStartTime ?? '');

  // Level-triggered events: whatever the facts say now, until the machine stops moving.
  for (let guard = 0; guard < 2 * settings.steps.length + 4; guard++) {
    const event = observedEvent(snapshot);
    if (event === undefined || !send(event)) break;
  }

  function observedEvent(current: RolloutSnapshot): RolloutEvent | undefined {
    const stage = stageOf(current);
    const { context } = current;
    // Runs are looked up by the name this position gives them, so a verdict never reaches another step, revision or attempt.
    const runs = desiredAnalysisRuns(rolloutName, stage, context, settings);
    const missing = stage === 'inconclusive' ? [] : missingTemplatesOf(runs, facts.missingTemplates);
    if (missing.length > 0) {
      // Hold where it is: the template may arrive in the same GitOps sync. Give up only at the progress deadline.
      const waited = !context.specPaused && !progressedThisReconcile() && facts.now - previousProgressStart >= settings.progressDeadlineMs;
      return waited ? { type: 'ABORT', reason: `${missing.join(', ')} not found within progressDeadlineSeconds (${settings.progressDeadlineMs / 1000}s)` } : undefined;
    }
    const background = runs.find((run) => run.kind === 'background');
    const backgroundRun = background && verdictOf(runByName.get(background.name));
    if (stage !== 'inconclusive' && backgroundRun !== undefined) {
      const phase = backgroundRun.phase;
      if (phase === 'Failed' || phase === 'Error' || phase === 'Inconclusive') {
        return { type: 'BACKGROUND_ANALYSIS_FAILED', phase, reason: reasonOf(backgroundRun), hold: background?.analysis.onFailure === 'Pause' };
      }
    }
    if (stage === 'weighting') {
      const mode = stepCountsFor(current);
      if (isAtCounts(facts.replicaSets, idealCounts(mode, settings.replicas), context.stableRevision)) return { type: 'STEP_COMPLETED' };
      const stalled = !progressedThisReconcile() && facts.now - previousProgressStart >= settings.progressDeadlineMs;
      return stalled && !context.specPaused ? { type: 'DEADLINE_EXCEEDED' } : undefined;
    }
    if (stage === 'timedPause' && context.pauseStartTime !== undefined) {
      const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime);
      return deadline !== undefined && facts.now >= deadline ? { type: 'PAUSE_ELAPSED' } : undefined;
    }
    const step = runs.find((run) => run.kind === 'step');
    const stepRun = step && verdictOf(runByName.get(step.name));
    if (stage === 'analyzing' && stepRun !== undefined) {
      switch (stepRun.phase) {
        case 'Successful':
          return { type: 'ANALYSIS_SUCCESSFUL' };
        case 'Failed':
        case 'Error':
          return { type: 'ANALYSIS_FAILED', phase: stepRun.phase, reason: reasonOf(stepRun), hold: step?.analysis.onFailure === 'Pause' };
        case 'Inconclusive':
          return { type: 'ANALYSIS_INCONCLUSIVE', reason: reasonOf(stepRun) };
        default:
          return undefined;
      }
    }
    return undefined;
  }

  const stage = stageOf(snapshot);
  const { context } = snapshot;
  const mode = stepCountsFor(snapshot);
  const replicaSets = planReplicaSets({
    mode,
    now: facts.now,
    replicas: settings.replicas,
    limits,
    currentRevision: facts.currentRevision,
    replicaSets: facts.replicaSets,
    hasTrafficRouter: facts.hasTrafficRouter,
    abortScaleDownDelayMs: settings.abortScaleDownDelayMs,
  });
  const converged = stage === 'stable' && isAtCounts(facts.replicaSets, idealCounts(mode, settings.replicas));

  const wantedRuns = desiredAnalysisRuns(rolloutName, stage, context, settings);
  const missingTemplates = stage === 'inconclusive' ? [] : missingTemplatesOf(wantedRuns, facts.missingTemplates);
  // The progress deadline runs only while pods should be moving or a template is awaited: not in pauses,
  // analysis, or spec.paused.
  const tracked = !context.specPaused && (stage === 'weighting' || (stage === 'stable' && !converged) || missingTemplates.length > 0);
  let progressStartTime: number | undefined;
  if (tracked) {
    progressStartTime = progressedThisReconcile() || Number.isNaN(previousProgressStart) ? facts.now : previousProgressStart;
  } else if (stage === 'stable' || stage === 'aborted') {
    progressStartTime = Number.isNaN(previousProgressStart) ? undefined : previousProgressStart;
  }
  const deadlineExceeded =
    tracked && progressStartTime !== undefined && facts.now - progressStartTime >= settings.progressDeadlineMs;

  // A run is created only once its templates exist; until then it would only error.
  const analysisRuns = wantedRuns.filter((run) => missingTemplatesOf([run], facts.missingTemplates).length === 0);
  const status = composeStatus({
    missingTemplates,
    stepsHash: currentStepsHash,
    analysisRuns,
    facts,
    settings,
    limits,
    context,
    stage,
    converged,
    creating: replicaSets.some((target) => target.create === true),
    stepCounts: mode.kind === 'canary' ? { canary: mode.canary, stable: mode.stable } : undefined,
    progressStartTime,
    deadlineExceeded,
  });
  const waitingForTemplates = findCondition(status.conditions, 'Progressing')?.reason === TEMPLATE_MISSING_REASON;
  if (waitingForTemplates && findCondition(previous.conditions, 'Progressing')?.reason !== TEMPLATE_MISSING_REASON) {
    events.push({ type: 'Warning', reason: TEMPLATE_MISSING_REASON, message: status.message ?? `${missingTemplates.join(', ')} not found` });
  }
  if (deadlineExceeded && findCondition(previous.conditions, 'Progressing')?.reason !== DEADLINE_REASON) {
    events.push({ type: 'Warning', reason: DEADLINE_REASON, message: status.message ?? 'progress deadline exceeded' });
  }

  const keep = new Set([context.stableRevision, context.currentRevision, facts.currentRevision].filter((r): r is string => r !== undefined));
  const deleteReplicaSets = replicaSetsToPrune(facts.replicaSets, replicaSets, keep, settings.revisionHistoryLimit);

  const wakeups: number[] = [];
  if (isPauseStage(stage) && stage === 'timedPause' && context.pauseStartTime !== undefined && !context.specPaused) {
    const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime);
    if (deadline !== undefined) wakeups.push(deadline);
  }
  for (const target of replicaSets) {
    if (typeof target.scaleDownAt === 'number') wakeups.push(target.scaleDownAt);
  }
  for (const rs of facts.replicaSets) {
    const target = replicaSets.find((candidate) => candidate.revision === rs.revision);
    if (rs.scaleDownAt !== undefined && target?.scaleDownAt !== null && target?.replicas !== 0) wakeups.push(rs.scaleDownAt);
  }
  if (tracked && !deadlineExceeded && progressStartTime !== undefined) wakeups.push(progressStartTime + settings.progressDeadlineMs);
  const future = wakeups.filter((at) => at > facts.now);
  const requeueAfterMs = future.length > 0 ? Math.min(...future) - facts.now : undefined;

  const services = desiredServices({
    stableService: settings.stableService,
    canaryService: settings.canaryService,
    replicas: settings.replicas,
    stableRevision: status.stableRevision,
    currentRevision: facts.currentRevision,
    aborted: stage === 'aborted',
    replicaSets: facts.replicaSets,
  });

  return {
    status,
    replicaSets,
    deleteReplicaSets,
    events,
    analysisRuns,
    services,
    ...(requeueAfterMs !== undefined && { requeueAfterMs }),
  };
}
