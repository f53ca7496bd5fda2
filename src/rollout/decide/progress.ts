import type { RolloutStatus } from '../../api/rollout.js';
import type { DecideContext } from './context.js';
import type { RolloutContext, RolloutSnapshot } from './machine.js';
import { positionKey } from './position.js';
import type { Stage } from './stage.js';
import type { ObservedCounts } from './status.js';

function countsChanged(previous: RolloutStatus, counts: ObservedCounts): boolean {
  return (
    previous.replicas !== counts.replicas ||
    previous.updatedReplicas !== counts.updatedReplicas ||
    previous.readyReplicas !== counts.readyReplicas ||
    previous.availableReplicas !== counts.availableReplicas
  );
}

/** Pods moved since the last status, or the machine moved from `origin` (its position right after SYNC). */
export function progressedThisReconcile(ctx: DecideContext, origin: string, current: RolloutSnapshot): boolean {
  return countsChanged(ctx.previous, ctx.counts) || positionKey(current) !== origin;
}

/** Nothing progressed this reconcile, and the progress deadline has passed since the last progress status records. */
export function stalledPastDeadline(ctx: DecideContext, origin: string, current: RolloutSnapshot): boolean {
  return !progressedThisReconcile(ctx, origin, current) && ctx.facts.now - ctx.previousProgressStart >= ctx.settings.progressDeadlineMs;
}

export interface ProgressTracking {
  /** The progress deadline runs now. */
  tracked: boolean;
  progressStartTime: number | undefined;
  deadlineExceeded: boolean;
}

export function trackProgress(
  ctx: DecideContext,
  at: { stage: Stage; context: RolloutContext; converged: boolean; missingTemplates: readonly string[]; progressed: boolean },
): ProgressTracking {
  const { stage, context } = at;
  const { facts, previousProgressStart } = ctx;
  // The progress deadline runs only while pods should be moving or a template is awaited: not in pauses,
  // analysis, or spec.paused.
  const tracked = !context.specPaused && (stage === 'weighting' || (stage === 'stable' && !at.converged) || at.missingTemplates.length > 0);
  let progressStartTime: number | undefined;
  if (tracked) {
    progressStartTime = at.progressed || Number.isNaN(previousProgressStart) ? facts.now : previousProgressStart;
  } else if (stage === 'stable' || stage === 'aborted') {
    progressStartTime = Number.isNaN(previousProgressStart) ? undefined : previousProgressStart;
  }
  const deadlineExceeded = tracked && progressStartTime !== undefined && facts.now - progressStartTime >= ctx.settings.progressDeadlineMs;
  return { tracked, progressStartTime, deadlineExceeded };
}
