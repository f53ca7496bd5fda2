import type { ReplicaSetFacts } from './facts.js';

/** What a Service named by the Rollout should select. */
export interface ServiceTarget {
  name: string;
  role: 'stable' | 'canary';
  /**
   * The pod-template hash it selects, or null for every pod of the Rollout (the hash left out of
   * its selector): while pods move from the old stable revision to the new one, that keeps every
   * available pod behind the stable Service, so its endpoints never drop during a promotion.
   */
  revision: string | null;
}

export interface ServiceInput {
  stableService: string | undefined;
  canaryService: string | undefined;
  replicas: number;
  /** status.stableRevision after this reconcile. */
  stableRevision: string | undefined;
  /** The template's revision. */
  currentRevision: string;
  aborted: boolean;
  replicaSets: readonly ReplicaSetFacts[];
}

/**
 * The stable Service selects the stable revision; once a promotion makes the template's revision
 * stable, it selects every pod of the Rollout until that revision alone is fully available (Argo
 * switches only then, but lets the old pods behind the Service go meanwhile). The canary Service
 * selects the canary, and the stable revision whenever there is none or it was aborted, so it never
 * routes to an aborted version.
 */
export function desiredServices(input: ServiceInput): ServiceTarget[] {
  const stable = input.stableRevision;
  if (stable === undefined) return [];
  const availableOf = (revision: string): number => input.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
  const othersAvailable = input.replicaSets.reduce((sum, rs) => sum + (rs.revision === stable ? 0 : rs.availableReplicas), 0);
  const promoting = input.currentRevision === stable && availableOf(stable) < input.replicas && othersAvailable > 0;
  const targets: ServiceTarget[] = [];
  if (input.stableService !== undefined) targets.push({ name: input.stableService, role: 'stable', revision: promoting ? null : stable });
  if (input.canaryService !== undefined) {
    targets.push({ name: input.canaryService, role: 'canary', revision: input.aborted || input.currentRevision === stable ? stable : input.currentRevision });
  }
  return targets;
}
