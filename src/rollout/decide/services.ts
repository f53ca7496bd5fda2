import type { ReplicaSetFacts } from './facts.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';

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
  /** The merge patch of its spec.selector that makes it select `revision`. */
  selector: Record<string, string | null>;
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
export function desiredServices(input: ServiceInput): Array<Omit<ServiceTarget, 'selector'>> {
  const stable = input.stableRevision;
  if (stable === undefined) return [];
  const availableOf = (revision: string): number => input.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
  const othersAvailable = input.replicaSets.reduce((sum, rs) => sum + (rs.revision === stable ? 0 : rs.availableReplicas), 0);
  const promoting = input.currentRevision === stable && availableOf(stable) < input.replicas && othersAvailable > 0;
  const targets: Array<Omit<ServiceTarget, 'selector'>> = [];
  if (input.stableService !== undefined) targets.push({ name: input.stableService, role: 'stable', revision: promoting ? null : stable });
  if (input.canaryService !== undefined) {
    targets.push({ name: input.canaryService, role: 'canary', revision: input.aborted || input.currentRevision === stable ? stable : input.currentRevision });
  }
  return targets;
}

/**
 * The selector patch for one revision's pods, or for every pod of the Rollout (null): then the Rollout's own labels
 * stay in the selector, so nothing else is ever selected.
 */
export function serviceSelector(revision: string | null, rolloutLabels: Readonly<Record<string, string>>): Record<string, string | null> {
  return revision === null ? { ...rolloutLabels, [LABEL_POD_TEMPLATE_HASH]: null } : { [LABEL_POD_TEMPLATE_HASH]: revision };
}

/**
 * Two Rollouts steering one Service would repoint it on every reconcile: the second one to come is refused. Returns
 * why, for the first Service named by the Rollout that another Rollout has claimed.
 */
export function claimConflict(names: ReadonlyArray<string | undefined>, owners: Readonly<Record<string, string | undefined>>, owner: string): string | undefined {
  for (const name of names) {
    if (name === undefined) continue;
    const claimedBy = owners[name];
    if (claimedBy !== undefined && claimedBy !== owner) return `Service ${name} is already steered by Rollout ${claimedBy}; a Service can serve one Rollout only`;
  }
  return undefined;
}
