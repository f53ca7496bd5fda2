import type { DeclaredRollout } from '../api/rollout.js';
import { stepProgress } from '../rollout/decide/steps.js';

export type Verdict = 'healthy' | 'degraded' | 'progressing';

/** Exit codes of `kubectl fledge status`, the line a CI pipeline waits on. */
export const STATUS_EXIT = { healthy: 0, degraded: 1, timeout: 2 } as const;

/**
 * Healthy only once the controller has seen the latest spec (observedGeneration) and the current
 * revision is the stable one; Degraded (aborted, or past its progress deadline) ends the wait as a failure.
 */
export function verdictOf(rollout: DeclaredRollout): Verdict {
  const status = rollout.status ?? {};
  const generation = rollout.metadata.generation;
  const observed = generation === undefined || status.observedGeneration === generation;
  if (!observed) return 'progressing';
  if (status.phase === 'Degraded') return 'degraded';
  if (status.phase === 'Healthy' && status.stableRevision !== undefined && status.stableRevision === status.currentRevision) return 'healthy';
  return 'progressing';
}

/** The Step column's `k/n`: the current step's index against the number of steps, as the controller's messages count. */
export function stepOf(rollout: DeclaredRollout): string {
  return stepProgress(rollout.status?.currentStepIndex ?? 0, rollout.spec.strategy.canary.steps?.length ?? 0);
}

/** One line per observed change: what `status` prints while it waits. */
export function statusLine(rollout: DeclaredRollout): string {
  const status = rollout.status ?? {};
  return `${status.phase ?? 'Progressing'} step ${stepOf(rollout)} weight ${status.actualWeight ?? 0}%: ${status.message ?? ''}`;
}
