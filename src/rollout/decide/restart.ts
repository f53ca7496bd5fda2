/** What the shell saw of one Pod of an owned ReplicaSet, for a restart. */
export interface PodFacts {
  name: string;
  /** Epoch ms. */
  createdAt: number;
  ready: boolean;
  /** Has a deletionTimestamp: already on its way out. */
  terminating: boolean;
}

export interface RestartPlan {
  /** Pods to delete now, oldest first; their ReplicaSets replace them. */
  deletePods: string[];
  /** Every Pod is younger than restartAt and ready: status.restartedAt may be recorded. */
  done: boolean;
}

/**
 * A restart (spec.restartAt) recreates every Pod created before restartAt, a few at a time: at most
 * maxUnavailable Pods (at least one, since the default of 0 would never start) may be down at once,
 * counting Pods already unready or terminating, so a restart never takes more capacity than a rollout would.
 */
export function planRestart(restartAt: number, pods: PodFacts[], maxUnavailable: number): RestartPlan {
  const down = pods.filter((pod) => pod.terminating || !pod.ready).length;
  const stale = pods.filter((pod) => !pod.terminating && pod.createdAt < restartAt).sort((a, b) => a.createdAt - b.createdAt);
  const budget = Math.max(0, Math.max(1, maxUnavailable) - down);
  return {
    deletePods: stale.slice(0, budget).map((pod) => pod.name),
    done: stale.length === 0 && down === 0,
  };
}

/** restartAt as epoch ms when a restart is due and not yet recorded as done; undefined otherwise. */
export function pendingRestart(restartAt: string | undefined, restartedAt: string | undefined): number | undefined {
  if (restartAt === undefined || restartAt === restartedAt) return undefined;
  const at = Date.parse(restartAt);
  return Number.isNaN(at) ? undefined : at;
}

/** Pods are not watched, so a restart in progress checks back this often. */
export const RESTART_POLL_MS = 1000;

/**
 * This reconcile's part of a restart: nothing before restartAt (wake then), then the pods to delete, and once every
 * pod is new and ready, the restartedAt to record. `pods` is what the shell read while the restart is due.
 */
export function restartStep(
  restartAt: string | undefined,
  restartedAt: string | undefined,
  pods: readonly PodFacts[] | undefined,
  maxUnavailable: number,
  now: number,
): { podsToDelete: string[]; done?: string; wakeAt?: number } {
  const at = pendingRestart(restartAt, restartedAt);
  if (restartAt === undefined || at === undefined) return { podsToDelete: [] };
  if (at > now) return { podsToDelete: [], wakeAt: at };
  if (pods === undefined) return { podsToDelete: [], wakeAt: now + RESTART_POLL_MS };
  const restart = planRestart(at, [...pods], maxUnavailable);
  return restart.done ? { podsToDelete: restart.deletePods, done: restartAt } : { podsToDelete: restart.deletePods, wakeAt: now + RESTART_POLL_MS };
}
