import { desiredAnalysisRuns, missingTemplatesOf, type DesiredAnalysisRun } from './analysis-runs.js';
import { lowestWeightServed, managedRoutesAt, trafficInEffect } from '../../traffic/plan.js';
import type { TrafficTarget } from '../../traffic/types.js';
import { plannedStepIndex, wantedCalls, type WebhookCall } from './hooks.js';
import type { DecideContext } from './context.js';
import type { RolloutContext, RolloutSnapshot } from './machine.js';
import { replicaModeOf } from './replica-mode.js';
import type { ReplicaMode } from './replicas.js';
import { stageOf } from './stage.js';
import { awaitingSwap, pingPongServices } from './services.js';
import { setWeightAt } from './steps.js';
import { experimentAt, experimentDestinations } from './experiment.js';
import { baselineDestinations, baselineReady, type BaselineTraffic } from './baseline.js';

/** What tells two positions of the machine apart: a transition that leaves this unchanged did not move it. */
export function positionKey(snapshot: RolloutSnapshot): string {
  const { stableRevision, currentRevision, stepIndex, abortedAt, pauseStartTime, experiment } = snapshot.context;
  return JSON.stringify([snapshot.value, stableRevision, currentRevision, stepIndex, abortedAt, pauseStartTime, experiment?.availableAt]);
}

/** The machine's context with the step index the planners work at. */
export function positionOf(current: RolloutSnapshot): RolloutContext {
  return { ...current.context, stepIndex: plannedStepIndex(stageOf(current), current.context) };
}

export function callsFor(ctx: DecideContext, current: RolloutSnapshot): WebhookCall[] {
  return wantedCalls({
    hooks: ctx.settings.webhooks,
    stage: stageOf(current),
    gate: current.context.gate,
    rollout: ctx.rollout,
    revision: current.context.currentRevision ?? ctx.facts.currentRevision,
    attempt: current.context.attempt,
    stepIndex: current.context.stepIndex,
  });
}

export function stepCountsFor(ctx: DecideContext, current: RolloutSnapshot): ReplicaMode {
  const { settings, observedWeight } = ctx;
  const { stableRevision } = current.context;
  // pingPong: until the swap after a promotion is done, the pods stay as the promotion has them: the stable side still
  // serves the revision before it from its pods, and whatever came since (a canary, an abort) waits for the swap.
  if (stableRevision !== undefined && swapPending(ctx, stableRevision)) return { kind: 'stable', revision: stableRevision };
  return replicaModeOf(
    stageOf(current),
    positionOf(current),
    settings.replicas,
    ctx.routed
      ? {
          router: true,
          // A superseded canary's traffic goes back to the stable side, which is sized for all of it meanwhile.
          ...(settings.dynamicStableScale && { dynamicStableWeight: heldCanaryFor(ctx, current) !== undefined ? 0 : (observedWeight ?? 0) }),
        }
      : { router: false, maxSurge: ctx.limits.maxSurge },
    ctx.facts.currentRevision,
  );
}

function availableOf(ctx: DecideContext, revision: string | undefined): number {
  return ctx.facts.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
}

/**
 * With a router, a canary revision the template has moved past (a new image mid-canary) keeps the canary side, and
 * its pods, while the router still reports weight on it: the new revision has no pods to take that traffic yet.
 */
export function heldCanaryFor(ctx: DecideContext, current: RolloutSnapshot): string | undefined {
  if (!ctx.routed) return undefined;
  const stage = stageOf(current);
  if (stage === 'stable' || stage === 'aborted') return undefined;
  const selects = canarySideSelects(ctx);
  if (typeof selects !== 'string' || selects === current.context.currentRevision || selects === current.context.stableRevision) return undefined;
  return ctx.observedWeight === 0 ? undefined : selects;
}

/** What the canary side selects; with pingPong, its Service alone (the one whose selector must not move under traffic). */
function canarySideSelects(ctx: DecideContext): string | null | undefined {
  const { pingPong } = ctx.settings;
  if (pingPong === undefined) return ctx.facts.traffic?.canarySelects;
  return ctx.facts.serviceSelects?.[pingPongServices(pingPong, ctx.routedWith).canary];
}

