import { transition } from 'xstate';
import type { RolloutStatus } from '../../api/rollout.js';
import { findCondition } from '../../api/conditions.js';
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
import { composeStatus, DEADLINE_REASON, observedCounts, TEMPLATE_MISSING_REASON, TRAFFIC_CONDITION, TRAFFIC_ERROR_REASON, type ObservedCounts } from './status.js';
import { stepsHash } from './revision.js';
import { claimConflict, desiredServices, serviceSelector, type ServiceTarget } from './services.js';
import { replicaSetChanges, type ReplicaSetChange } from './replica-set-changes.js';
import { analysisRunChanges, type AnalysisRunChanges } from './analysis-run-changes.js';
import { restartStep } from './restart.js';
import { workloadReplicas } from './workload-ref.js';
import { writeBackDue } from './write-back-scope.js';
import { rolloutLabelValue } from '../../api/labels.js';
import { pauseDeadline, setWeightAt } from './steps.js';
import { lowestWeightServed, managedRoutesAt, stableShareOf, trafficInEffect } from '../../traffic/plan.js';
import type { TrafficTarget } from '../../traffic/types.js';
import { describeClosed, hookPhase, notificationsFor, plannedStepIndex, verdictOf, wantedCalls, type WebhookCall, type WebhookNotification } from '../hooks/plan.js';

/** While a router has not taken up what was asked, look again this soon (routes are read, not watched). */
export const TRAFFIC_RECHECK_MS = 500;
/** A router that reports a problem is retried this often. */
export const TRAFFIC_PROBLEM_RECHECK_MS = 5_000;
/** A routed Rollout re-reads its routes this often, so a hand edit is undone even when nothing else happens. */
export const TRAFFIC_RESYNC_MS = 30_000;

export interface RolloutPlan {
  /**
   * Set when the Rollout cannot be acted on as it is (a Service it names is another Rollout's): the shell reports
   * it as InvalidSpec's reason and message, acts on nothing, and tries again after a back-off.
   */
  refusal?: { reason: 'ResourceConflict'; message: string };
  /** The complete desired status (the shell merge-patches it, and only writes when it differs). */
  status: RolloutStatus;
  /** How many pods each revision should have. */
  replicaSets: ReplicaSetTarget[];
  /** The ReplicaSet writes that make the targets so: whole new ReplicaSets and patches of owned ones. */
  replicaSetChanges: ReplicaSetChange[];
  /** Names, history pruning. */
  deleteReplicaSets: string[];
  /** Pods a restart (spec.restartAt) deletes now; their ReplicaSets replace them. */
  podsToDelete: string[];
  /** The workloadRef's Deployment gives way: its new spec.replicas. */
  workload?: { name: string; from: number; replicas: number; scaleDown: string };
  /** A write-back to Git of the stable images is due for this aborted revision. */
  writeBack?: { revision: string };
  events: Announcement[];
  /** For pause deadlines, scale-down delays, the progress deadline. */
  requeueAfterMs?: number;
  /** AnalysisRuns that should exist now; runs of this Rollout not listed here are to be terminated. */
  analysisRuns: DesiredAnalysisRun[];
  /** What to create, terminate and delete to get there. */
  analysisRunChanges: AnalysisRunChanges;
  /** What the stable and canary Services should select. */
  services: ServiceTarget[];
  /** With a router: what it should make true, applied before any ReplicaSet changes. */
  traffic?: TrafficTarget;
  /** Webhook calls that should be running now; the shell stops any other it runs for this Rollout. */
  webhooks: WebhookCall[];
  /** Event and post-rollout hook calls for this reconcile's Events, made once the status is written. */
  notifications: WebhookNotification[];
}

