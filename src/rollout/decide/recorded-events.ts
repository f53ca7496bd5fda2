import type { Announcement } from './machine.js';
import { COUNTS_STALENESS_MS } from './status-writes.js';

/** Announcements that say where a canary went after a step: the step before it is done, by their very existence. */
const MOVED_ON = new Set(['RolloutStepCompleted', 'RolloutPaused', 'RolloutCompleted', 'WebhookGate']);

/**
 * Announcements of a canary moving on by itself: what follows (the step it settles at, a pause, a gate, promotion)
 * needs only its pods to be ready, so it usually comes soon after and may tell these too, in one Event.
 */
const MOVING = new Set(['RolloutStarted', 'RolloutSuperseded', 'RolloutRetried', 'RolloutPromoted', 'RolloutStepCompleted']);

/**
 * How long an Event of a canary moving on may wait for the Rollout's next transition, once its pods are not what it
 * waits for: the same bound as the counts in status (COUNTS_STALENESS_MS), so nothing `kubectl describe` shows is
 * staler.
 */
export const MOVING_EVENT_HOLD_MS = COUNTS_STALENESS_MS;

/**
 * How long this reconcile's Events of a canary moving on may wait. While the Rollout waits for its pods (the
 * progress deadline runs), where it goes next comes when they are ready, however long that takes on a busy
 * cluster, or else the progress deadline's Warning comes, which is told at once and tells them too. So they wait
 * up to the progress deadline: a start and its pause are one Event at any load. Otherwise, MOVING_EVENT_HOLD_MS.
 */
export function movingEventHoldMs(awaitingPods: boolean, progressDeadlineMs: number): number {
  return awaitingPods ? Math.max(MOVING_EVENT_HOLD_MS, progressDeadlineMs) : MOVING_EVENT_HOLD_MS;
}

/** A Kubernetes Event to record for a transition, and how long it may wait to be told with the next one (0: not at all). */
export interface RecordedEvent extends Announcement {
  holdMs: number;
}

/**
 * The Kubernetes Events a reconcile's announcements become: one per transition. A completed step that the same
 * reconcile moves on from (to a pause, the next step, a gate, promotion) is told by the Event of where it went, so
 * it is not written on its own. An Event that announces a canary moving on (MOVING) may wait `movingHoldMs` (see
 * movingEventHoldMs) for the Rollout's next transition, to be told in its Event; Warnings never wait. Webhooks and
 * notifications still get every announcement.
 */
export function eventsToRecord(announcements: readonly Announcement[], movingHoldMs: number): RecordedEvent[] {
  return announcements
    .filter((announcement, index) => announcement.reason !== 'RolloutStepCompleted' || !announcements.slice(index + 1).some((later) => MOVED_ON.has(later.reason)))
    .map((announcement) => ({ ...announcement, holdMs: announcement.type === 'Normal' && MOVING.has(announcement.reason) ? movingHoldMs : 0 }));
}
