import type { RolloutStatus } from '../../api/rollout.js';
import { findCondition } from '../../api/conditions.js';
import { rolloutLabelValue } from '../../api/labels.js';
import { servingDestinations, trafficInEffect } from '../../traffic/plan.js';
import type { TrafficTarget } from '../../traffic/types.js';
import { describeClosed, hookPhase, notificationsFor, verdictOf, type WebhookCall, type WebhookNotification } from './hooks.js';
import { missingTemplatesOf, type DesiredAnalysisRun } from './analysis-runs.js';
import { analysisRunChanges, type AnalysisRunChanges } from './analysis-run-changes.js';
import { decideContext, type DecideContext } from './context.js';
import type { PingPongSide, RolloutFacts } from './facts.js';
import { replicaSetsToPrune } from './history.js';
import { planBaseline, type BaselinePlan } from './baseline.js';
import { experimentAt, experimentEndsAt, planExperiment, type ExperimentAt, type ExperimentPlan } from './experiment.js';
import type { Announcement, RolloutContext, RolloutSnapshot } from './machine.js';
import { callsFor, heldCanaryFor, runsAt, stepCountsFor, swapPending, trafficTargetFor } from './position.js';
import { movingEventHoldMs } from './recorded-events.js';
import { progressedThisReconcile, trackProgress, type ProgressTracking } from './progress.js';
import { replicaSetChanges, type ReplicaSetChange } from './replica-set-changes.js';
import { idealCounts, isAtCounts, planReplicaSets, type ReplicaMode, type ReplicaSetTarget } from './replicas.js';
import { restartStep } from './restart.js';
import {
  claimConflict,
  desiredPingPongServices,
  desiredServices,
  routerServices,
  serviceSelector,
  stableSideAfter,
  type PingPong,
  type ServiceTarget,
} from './services.js';
import type { RouterServices } from '../../traffic/router-set.js';
import { isPauseStage, stageOf, type Stage } from './stage.js';
import { composeStatus, DEADLINE_REASON, TEMPLATE_MISSING_REASON, TRAFFIC_CONDITION, TRAFFIC_ERROR_REASON } from './status.js';
import { pauseDeadline } from './steps.js';
import { driveMachine } from './transitions.js';
import { workloadReplicas } from './workload-ref.js';
import { writeBackDue } from '../../gitops/write-back-scope.js';

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
  /** The judge's baseline beside the canary (and its Service behind a router): made and sized with it, deleted once there is no canary. */
  baseline: BaselinePlan;
  /** An experiment step's ReplicaSets and Services: made while the canary is at its step, removed once it is not. */
  experiment: ExperimentPlan;
  /** The pod templates still in use once those are gone: config copies no template reads are collected. */
  templatesInUse: Array<{ spec?: unknown }>;
  /** Pods a restart (spec.restartAt) deletes now; their ReplicaSets replace them. */
  podsToDelete: string[];
  /** The workloadRef's Deployment gives way: its new spec.replicas. */
  workload?: { name: string; from: number; replicas: number; scaleDown: string };
  /** A write-back to Git of the stable images is due for this aborted revision. */
  writeBack?: { revision: string };
  events: Announcement[];
  /** How long this reconcile's Events of a canary moving on may wait to be told with its next transition (movingEventHoldMs). */
  movingEventHoldMs: number;
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
  /** With a router: every router named, and the Services each splits between this reconcile. */
  trafficRouters?: RouterServices[];
  /** Webhook calls that should be running now; the shell stops any other it runs for this Rollout. */
  webhooks: WebhookCall[];
  /** Event and post-rollout hook calls for this reconcile's Events, made once the status is written. */
  notifications: WebhookNotification[];
}

/**
 * The pure decision for one reconcile: restore the machine from status, feed it what the facts
 * say happened, then let the planners size ReplicaSets and write status. Same facts, same plan.
 */
