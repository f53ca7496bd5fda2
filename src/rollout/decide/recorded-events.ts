import type { Announcement } from './machine.js';

/** Announcements that say where a canary went after a step: the step before it is done, by their very existence. */
const MOVED_ON = new Set(['RolloutStepCompleted', 'RolloutPaused', 'RolloutCompleted', 'WebhookGate']);

/**
 * Announcements of a canary moving on by itself: what follows (the step it settles at, a pause, a gate, promotion)
 * needs only its pods to be ready, so it usually comes soon after and may tell these too, in one Event.
 */
const MOVING = new Set(['RolloutStarted', 'RolloutSuperseded', 'RolloutRetried', 'RolloutPromoted', 'RolloutStepCompleted']);

/** A Kubernetes Event to record for a transition, and whether it may wait to be told with the next one. */
export interface RecordedEvent extends Announcement {
  mayWait: boolean;
}

/**
 * The Kubernetes Events a reconcile's announcements become: one per transition. A completed step that the same
 * reconcile moves on from (to a pause, the next step, a gate, promotion) is told by the Event of where it went, so
 * it is not written on its own. An Event that announces a canary moving on (MOVING) may wait for the Rollout's next
 * transition, to be told in its Event; Warnings never wait. Webhooks and notifications still get every announcement.
 */
export function eventsToRecord(announcements: readonly Announcement[]): RecordedEvent[] {
  return announcements
    .filter((announcement, index) => announcement.reason !== 'RolloutStepCompleted' || !announcements.slice(index + 1).some((later) => MOVED_ON.has(later.reason)))
    .map((announcement) => ({ ...announcement, mayWait: announcement.type === 'Normal' && MOVING.has(announcement.reason) }));
}
