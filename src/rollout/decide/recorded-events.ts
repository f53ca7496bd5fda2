import type { Announcement } from './machine.js';

/** Announcements that say where a canary went after a step: the step before it is done, by their very existence. */
const MOVED_ON = new Set(['RolloutStepCompleted', 'RolloutPaused', 'RolloutCompleted', 'WebhookGate']);

/**
 * The Kubernetes Events a reconcile's announcements become: one per transition. A completed step that the same
 * reconcile moves on from (to a pause, the next step, a gate, promotion) is told by the Event of where it went, so
 * it is not written on its own. Webhooks and notifications still get every announcement.
 */
export function eventsToRecord(announcements: readonly Announcement[]): Announcement[] {
  return announcements.filter(
    (announcement, index) => announcement.reason !== 'RolloutStepCompleted' || !announcements.slice(index + 1).some((later) => MOVED_ON.has(later.reason)),
  );
}
