import type { RolloutStatus } from '../../api/rollout.js';
import { statusChange } from './status.js';

/**
 * How long a status change that only moves counts (pod counts, the weight they make, the message that quotes them)
 * may wait before it is written. A step's pods usually come and go within it, so their counts ride along with the
 * step's next decided change: one write where there were two or three. Decided changes never wait.
 */
export const COUNTS_STALENESS_MS = 30_000;

export type StatusWrite =
  | { kind: 'none' }
  | { kind: 'now' }
  /** Only counts moved: written at `at`, or earlier with the next decided change. */
  | { kind: 'later'; at: number };

export interface StatusWriteInput {
  /** The status the Rollout has (as the cache shows it). */
  written: RolloutStatus;
  /** The status this reconcile wants. */
  desired: RolloutStatus;
  /** The plan has Events or notifications: its status write is what keeps them from being told twice. */
  announces: boolean;
  /** When a count-only difference from `written` was first held back; undefined when none is held. */
  heldSince: number | undefined;
  now: number;
  /** How long a change of counts alone may wait: COUNTS_STALENESS_MS, or 0 to write every change at once. */
  stalenessMs: number;
}

/** Whether to write the desired status now, later, or not at all. */
export function statusWriteDue({ written, desired, announces, heldSince, now, stalenessMs }: StatusWriteInput): StatusWrite {
  const change = statusChange(written, desired);
  if (change === 'none') return { kind: 'none' };
  if (change === 'decided' || announces) return { kind: 'now' };
  const at = (heldSince ?? now) + stalenessMs;
  return at <= now ? { kind: 'now' } : { kind: 'later', at };
}