type TargetBase = Pick<TrafficTarget, 'headerRoutes' | 'mirrorRoutes' | 'stableRevision' | 'canaryRevision' | 'additionalDestinations'>;

/**
 * What the router should make true at `current`. A canary gets its step's weight only once its pods are
 * available; until then it keeps no more than it has. A promotion sends everything to the promoted revision once
 * it is fully available, and back to the stable side once that selects it. An abort takes all traffic off at once.
 */
export function trafficTargetFor(ctx: DecideContext, current: RolloutSnapshot): TrafficTarget | undefined {
  if (!ctx.routed) return undefined;
  const context = positionOf(current);
  const base: TargetBase = { headerRoutes: [], mirrorRoutes: [], additionalDestinations: [], stableRevision: context.stableRevision, canaryRevision: context.currentRevision };
  if (swapPending(ctx, context.stableRevision)) return swapTarget(ctx, { ...base, canaryRevision: context.stableRevision }, context.stableRevision);
  const superseded = heldCanaryFor(ctx, current);
  if (superseded !== undefined) return supersededTarget(ctx, current, superseded);
  const stage = stageOf(current);
  if (stage === 'aborted') return { ...base, canaryRevision: context.stableRevision, canaryWeight: 0 };
  // pingPong: the stable side selects the stable revision (or the canary side has yet to take it): all traffic there.
  if (stage === 'stable') return ctx.settings.pingPong !== undefined ? { ...base, canaryWeight: 0 } : promotedTarget(ctx, base, context.stableRevision);
  return canaryTarget(ctx, current, base, context);
}

/** pingPong: the stable revision waits on the canary side for the roles to swap (awaitingSwap). */
export function swapPending(ctx: DecideContext, stableRevision: string | undefined): boolean {
  const { pingPong } = ctx.settings;
  return pingPong !== undefined && awaitingSwap(pingPong, ctx.routedWith, stableRevision, ctx.facts.serviceSelects ?? {});
}

/**
 * Whether the routers report what the canary's step asks of them. While a superseded canary keeps the canary side, or
 * pingPong's swap of an earlier promotion is under way, they are asked for that first; while the canary or its
 * baseline is not whole, for no more than it has. Whatever they report then is not the step's traffic, even when it
 * reads as trafficTargetFor's target.
 */
export function stepTrafficInEffect(ctx: DecideContext, current: RolloutSnapshot): boolean {
  const target = trafficTargetFor(ctx, current);
  if (target === undefined) return true;
  const elsewhere = heldCanaryFor(ctx, current) !== undefined || swapPending(ctx, current.context.stableRevision);
  return !elsewhere && canaryReady(ctx, positionOf(current), stepCountsFor(ctx, current)) && trafficInEffect(ctx.facts.traffic, target);
}

/** The canary has its step's pods available, and its baseline (which takes the same share beside it) is routable. */
function canaryReady(ctx: DecideContext, context: RolloutContext, mode: ReplicaMode): boolean {
  return mode.kind === 'canary' && availableOf(ctx, context.currentRevision) >= mode.canary && baselineReady(baselineTrafficOf(ctx, context, mode));
}

function supersededTarget(ctx: DecideContext, current: RolloutSnapshot, superseded: string): TrafficTarget {
  const { settings } = ctx;
  // Off the superseded canary first; the canary side moves to the new revision once the router reports 0. With
  // dynamicStableScale, only as fast as the stable side's available pods can serve what comes back, unless the
  // superseded canary has no available pod: it serves nothing, so keeping its weight keeps nothing.
  const served = lowestWeightServed(settings.replicas, availableOf(ctx, current.context.stableRevision));
  const serving = availableOf(ctx, superseded) > 0;
  const canaryWeight = settings.dynamicStableScale && serving ? Math.min(ctx.observedWeight ?? 0, served) : 0;
  return { headerRoutes: [], mirrorRoutes: [], additionalDestinations: [], stableRevision: current.context.stableRevision, canaryRevision: superseded, canaryWeight };
}