export function decide(facts: RolloutFacts): RolloutPlan {
  const ctx = decideContext(facts);
  const { snapshot, origin } = driveMachine(ctx);
  const pods = planPods(ctx, snapshot);
  const { runs: wantedRuns, missingTemplates } = runsAt(ctx, snapshot);
  const progressed = progressedThisReconcile(ctx, origin, snapshot);
  const progress = trackProgress(ctx, { stage: pods.stage, context: snapshot.context, converged: pods.converged, missingTemplates, progressed });
  // A run is created only once its templates exist; until then it would only error.
  const analysisRuns = wantedRuns.filter((run) => missingTemplatesOf([run], facts.missingTemplates).length === 0);
  const calls = callsFor(ctx, snapshot);
  const status = statusOf(ctx, snapshot, { pods, progress, analysisRuns, missingTemplates, calls });
  if (ctx.settings.pingPong !== undefined && status.stableRevision !== undefined) status.canary = { stablePingPong: stableSideOf(ctx, ctx.settings.pingPong, status) };
  announceStatus(ctx, status, missingTemplates, progress.deadlineExceeded);
  const restart = restartOf(ctx, status);
  const writeBack = writeBackDue(facts.rollout.spec.writeBack, status, facts.now);
  const retryAt = writeBack !== undefined && 'retryAt' in writeBack ? writeBack.retryAt : undefined;
  const experiment = stageOf(snapshot) === 'experimenting' ? experimentAt(ctx.rollout.name, snapshot.context) : undefined;
  const requeueAfterMs = requeueAfter(ctx, snapshot.context, pods, progress, [restart.wakeAt, retryAt, experimentWakeup(ctx, experiment)]);
  const pruned = prunedReplicaSets(ctx, snapshot.context, pods.replicaSets);
  const { stableService, canaryService, pingPong } = ctx.settings;
  const conflict = claimConflict([stableService, canaryService, pingPong?.pingService, pingPong?.pongService], facts.serviceOwners, rolloutLabelValue(ctx.rollout.name));
  return {
    ...(conflict !== undefined && { refusal: { reason: 'ResourceConflict' as const, message: conflict } }),
    status,
    replicaSets: pods.replicaSets,
    replicaSetChanges: replicaSetChangesFor(ctx, pods.replicaSets, status),
    deleteReplicaSets: pruned,
    baseline: planBaseline({
      rollout: facts.rollout,
      mode: pods.mode,
      stable: facts.replicaSets.find((rs) => rs.revision === status.stableRevision),
      canaryReplicas: pods.replicaSets.find((target) => pods.mode.kind === 'canary' && target.revision === pods.mode.canaryRevision)?.replicas ?? 0,
      baselines: facts.baselines ?? [],
      routed: ctx.routed,
      services: facts.baselineServices ?? [],
      stablePorts: facts.stableServicePorts ?? [],
      serving: servingDestinations(facts.traffic),
    }),
    experiment: planExperiment({
      rollout: facts.rollout,
      at: experiment,
      canaryTemplate: facts.template,
      stable: facts.replicaSets.find((rs) => rs.revision === status.stableRevision),
      replicaSets: facts.experimentReplicaSets ?? [],
      services: facts.experimentServices ?? [],
      serving: servingDestinations(facts.traffic),
    }),
    templatesInUse: [facts.template, ...facts.replicaSets.filter((rs) => !pruned.includes(rs.name)).map((rs) => rs.template ?? {})],
    podsToDelete: restart.podsToDelete,
    ...workloadOf(ctx, status),
    ...(writeBack !== undefined && 'revision' in writeBack && { writeBack }),
    events: ctx.events,
    movingEventHoldMs: movingEventHoldMs(progress.tracked && !progress.deadlineExceeded, ctx.settings.progressDeadlineMs),
    analysisRuns,
    analysisRunChanges: analysisRunChangesFor(ctx, analysisRuns, status),
    services: servicesFor(ctx, snapshot, status),
    webhooks: calls,
    notifications: notificationsOf(ctx, snapshot),
    ...(requeueAfterMs !== undefined && { requeueAfterMs }),
    ...(pods.traffic !== undefined && { traffic: pods.traffic, trafficRouters: routerServices(facts.rollout.spec.strategy.canary, ctx.routedWith) }),
  };
}

