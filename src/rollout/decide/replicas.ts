import type { IntOrPercent } from '../../api/meta.js';
import type { CanaryStep } from '../../api/rollout.js';
import type { ReplicaSetFacts } from './facts.js';
import { canaryScaleAt, setWeightAt } from './steps.js';

export interface ScalingLimits {
  /** Pods allowed above spec.replicas. */
  maxSurge: number;
  /** Pods allowed below spec.replicas, counting only available pods. */
  maxUnavailable: number;
}

/** Kubernetes' intstr scaling: percentages of `total`, rounded as the caller says. */
export function resolveIntOrPercent(value: IntOrPercent, total: number, rounding: 'up' | 'down'): number {
  if (typeof value === 'number') return value;
  const exact = (Number(value.slice(0, -1)) * total) / 100;
  return rounding === 'up' ? Math.ceil(exact) : Math.floor(exact);
}

/** Surge rounds up, unavailable rounds down; both 0 would deadlock, so unavailable becomes 1 (Kubernetes' ResolveFenceposts). */
export function scalingLimits(replicas: number, maxSurge: IntOrPercent, maxUnavailable: IntOrPercent): ScalingLimits {
  const surge = resolveIntOrPercent(maxSurge, replicas, 'up');
  const unavailable = resolveIntOrPercent(maxUnavailable, replicas, 'down');
  return { maxSurge: surge, maxUnavailable: surge === 0 && unavailable === 0 ? 1 : unavailable };
}

/** A share of the pods, rounded up: a router's canary and setCanaryScale's weight. */
function ceilShare(replicas: number, weight: number): number {
  return Math.min(replicas, Math.max(0, Math.ceil((weight * replicas) / 100)));
}

/**
 * Without a traffic router the pod ratio is the traffic split, rounded as Argo Rollouts rounds it: of the canary
 * counts around the weight (rounded up or down, among `replicas` pods or, when maxSurge allows, one more), the one
 * whose share is nearest, the earlier on a tie; a weight strictly between 0 and 100 never leaves either side at 0
 * when a surge pod can avoid it. One replica at 50% is one canary pod beside the stable one, not the canary alone.
 */
export function weightedCounts(replicas: number, weight: number, maxSurge: number): { canary: number; stable: number } {
  if (replicas === 0) return { canary: 0, stable: 0 };
  const up = Math.ceil((replicas * weight) / 100);
  const down = Math.floor((replicas * weight) / 100);
  // Equidistant shares (3 pods at 50%): only the rounded-up count is a candidate.
  const tied = (total: number): boolean => {
    const exact = total * (weight / 100);
    return exact - Math.trunc(exact) === 0.5;
  };
  const zeroAllowed = weight === 100 || weight === 0 || (replicas === 1 && maxSurge === 0);
  const options: Array<{ canary: number; total: number }> = [];
  if (up < replicas || zeroAllowed) options.push({ canary: up, total: replicas });
  if (!tied(replicas) && (down !== 0 || zeroAllowed)) options.push({ canary: down, total: replicas });
  if (maxSurge > 0) {
    options.push({ canary: up, total: replicas + 1 });
    if (!tied(replicas + 1) && (down !== 0 || zeroAllowed)) options.push({ canary: down, total: replicas + 1 });
  }
  const delta = ({ canary, total }: { canary: number; total: number }): number => Math.abs((canary * 100) / total - weight);
  const best = options.reduce<{ canary: number; total: number } | undefined>((chosen, option) => (chosen === undefined || delta(option) < delta(chosen) ? option : chosen), undefined);
  return best === undefined ? { canary: 0, stable: replicas } : { canary: best.canary, stable: best.total - best.canary };
}

/** How a step's weight becomes pods: a router splits traffic by itself; without one the pods are the split. */
export type PodSplit =
  | { router: true; /** dynamicStableScale: the stable pods the traffic it still serves needs. */ dynamicStable?: number }
  | { router: false; maxSurge: number };

