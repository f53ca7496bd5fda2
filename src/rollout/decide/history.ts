import type { ReplicaSetFacts } from './facts.js';
import type { ReplicaSetTarget } from './replicas.js';

/**
 * Old ReplicaSets (neither stable nor current) already at 0 and staying there, beyond
 * revisionHistoryLimit, oldest first: what Kubernetes' Deployment controller prunes too.
 */
export function replicaSetsToPrune(
  replicaSets: readonly ReplicaSetFacts[],
  targets: readonly ReplicaSetTarget[],
  keep: ReadonlySet<string>,
  revisionHistoryLimit: number,
): string[] {
  const idle = replicaSets.filter((rs) => {
    if (keep.has(rs.revision) || rs.replicas !== 0 || rs.availableReplicas !== 0) return false;
    return (targets.find((target) => target.revision === rs.revision)?.replicas ?? 0) === 0;
  });
  const newestFirst = [...idle].sort((a, b) => b.revisionNumber - a.revisionNumber || b.createdAt - a.createdAt);
  return newestFirst
    .slice(revisionHistoryLimit)
    .reverse()
    .map((rs) => rs.name);
}