/** pingPong's stable side after this reconcile (see stableSideAfter). */
function stableSideOf(ctx: DecideContext, pingPong: PingPong, status: RolloutStatus): PingPongSide {
  const selects = ctx.facts.serviceSelects ?? {};
  return stableSideAfter({ pingPong, routedWith: ctx.routedWith, stableRevision: status.stableRevision, selects, observedWeight: ctx.observedWeight });
}

/** What the pods and the router should do at the machine's position. */
interface PodPlan {
  stage: Stage;
  mode: ReplicaMode;
  traffic: TrafficTarget | undefined;
  replicaSets: ReplicaSetTarget[];
  /** Stable, and everything (pods and traffic) is where stable wants it. */
  converged: boolean;
}

function planPods(ctx: DecideContext, snapshot: RolloutSnapshot): PodPlan {
  const { facts, settings, limits, routed, observedWeight } = ctx;
  const stage = stageOf(snapshot);
  const { context } = snapshot;
  const mode = stepCountsFor(ctx, snapshot);
  const traffic = trafficTargetFor(ctx, snapshot);
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
    ...(settings.scaleDownDelayRevisionLimit !== undefined && { scaleDownDelayRevisionLimit: settings.scaleDownDelayRevisionLimit }),
    trafficOffCanary: observedWeight === 0,
    stableSwitched: facts.traffic?.stableSelects === context.stableRevision && observedWeight === 0,
    keepServing: heldCanaryFor(ctx, snapshot),
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
  return { stage, mode, traffic, replicaSets, converged };
}

function statusOf(
  ctx: DecideContext,
  snapshot: RolloutSnapshot,
  decided: { pods: PodPlan; progress: ProgressTracking; analysisRuns: DesiredAnalysisRun[]; missingTemplates: string[]; calls: WebhookCall[] },
): RolloutStatus {
  const { pods, progress } = decided;
  const { stage, mode, traffic } = pods;
  const { context } = snapshot;
  const gateVerdict = stage === 'gated' ? verdictOf(decided.calls.filter((call) => call.hook.type === context.gate), ctx.hookResults) : undefined;
  return composeStatus({
    gateWait: gateVerdict?.kind === 'waiting' ? describeClosed(gateVerdict.closed, gateVerdict.pending) : undefined,
    missingTemplates: decided.missingTemplates,
    stepsHash: ctx.currentStepsHash,
    analysisRuns: decided.analysisRuns,
    facts: ctx.facts,
    settings: ctx.settings,
    limits: ctx.limits,
    context,
    stage,
    converged: pods.converged,
    creating: pods.replicaSets.some((target) => target.create === true),
    stepCounts: mode.kind === 'canary' ? { canary: mode.canary, stable: mode.stable } : undefined,
    swapPending: swapPending(ctx, context.stableRevision),
    progressStartTime: progress.progressStartTime,
    deadlineExceeded: progress.deadlineExceeded,
    ...(traffic !== undefined && { traffic: { target: traffic, inEffect: trafficInEffect(ctx.facts.traffic, traffic) } }),
  });
}