/** Pod counts the step at `stepIndex` asks for, setCanaryScale included. */
export function canaryStepCounts(steps: readonly CanaryStep[], stepIndex: number, replicas: number, split: PodSplit): { canary: number; stable: number } {
  const weight = setWeightAt(steps, stepIndex);
  const scale = canaryScaleAt(steps, stepIndex);
  const scaled = scale?.replicas ?? (scale?.weight !== undefined ? ceilShare(replicas, scale.weight) : undefined);
  // A router splits traffic by itself, so the stable keeps every pod.
  if (split.router) return { canary: scaled ?? ceilShare(replicas, weight), stable: split.dynamicStable ?? replicas };
  if (scaled !== undefined) return { canary: scaled, stable: Math.max(0, replicas - scaled) };
  return weightedCounts(replicas, weight, split.maxSurge);
}

export interface RollingSet {
  revision: string;
  replicas: number;
  availableReplicas: number;
  desired: number;
}

/**
 * One step of a rolling move towards each set's `desired` count. `sets` is ordered by who gives
 * up pods first (old first); scale-up goes the other way (most wanted first). Scale-up stays within
 * replicas + maxSurge; scale-down never takes available pods below replicas - maxUnavailable, though
 * pods that are not available can always go (the ReplicaSet controller deletes those first).
 */
export function rollTowards(sets: readonly RollingSet[], replicas: number, limits: ScalingLimits): Map<string, number> {
  const targets = new Map(sets.map((set) => [set.revision, set.replicas]));
  let room = replicas + limits.maxSurge - sets.reduce((sum, set) => sum + set.replicas, 0);
  for (const set of [...sets].reverse()) {
    if (room <= 0) break;
    if (set.desired > set.replicas) {
      const add = Math.min(room, set.desired - set.replicas);
      targets.set(set.revision, set.replicas + add);
      room -= add;
    }
  }
  const minAvailable = Math.max(0, replicas - limits.maxUnavailable);
  let budget = sets.reduce((sum, set) => sum + set.availableReplicas, 0) - minAvailable;
  for (const set of sets) {
    if (set.desired >= set.replicas) continue;
    const excess = set.replicas - set.desired;
    const free = Math.min(excess, Math.max(0, set.replicas - set.availableReplicas));
    const paid = Math.min(excess - free, Math.max(0, budget));
    budget -= paid;
    targets.set(set.revision, set.replicas - free - paid);
  }
  return targets;
}

/** Which revision should end up with how many pods, by the machine's state. */
export type ReplicaMode =
  | { kind: 'stable'; revision: string }
  | { kind: 'canary'; stableRevision: string; canaryRevision: string; canary: number; stable: number }
  | { kind: 'aborted'; stableRevision: string; canaryRevision: string };

/** Final pod counts per revision; revisions not listed end at 0. */
export function idealCounts(mode: ReplicaMode, replicas: number): Map<string, number> {
  switch (mode.kind) {
    case 'stable':
      return new Map([[mode.revision, replicas]]);
    case 'canary':
      return new Map([
        [mode.stableRevision, mode.stable],
        [mode.canaryRevision, mode.canary],
      ]);
    case 'aborted':
      return new Map([[mode.stableRevision, replicas]]);
  }
}

/**
 * True when every owned ReplicaSet has exactly its ideal count, all of it available, and
 * everything else is at 0. A missing ReplicaSet counts as 0; a missing stable ReplicaSet cannot be
 * recreated (only the current template is known), so it is not waited for.
 */
export function isAtCounts(replicaSets: readonly ReplicaSetFacts[], ideal: ReadonlyMap<string, number>, stableRevision?: string): boolean {
  for (const [revision, count] of ideal) {
    const replicaSet = replicaSets.find((rs) => rs.revision === revision);
    if (replicaSet === undefined) {
      if (count > 0 && revision !== stableRevision) return false;
      continue;
    }
    if (replicaSet.replicas !== count || replicaSet.availableReplicas !== count) return false;
  }
  return replicaSets.every((rs) => ideal.has(rs.revision) || (rs.replicas === 0 && rs.availableReplicas === 0));
}