function promotedTarget(ctx: DecideContext, base: TargetBase, stable: string | undefined): TrafficTarget {
  const { facts } = ctx;
  const promoting = facts.replicaSets.some((rs) => rs.revision !== stable && rs.availableReplicas > 0);
  if (!promoting || facts.traffic?.stableSelects === stable) return { ...base, canaryWeight: 0 };
  if (availableOf(ctx, stable) >= ctx.settings.replicas) return { ...base, canaryWeight: 100 };
  // Like the stable Service, a stable subset selects every pod of the Rollout until the promoted revision is whole.
  return { ...base, stableRevision: undefined, canaryWeight: Math.min(100, Math.max(0, ctx.observedWeight ?? 0)) };
}

/**
 * pingPong, awaiting the swap: no Service changes its selector under traffic, so the stable revision takes all
 * traffic on the canary side (which selects it) before the roles swap; the old stable side keeps its pods until then.
 */
function swapTarget(ctx: DecideContext, base: TargetBase, stable: string | undefined): TrafficTarget {
  if (availableOf(ctx, stable) >= ctx.settings.replicas) return { ...base, canaryWeight: 100 };
  return { ...base, canaryWeight: Math.min(100, Math.max(0, ctx.observedWeight ?? 0)) };
}

function canaryTarget(ctx: DecideContext, current: RolloutSnapshot, base: TargetBase, context: RolloutContext): TrafficTarget {
  const { settings } = ctx;
  const mode = stepCountsFor(ctx, current);
  const stepWeight = setWeightAt(context.steps, context.stepIndex);
  const canaryAvailable = availableOf(ctx, context.currentRevision);
  // While the router cannot say what is in effect (a Gateway taking up another change), the weight it last reported.
  const held = ctx.observedWeight ?? ctx.previous.actualWeight ?? 0;
  let canaryWeight = canaryReady(ctx, context, mode) ? stepWeight : Math.min(stepWeight, held);
  // dynamicStableScale: traffic moves back to the stable side only as fast as its available pods can serve it.
  if (settings.dynamicStableScale) canaryWeight = Math.max(canaryWeight, Math.min(held, lowestWeightServed(settings.replicas, availableOf(ctx, context.stableRevision))));
  // A revision with no available pod serves nothing: the weight the route still carries belongs to an earlier canary
  // (a new template mid-canary), or to pods that are gone.
  if (canaryAvailable === 0) canaryWeight = 0;
  const experiments = experimentTargets(ctx, current, context);
  return {
    ...base,
    canaryWeight,
    additionalDestinations: [...experiments, ...baselineDestinations(baselineTrafficOf(ctx, context, mode), canaryWeight, experiments)],
    ...managedRoutesAt(context.steps, context.stepIndex, settings.trafficRouting?.managedRoutes),
  };
}

/** What the baseline's share depends on, at a canary step. */
function baselineTrafficOf(ctx: DecideContext, context: RolloutContext, mode: ReplicaMode): BaselineTraffic | undefined {
  const { facts } = ctx;
  if (facts.rollout.spec.strategy.canary.baseline === undefined) return undefined;
  return {
    rollout: facts.rollout,
    stableRevision: context.stableRevision,
    canaryPods: mode.kind === 'canary' ? mode.canary : undefined,
    baselines: facts.baselines ?? [],
    services: facts.baselineServices ?? [],
    stablePorts: facts.stableServicePorts ?? [],
  };
}

/** While an experiment step runs: its templates' weights. */
function experimentTargets(ctx: DecideContext, current: RolloutSnapshot, context: RolloutContext): TrafficTarget['additionalDestinations'] {
  const experiment = stageOf(current) === 'experimenting' ? experimentAt(ctx.rollout.name, context) : undefined;
  if (experiment === undefined) return [];
  const { facts } = ctx;
  return experimentDestinations(experiment, {
    rollout: facts.rollout,
    canaryTemplate: facts.template,
    stable: facts.replicaSets.find((rs) => rs.revision === context.stableRevision),
    replicaSets: facts.experimentReplicaSets ?? [],
  });
}

/** The AnalysisRuns `current` wants, and the templates they name that do not exist (none are awaited while inconclusive). */
export function runsAt(ctx: DecideContext, current: RolloutSnapshot): { runs: DesiredAnalysisRun[]; missingTemplates: string[] } {
  const stage = stageOf(current);
  const runs = desiredAnalysisRuns(ctx.rollout.name, stage, current.context, ctx.settings);
  return { runs, missingTemplates: stage === 'inconclusive' ? [] : missingTemplatesOf(runs, ctx.facts.missingTemplates) };
}
