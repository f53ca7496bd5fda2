import type { ReplicaSetFacts } from './facts.js';

/**
 * Whether moving to `revision` is a rollback within spec.rollbackWindow: its ReplicaSet exists, is older than the
 * stable one, and is among the `revisions` newest revisions (the stable one counted), as Argo reads it: with
 * revisions 1 to 5 (5 stable) and a window of 3, going back to 4 or 3 is within it, to 2 is not. Pure.
 */
export function rollbackWithinWindow(window: { revisions: number } | undefined, revision: string, stableRevision: string | undefined, replicaSets: readonly ReplicaSetFacts[]): boolean {
  if (window === undefined) return false;
  const target = replicaSets.find((rs) => rs.revision === revision);
  const stable = replicaSets.find((rs) => rs.revision === stableRevision);
  if (target === undefined || stable === undefined || target.revisionNumber >= stable.revisionNumber) return false;
  const newer = new Set(replicaSets.filter((rs) => rs.revisionNumber > target.revisionNumber).map((rs) => rs.revisionNumber));
  return newer.size < window.revisions;
}