export interface ReplicaSetTarget {
  revision: string;
  replicas: number;
  /** Epoch ms to scale down at; null clears the annotation; undefined leaves it alone. */
  scaleDownAt?: number | null;
  /** The ReplicaSet for the current revision does not exist yet. */
  create?: boolean;
}

export interface ReplicaPlanInput {
  mode: ReplicaMode;
  now: number;
  replicas: number;
  limits: ScalingLimits;
  currentRevision: string;
  replicaSets: readonly ReplicaSetFacts[];
  hasTrafficRouter: boolean;
  abortScaleDownDelayMs: number;
  /**
   * With a router. `trafficOffCanary`: the router reports no traffic on the canary, so an aborted canary's
   * scale-down delay may start. `stableSwitched`: the stable side selects the promoted revision and takes all
   * traffic, so older revisions may start their scale-down delay (`scaleDownDelayMs`); until then they keep their pods.
   */
  trafficOffCanary?: boolean;
  /** With a router: a superseded canary revision that still carries traffic keeps its pods until the router takes it off. */
  keepServing?: string;
  stableSwitched?: boolean;
  scaleDownDelayMs?: number;
  /** Old revisions that may keep their pods through the scale-down delay at once, the newest first (Argo's). */
  scaleDownDelayRevisionLimit?: number;
}