/** The Events a new status calls for: each once, when its condition first turns up. */
function announceStatus(ctx: DecideContext, status: RolloutStatus, missingTemplates: readonly string[], deadlineExceeded: boolean): void {
  const { facts, previous, events } = ctx;
  const waitingForTemplates = findCondition(status.conditions, 'Progressing')?.reason === TEMPLATE_MISSING_REASON;
  if (waitingForTemplates && findCondition(previous.conditions, 'Progressing')?.reason !== TEMPLATE_MISSING_REASON) {
    events.push({ type: 'Warning', reason: TEMPLATE_MISSING_REASON, message: status.message ?? `${missingTemplates.join(', ')} not found` });
  }
  if (facts.traffic?.problem !== undefined && findCondition(previous.conditions, TRAFFIC_CONDITION)?.reason !== TRAFFIC_ERROR_REASON) {
    events.push({ type: 'Warning', reason: TRAFFIC_ERROR_REASON, message: facts.traffic.problem });
  }
  if (ctx.routed && status.actualWeight !== previous.actualWeight) {
    events.push({ type: 'Normal', reason: 'TrafficShifted', message: `${status.actualWeight ?? 0}% of traffic on the canary (was ${previous.actualWeight ?? 0}%)` });
  }
  if (deadlineExceeded && findCondition(previous.conditions, 'Progressing')?.reason !== DEADLINE_REASON) {
    events.push({ type: 'Warning', reason: DEADLINE_REASON, message: status.message ?? 'progress deadline exceeded' });
  }
}

/** This reconcile's part of a restart (spec.restartAt); once every pod is new, status records it. */
function restartOf(ctx: DecideContext, status: RolloutStatus): ReturnType<typeof restartStep> {
  const { facts } = ctx;
  const restart = restartStep(facts.rollout.spec.restartAt, ctx.previous.restartedAt, facts.pods, ctx.limits.maxUnavailable, facts.now);
  if (restart.done !== undefined) {
    status.restartedAt = restart.done;
    ctx.events.push({ type: 'Normal', reason: 'RolloutRestarted', message: `every pod created before ${restart.done} was recreated` });
  }
  return restart;
}

function prunedReplicaSets(ctx: DecideContext, context: RolloutContext, targets: ReplicaSetTarget[]): string[] {
  const { facts } = ctx;
  const keep = new Set([context.stableRevision, context.currentRevision, facts.currentRevision].filter((r): r is string => r !== undefined));
  return replicaSetsToPrune(facts.replicaSets, targets, keep, ctx.settings.revisionHistoryLimit);
}

/** When this Rollout next needs a look: the earliest of its deadlines, delays and rechecks still ahead. */
function requeueAfter(
  ctx: DecideContext,
  context: RolloutContext,
  pods: PodPlan,
  progress: ProgressTracking,
  /** A restart's and a write-back retry's wake-up times. */
  later: readonly (number | undefined)[],
): number | undefined {
  const { facts } = ctx;
  const { stage, traffic } = pods;
  const wakeups: number[] = [];
  if (isPauseStage(stage) && stage === 'timedPause' && context.pauseStartTime !== undefined && !context.specPaused) {
    const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime);
    if (deadline !== undefined) wakeups.push(deadline);
  }
  for (const target of pods.replicaSets) {
    if (typeof target.scaleDownAt === 'number') wakeups.push(target.scaleDownAt);
  }
  for (const rs of facts.replicaSets) {
    const target = pods.replicaSets.find((candidate) => candidate.revision === rs.revision);
    if (rs.scaleDownAt !== undefined && target?.scaleDownAt !== null && target?.replicas !== 0) wakeups.push(rs.scaleDownAt);
  }
  const { tracked, deadlineExceeded, progressStartTime } = progress;
  if (tracked && !deadlineExceeded && progressStartTime !== undefined) wakeups.push(progressStartTime + ctx.settings.progressDeadlineMs);
  if (traffic !== undefined) {
    const settled = trafficInEffect(facts.traffic, traffic);
    wakeups.push(facts.now + (settled ? TRAFFIC_RESYNC_MS : facts.traffic?.problem !== undefined ? TRAFFIC_PROBLEM_RECHECK_MS : TRAFFIC_RECHECK_MS));
  }
  for (const at of later) if (at !== undefined) wakeups.push(at);
  const future = wakeups.filter((at) => at > facts.now);
  return future.length > 0 ? Math.min(...future) - facts.now : undefined;
}

