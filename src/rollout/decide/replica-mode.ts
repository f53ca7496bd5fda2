import type { RolloutSettings } from './defaults.js';
import { canaryStepCounts, type ReplicaMode } from './replicas.js';
import type { Stage } from './stage.js';
import { setWeightAt } from './steps.js';
import { stableShareOf } from '../../traffic/plan.js';

/** Which revision gets how many pods, by stage. */
export function replicaModeOf(
  stage: Stage,
  context: { stableRevision: string | undefined; currentRevision: string | undefined; steps: RolloutSettings['steps']; stepIndex: number },
  replicas: number,
  /** With a router, for dynamicStableScale: the canary weight it reports in effect. Without one, maxSurge (pods). */
  split: { router: true; dynamicStableWeight?: number } | { router: false; maxSurge: number },
  fallbackRevision: string,
): ReplicaMode {
  const stableRevision = context.stableRevision ?? fallbackRevision;
  const canaryRevision = context.currentRevision ?? fallbackRevision;
  if (stage === 'stable' || canaryRevision === stableRevision) return { kind: 'stable', revision: stableRevision };
  if (stage === 'aborted') return { kind: 'aborted', stableRevision, canaryRevision };
  // The stable side keeps what the larger of the traffic in effect and the traffic asked for needs.
  const dynamicStableWeight = split.router ? split.dynamicStableWeight : undefined;
  const dynamicStable =
    dynamicStableWeight === undefined ? undefined : stableShareOf(replicas, Math.min(dynamicStableWeight, setWeightAt(context.steps, context.stepIndex)));
  const counts = canaryStepCounts(
    context.steps,
    context.stepIndex,
    replicas,
    split.router ? { router: true, ...(dynamicStable !== undefined && { dynamicStable }) } : split,
  );
  return { kind: 'canary', stableRevision, canaryRevision, ...counts };
}