/** Desired spec.replicas and scale-down annotations for every ReplicaSet, this reconcile. */
export function planReplicaSets(input: ReplicaPlanInput): ReplicaSetTarget[] {
  const { mode, now, replicas } = input;
  const ideal = idealCounts(mode, replicas);
  const existing = [...input.replicaSets].sort((a, b) => a.revisionNumber - b.revisionNumber || a.createdAt - b.createdAt);
  const creates = mode.kind !== 'aborted' && !existing.some((rs) => rs.revision === input.currentRevision);
  const sets: ReplicaSetFacts[] = creates
    ? [...existing, { name: '', revision: input.currentRevision, revisionNumber: Infinity, replicas: 0, readyReplicas: 0, availableReplicas: 0, createdAt: now }]
    : existing;

  const targets = new Map<string, ReplicaSetTarget>();
  const rolling: RollingSet[] = [];
  const fix = (rs: ReplicaSetFacts, count: number, scaleDownAt?: number | null): void => {
    targets.set(rs.revision, { revision: rs.revision, replicas: count, ...(scaleDownAt !== undefined && { scaleDownAt }) });
  };

  for (const rs of sets) {
    const desired = ideal.get(rs.revision) ?? 0;
    if (desired > 0) {
      // Wanted again (retry, revert): a pending scale-down no longer applies.
      const clear = rs.scaleDownAt !== undefined ? null : undefined;
      rolling.push({ revision: rs.revision, replicas: rs.replicas, availableReplicas: rs.availableReplicas, desired });
      if (clear === null) targets.set(rs.revision, { revision: rs.revision, replicas: rs.replicas, scaleDownAt: null });
      continue;
    }
    if (rs.replicas === 0) {
      fix(rs, 0, rs.scaleDownAt !== undefined ? null : undefined);
      continue;
    }
    if (rs.scaleDownAt !== undefined) {
      if (rs.scaleDownAt <= now) fix(rs, 0, null);
      else rolling.push({ revision: rs.revision, replicas: rs.replicas, availableReplicas: rs.availableReplicas, desired: rs.replicas });
      continue;
    }
    if (rs.revision === input.keepServing) {
      fix(rs, rs.replicas);
      continue;
    }
    if (mode.kind === 'aborted' && rs.revision === mode.canaryRevision) {
      // Without a router the pods are the traffic: an aborted canary loses them at once. With one, they serve
      // until the router reports the traffic gone, and for abortScaleDownDelaySeconds after.
      if (!input.hasTrafficRouter) fix(rs, 0);
      else if (input.trafficOffCanary === true) fix(rs, rs.replicas, now + input.abortScaleDownDelayMs);
      else fix(rs, rs.replicas);
      continue;
    }
    if (mode.kind === 'stable' && input.hasTrafficRouter) {
      // A promotion behind a router: the old revision serves until the stable side has switched, then for scaleDownDelaySeconds.
      const delay = input.scaleDownDelayMs ?? 0;
      if (input.stableSwitched !== true) fix(rs, rs.replicas);
      else if (delay > 0) fix(rs, rs.replicas, now + delay);
      else fix(rs, 0);
      continue;
    }
    rolling.push({ revision: rs.revision, replicas: rs.replicas, availableReplicas: rs.availableReplicas, desired: 0 });
  }

  // Old first, then stable, then canary: that order gives up pods first and gets them last.
  const rank = (revision: string): number =>
    revision === input.currentRevision ? 2 : mode.kind === 'canary' && revision === mode.stableRevision ? 1 : 0;
  const ordered = rolling
    .map((set, position) => ({ set, position }))
    .sort((a, b) => rank(a.set.revision) - rank(b.set.revision) || a.position - b.position)
    .map(({ set }) => set);
  const fixedTotals = [...targets.entries()].filter(([revision]) => !rolling.some((set) => set.revision === revision));
  // Pods already fixed this reconcile still occupy surge room and still serve.
  const pinned: RollingSet[] = fixedTotals.map(([revision, target]) => {
    const rs = sets.find((candidate) => candidate.revision === revision);
    const available = Math.min(rs?.availableReplicas ?? 0, target.replicas);
    return { revision, replicas: target.replicas, availableReplicas: available, desired: target.replicas };
  });
  const rolled = rollTowards([...pinned, ...ordered], replicas, input.limits);
  for (const set of ordered) {
    const previous = targets.get(set.revision);
    targets.set(set.revision, { ...previous, revision: set.revision, replicas: rolled.get(set.revision) ?? set.replicas });
  }

  limitDelayedRevisions(sets, targets, input);
  return sets.map((rs) => {
    const target = targets.get(rs.revision) ?? { revision: rs.revision, replicas: rs.replicas };
    return creates && rs.revision === input.currentRevision ? { ...target, create: true } : target;
  });
}

/**
 * scaleDownDelayRevisionLimit: of the old revisions keeping their pods through a scale-down delay (one scheduled, or
 * being scheduled now), only the newest `limit` do; the others go to 0 now, their delay cleared. The stable and the
 * current revision are never old.
 */
function limitDelayedRevisions(sets: readonly ReplicaSetFacts[], targets: Map<string, ReplicaSetTarget>, input: ReplicaPlanInput): void {
  const limit = input.scaleDownDelayRevisionLimit;
  if (limit === undefined) return;
  const stable = input.mode.kind === 'stable' ? input.mode.revision : input.mode.stableRevision;
  const waiting = sets
    .filter((rs) => rs.revision !== stable && rs.revision !== input.currentRevision)
    .filter((rs) => {
      const target = targets.get(rs.revision);
      const delayedUntil = target?.scaleDownAt === undefined ? rs.scaleDownAt : target.scaleDownAt;
      return typeof delayedUntil === 'number' && delayedUntil > input.now && (target?.replicas ?? rs.replicas) > 0;
    })
    .sort((a, b) => b.revisionNumber - a.revisionNumber || b.createdAt - a.createdAt);
  for (const rs of waiting.slice(limit)) targets.set(rs.revision, { revision: rs.revision, replicas: 0, ...(rs.scaleDownAt !== undefined && { scaleDownAt: null }) });
}