/** An experiment waits for its pods until the progress deadline, then runs for its duration. */
function experimentWakeup(ctx: DecideContext, experiment: ExperimentAt | undefined): number | undefined {
  if (experiment === undefined) return undefined;
  return experiment.clock.availableAt === undefined ? experiment.clock.startedAt + ctx.settings.progressDeadlineMs : experimentEndsAt(experiment);
}

function servicesFor(ctx: DecideContext, snapshot: RolloutSnapshot, status: RolloutStatus): ServiceTarget[] {
  const { facts, settings } = ctx;
  const heldCanary = heldCanaryFor(ctx, snapshot);
  const serviceTargets = desiredServices({
    stableService: settings.stableService,
    canaryService: settings.canaryService,
    replicas: settings.replicas,
    stableRevision: status.stableRevision,
    currentRevision: facts.currentRevision,
    aborted: stageOf(snapshot) === 'aborted',
    replicaSets: facts.replicaSets,
  });
  const rolloutLabels = facts.rollout.spec.selector.matchLabels ?? {};
  const held = serviceTargets.map((target) => (heldCanary !== undefined && target.role === 'canary' ? { ...target, revision: heldCanary } : target));
  const pingPong = settings.pingPong;
  const pingPongTargets =
    pingPong === undefined
      ? []
      : desiredPingPongServices({
          pingPong,
          routedWith: ctx.routedWith,
          claimStable: ctx.previous.canary?.stablePingPong === undefined,
          stableRevision: status.stableRevision,
          currentRevision: facts.currentRevision,
          heldCanary,
          selects: facts.serviceSelects ?? {},
          observedWeight: ctx.observedWeight,
        });
  return [...held, ...pingPongTargets].map((target): ServiceTarget => ({ ...target, selector: serviceSelector(target.revision, rolloutLabels) }));
}

function workloadOf(ctx: DecideContext, status: RolloutStatus): Pick<RolloutPlan, 'workload'> {
  const { facts, settings } = ctx;
  const workloadRef = facts.rollout.spec.workloadRef;
  if (workloadRef === undefined) return {};
  const replicas = workloadReplicas(workloadRef.scaleDown, facts.workloadReplicas ?? 1, {
    desired: settings.replicas,
    available: status.availableReplicas ?? 0,
    fullyRolledOut: status.phase === 'Healthy' && status.stableRevision === status.currentRevision,
  });
  return replicas === undefined ? {} : { workload: { name: workloadRef.name, from: facts.workloadReplicas ?? 1, replicas, scaleDown: workloadRef.scaleDown ?? 'never' } };
}

function replicaSetChangesFor(ctx: DecideContext, targets: ReplicaSetTarget[], status: RolloutStatus): ReplicaSetChange[] {
  return replicaSetChanges({
    rollout: ctx.facts.rollout,
    template: ctx.facts.template,
    targets,
    replicaSets: ctx.facts.replicaSets,
    stableRevision: status.stableRevision,
    currentRevision: status.currentRevision,
  });
}

function analysisRunChangesFor(ctx: DecideContext, wanted: DesiredAnalysisRun[], status: RolloutStatus): AnalysisRunChanges {
  return analysisRunChanges({
    rollout: ctx.facts.rollout,
    wanted,
    owned: ctx.facts.analysisRuns,
    templates: ctx.facts.templates,
    stableRevision: status.stableRevision,
    historyLimit: ctx.settings.analysisRunHistoryLimit,
  });
}

/** Event and post-rollout hook calls for this reconcile's Events: called once every Event is in. */
function notificationsOf(ctx: DecideContext, snapshot: RolloutSnapshot): WebhookNotification[] {
  const { context } = snapshot;
  return notificationsFor(ctx.settings.webhooks, ctx.events, {
    rollout: ctx.rollout,
    revision: context.currentRevision ?? ctx.facts.currentRevision,
    phase: hookPhase(stageOf(snapshot), context.gate),
    now: ctx.facts.now,
  });
}