/** Which revision gets how many pods, by stage. */
export function replicaModeOf(
  stage: Stage,
  context: { stableRevision: string | undefined; currentRevision: string | undefined; steps: RolloutSettings['steps']; stepIndex: number },
  replicas: number,
  hasTrafficRouter: boolean,
  fallbackRevision: string,
  /** dynamicStableScale: the canary weight the router reports in effect (undefined: not in use). */
  dynamicStableWeight?: number,
): ReplicaMode {
  const stableRevision = context.stableRevision ?? fallbackRevision;
  const canaryRevision = context.currentRevision ?? fallbackRevision;
  if (stage === 'stable' || canaryRevision === stableRevision) return { kind: 'stable', revision: stableRevision };
  if (stage === 'aborted') return { kind: 'aborted', stableRevision, canaryRevision };
  // The stable side keeps what the larger of the traffic in effect and the traffic asked for needs.
  const dynamicStable =
    dynamicStableWeight === undefined ? undefined : stableShareOf(replicas, Math.min(dynamicStableWeight, setWeightAt(context.steps, context.stepIndex)));
  const counts = canaryStepCounts(context.steps, context.stepIndex, replicas, hasTrafficRouter, dynamicStable);
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
function runVerdictOf(run: AnalysisRunFacts | undefined): AnalysisRunFacts | undefined {
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
      if (!send({ type: 'ABORT', reason: 'aborted by request (status.abort)', cause: 'Manual' })) {
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

  const positionOf = (current: RolloutSnapshot): RolloutSnapshot['context'] => ({ ...current.context, stepIndex: plannedStepIndex(stageOf(current), current.context) });
  const hooks = settings.webhooks;
  const hookResults = new Map((facts.webhooks ?? []).map((result) => [result.key, result]));
  const callsFor = (current: RolloutSnapshot): WebhookCall[] =>
    wantedCalls({
      hooks,
      stage: stageOf(current),
      gate: current.context.gate,
      rollout: { name: rolloutName, namespace: facts.rollout.metadata.namespace ?? 'default' },
      revision: current.context.currentRevision ?? facts.currentRevision,
      attempt: current.context.attempt,
      stepIndex: current.context.stepIndex,
    });

  const routed = facts.hasTrafficRouter;
  const observedWeight = facts.traffic?.problem === undefined ? facts.traffic?.canaryWeight : undefined;
  const stepCountsFor = (current: RolloutSnapshot): ReplicaMode =>
    replicaModeOf(
      stageOf(current),
      positionOf(current),
      settings.replicas,
      routed,
      facts.currentRevision,
      // A superseded canary's traffic goes back to the stable side, which is sized for all of it meanwhile.
      settings.dynamicStableScale ? (heldCanaryFor(current) !== undefined ? 0 : (observedWeight ?? 0)) : undefined,
    );
  const availableOf = (revision: string | undefined): number => facts.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
  /**
   * What the router should make true at `current`. A canary gets its step's weight only once its pods are
   * available; until then it keeps no more than it has. A promotion sends everything to the promoted revision once
   * it is fully available, and back to the stable side once that selects it. An abort takes all traffic off at once.
   */
  /**
   * With a router, a canary revision the template has moved past (a new image mid-canary) keeps the canary side, and
   * its pods, while the router still reports weight on it: the new revision has no pods to take that traffic yet.
   */
  const heldCanaryFor = (current: RolloutSnapshot): string | undefined => {
    if (!routed) return undefined;
    const stage = stageOf(current);
    if (stage === 'stable' || stage === 'aborted') return undefined;
    const selects = facts.traffic?.canarySelects;
    if (typeof selects !== 'string' || selects === current.context.currentRevision || selects === current.context.stableRevision) return undefined;
    return observedWeight === 0 ? undefined : selects;
  };
  const trafficTargetFor = (current: RolloutSnapshot): TrafficTarget | undefined => {
    if (!routed) return undefined;
    const superseded = heldCanaryFor(current);
    if (superseded !== undefined) {
      // Off the superseded canary first; the canary side moves to the new revision once the router reports 0. With
      // dynamicStableScale, only as fast as the stable side's available pods can serve what comes back.
      const served = lowestWeightServed(settings.replicas, availableOf(current.context.stableRevision));
      const canaryWeight = settings.dynamicStableScale ? Math.min(observedWeight ?? 0, served) : 0;
      return { headerRoutes: [], mirrorRoutes: [], stableRevision: current.context.stableRevision, canaryRevision: superseded, canaryWeight };
    }
    const stage = stageOf(current);
    const context = positionOf(current);
    const base = { headerRoutes: [], mirrorRoutes: [], stableRevision: context.stableRevision, canaryRevision: context.currentRevision };
    if (stage === 'aborted') return { ...base, canaryRevision: context.stableRevision, canaryWeight: 0 };
    if (stage === 'stable') {
      const stable = context.stableRevision;
      const promoting = facts.replicaSets.some((rs) => rs.revision !== stable && rs.availableReplicas > 0);
      if (!promoting || facts.traffic?.stableSelects === stable) return { ...base, canaryWeight: 0 };
      if (availableOf(stable) >= settings.replicas) return { ...base, canaryWeight: 100 };
      // Like the stable Service, a stable subset selects every pod of the Rollout until the promoted revision is whole.
      return { ...base, stableRevision: undefined, canaryWeight: Math.min(100, Math.max(0, observedWeight ?? 0)) };
    }
    const mode = stepCountsFor(current);
    const stepWeight = setWeightAt(context.steps, context.stepIndex);
    const canaryAvailable = availableOf(context.currentRevision);
    const canaryReady = mode.kind === 'canary' && canaryAvailable >= mode.canary;
    // While the router cannot say what is in effect (a Gateway taking up another change), the weight it last reported.
    const held = observedWeight ?? previous.actualWeight ?? 0;
    let canaryWeight = canaryReady ? stepWeight : Math.min(stepWeight, held);
    // dynamicStableScale: traffic moves back to the stable side only as fast as its available pods can serve it.
    if (settings.dynamicStableScale) canaryWeight = Math.max(canaryWeight, Math.min(held, lowestWeightServed(settings.replicas, availableOf(context.stableRevision))));
    // A revision with no available pod serves nothing: the weight the route still carries belongs to an earlier canary
    // (a new template mid-canary), or to pods that are gone.
    if (canaryAvailable === 0) canaryWeight = 0;
    return { ...base, canaryWeight, ...managedRoutesAt(context.steps, context.stepIndex, settings.trafficRouting?.managedRoutes) };
  };
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
    const calls = callsFor(current);
    // A rollback hook's 2xx and a failed pre-rollout or rollout hook abort wherever the canary is, gates included.
    for (const call of calls) {
      const result = hookResults.get(call.key);
      if (call.hook.type === 'rollback' && result?.outcome === 'passed') return { type: 'ABORT', reason: `webhook ${call.hook.name} (rollback) asked for a rollback: ${result.message}`, cause: 'Webhook' };
    }
    const gateCalls = calls.filter((call) => call.hook.type === context.gate && stage === 'gated');
    const stepCalls = calls.filter((call) => call.hook.type === 'rollout');
    const gate = verdictOf(gateCalls, hookResults);
    const step = verdictOf(stepCalls, hookResults);
    for (const verdict of [gate, step]) {
      if (verdict.kind === 'failed') return { type: 'ABORT', reason: `webhook ${verdict.hook.name} (${verdict.hook.type}) failed: ${verdict.message}`, cause: 'Webhook' };
    }
    // A step is done only once its rollout hooks passed: a hook not yet answered never counts as a pass.
    const stepHooksPassed = step.kind === 'passed';
    const runs = desiredAnalysisRuns(rolloutName, stage, context, settings);
    const missing = stage === 'inconclusive' ? [] : missingTemplatesOf(runs, facts.missingTemplates);
    if (missing.length > 0) {
      // Hold where it is: the template may arrive in the same GitOps sync. Give up only at the progress deadline.
      const waited = !context.specPaused && !progressedThisReconcile() && facts.now - previousProgressStart >= settings.progressDeadlineMs;
      return waited ? { type: 'ABORT', reason: `${missing.join(', ')} not found within progressDeadlineSeconds (${settings.progressDeadlineMs / 1000}s)`, cause: 'TemplateMissing' } : undefined;
    }
    const background = runs.find((run) => run.kind === 'background');
    const backgroundRun = background && runVerdictOf(runByName.get(background.name));
    if (stage !== 'inconclusive' && backgroundRun !== undefined) {
      const phase = backgroundRun.phase;
      if (phase === 'Failed' || phase === 'Error' || phase === 'Inconclusive') {
        return { type: 'BACKGROUND_ANALYSIS_FAILED', phase, reason: reasonOf(backgroundRun), hold: background?.analysis.onFailure === 'Pause' };
      }
    }
    if (stage === 'gated') return gate.kind === 'passed' ? { type: 'GATE_OPENED' } : undefined;
    if (stage === 'weighting') {
      const mode = stepCountsFor(current);
      const target = trafficTargetFor(current);
      const routedInEffect = target === undefined || (heldCanaryFor(current) === undefined && trafficInEffect(facts.traffic, target));
      if (routedInEffect && isAtCounts(facts.replicaSets, idealCounts(mode, settings.replicas), context.stableRevision)) return stepHooksPassed ? { type: 'STEP_COMPLETED' } : undefined;
      const stalled = !progressedThisReconcile() && facts.now - previousProgressStart >= settings.progressDeadlineMs;
      return stalled && !context.specPaused ? { type: 'DEADLINE_EXCEEDED' } : undefined;
    }
    if (stage === 'timedPause' && context.pauseStartTime !== undefined) {
      const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime);
      return deadline !== undefined && facts.now >= deadline && stepHooksPassed ? { type: 'PAUSE_ELAPSED' } : undefined;
    }
    const stepAnalysis = runs.find((run) => run.kind === 'step');
    const stepRun = stepAnalysis && runVerdictOf(runByName.get(stepAnalysis.name));
    if (stage === 'analyzing' && stepRun !== undefined) {
      switch (stepRun.phase) {
        case 'Successful':
          return stepHooksPassed ? { type: 'ANALYSIS_SUCCESSFUL' } : undefined;
        case 'Failed':
        case 'Error':
          return { type: 'ANALYSIS_FAILED', phase: stepRun.phase, reason: reasonOf(stepRun), hold: stepAnalysis?.analysis.onFailure === 'Pause' };
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
  const traffic = trafficTargetFor(snapshot);
  const replicaSets = planReplicaSets({
    mode,
    now: facts.now,
    replicas: settings.replicas,
    // A router splits traffic by itself: the canary's pods come on top of the stable ones, whatever maxSurge says.
    limits: routed ? { ...limits, maxSurge: Number.POSITIVE_INFINITY } : limits,
    currentRevision: facts.currentRevision,
    replicaSets: facts.replicaSets,
    hasTrafficRouter: routed,
    abortScaleDownDelayMs: settings.abortScaleDownDelayMs,
    scaleDownDelayMs: settings.scaleDownDelayMs,
    trafficOffCanary: observedWeight === 0,
    stableSwitched: facts.traffic?.stableSelects === context.stableRevision && observedWeight === 0,
    keepServing: heldCanaryFor(snapshot),
  });
  // Older ReplicaSets waiting out a scale-down delay do not keep a promotion from being complete; traffic the
  // router has not taken up (or cannot) does.
  const converged =
    stage === 'stable' &&
    (traffic === undefined || trafficInEffect(facts.traffic, traffic)) &&
    isAtCounts(
      facts.replicaSets.filter((rs) => rs.revision === context.stableRevision || rs.scaleDownAt === undefined),
      idealCounts(mode, settings.replicas),
    );

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
  const calls = callsFor(snapshot);
  const gateVerdict = stage === 'gated' ? verdictOf(calls.filter((call) => call.hook.type === context.gate), hookResults) : undefined;
  const status = composeStatus({
    gateWait: gateVerdict?.kind === 'waiting' ? describeClosed(gateVerdict.closed, gateVerdict.pending) : undefined,
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
    ...(traffic !== undefined && { traffic: { target: traffic, inEffect: trafficInEffect(facts.traffic, traffic) } }),
  });
  const waitingForTemplates = findCondition(status.conditions, 'Progressing')?.reason === TEMPLATE_MISSING_REASON;
  if (waitingForTemplates && findCondition(previous.conditions, 'Progressing')?.reason !== TEMPLATE_MISSING_REASON) {
    events.push({ type: 'Warning', reason: TEMPLATE_MISSING_REASON, message: status.message ?? `${missingTemplates.join(', ')} not found` });
  }
  if (facts.traffic?.problem !== undefined && findCondition(previous.conditions, TRAFFIC_CONDITION)?.reason !== TRAFFIC_ERROR_REASON) {
    events.push({ type: 'Warning', reason: TRAFFIC_ERROR_REASON, message: facts.traffic.problem });
  }
  if (routed && status.actualWeight !== previous.actualWeight) {
    events.push({ type: 'Normal', reason: 'TrafficShifted', message: `${status.actualWeight ?? 0}% of traffic on the canary (was ${previous.actualWeight ?? 0}%)` });
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
  if (traffic !== undefined) {
    const settled = trafficInEffect(facts.traffic, traffic);
    wakeups.push(facts.now + (settled ? TRAFFIC_RESYNC_MS : facts.traffic?.problem !== undefined ? TRAFFIC_PROBLEM_RECHECK_MS : TRAFFIC_RECHECK_MS));
  }
  const restart = restartStep(facts.rollout.spec.restartAt, previous.restartedAt, facts.pods, limits.maxUnavailable, facts.now);
  if (restart.wakeAt !== undefined) wakeups.push(restart.wakeAt);
  if (restart.done !== undefined) {
    status.restartedAt = restart.done;
    events.push({ type: 'Normal', reason: 'RolloutRestarted', message: `every pod created before ${restart.done} was recreated` });
  }
  const writeBack = writeBackDue(facts.rollout.spec.writeBack, status, facts.now);
  if (writeBack !== undefined && 'retryAt' in writeBack) wakeups.push(writeBack.retryAt);
  const future = wakeups.filter((at) => at > facts.now);
  const requeueAfterMs = future.length > 0 ? Math.min(...future) - facts.now : undefined;

  const heldCanary = heldCanaryFor(snapshot);
  const serviceTargets = desiredServices({
    stableService: settings.stableService,
    canaryService: settings.canaryService,
    replicas: settings.replicas,
    stableRevision: status.stableRevision,
    currentRevision: facts.currentRevision,
    aborted: stage === 'aborted',
    replicaSets: facts.replicaSets,
  });
  const rolloutLabels = facts.rollout.spec.selector.matchLabels ?? {};
  const services = serviceTargets.map((target): ServiceTarget => {
    const revision = heldCanary !== undefined && target.role === 'canary' ? heldCanary : target.revision;
    return { ...target, revision, selector: serviceSelector(revision, rolloutLabels) };
  });
  const conflict = claimConflict([settings.stableService, settings.canaryService], facts.serviceOwners, rolloutLabelValue(rolloutName));
  const workloadRef = facts.rollout.spec.workloadRef;
  const workloadWanted =
    workloadRef === undefined
      ? undefined
      : workloadReplicas(workloadRef.scaleDown, facts.workloadReplicas ?? 1, {
          desired: settings.replicas,
          available: status.availableReplicas ?? 0,
          fullyRolledOut: status.phase === 'Healthy' && status.stableRevision === status.currentRevision,
        });

  return {
    ...(conflict !== undefined && { refusal: { reason: 'ResourceConflict' as const, message: conflict } }),
    status,
    replicaSets,
    replicaSetChanges: replicaSetChanges({
      rollout: facts.rollout,
      template: facts.template,
      targets: replicaSets,
      replicaSets: facts.replicaSets,
      stableRevision: status.stableRevision,
      currentRevision: status.currentRevision,
    }),
    deleteReplicaSets,
    podsToDelete: restart.podsToDelete,
    ...(workloadRef !== undefined && workloadWanted !== undefined && { workload: { name: workloadRef.name, from: facts.workloadReplicas ?? 1, replicas: workloadWanted, scaleDown: workloadRef.scaleDown ?? 'never' } }),
    ...(writeBack !== undefined && 'revision' in writeBack && { writeBack }),
    events,
    analysisRuns,
    analysisRunChanges: analysisRunChanges({
      rollout: facts.rollout,
      wanted: analysisRuns,
      owned: facts.analysisRuns,
      templates: facts.templates,
      stableRevision: status.stableRevision,
      historyLimit: settings.analysisRunHistoryLimit,
    }),
    services,
    webhooks: calls,
    notifications: notificationsFor(hooks, events, {
      rollout: { name: rolloutName, namespace: facts.rollout.metadata.namespace ?? 'default' },
      revision: context.currentRevision ?? facts.currentRevision,
      phase: hookPhase(stage, context.gate),
      now: facts.now,
    }),
    ...(requeueAfterMs !== undefined && { requeueAfterMs }),
    ...(traffic !== undefined && { traffic }),
  };
}
