/** One transition as recorded: what it says and when. */
export interface Transition {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: number;
}

/** An Event that tells one or more transitions of one object, in order: the reason and type are the last one's. */
export interface ToldEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** When the first transition it tells happened, and the last. */
  firstAt: number;
  at: number;
  transitions: Transitions;
}

export type Transitions = readonly [Transition, ...Transition[]];

/** Transitions of one object waiting to be told, and by when they must be. */
export interface HeldTransitions {
  transitions: Transitions;
  dueAt: number;
}

/** Longer than this, a told Event starts anew rather than growing (`kubectl describe` shows one line per Event). */
export const MAX_TOLD_MESSAGE = 1024;

/** Every transition but the last names its reason in the message: the Event's own reason is the last one's. */
export function toldEvent(transitions: Transitions): ToldEvent {
  const last = transitions[transitions.length - 1] ?? transitions[0];
  const earlier = transitions.slice(0, -1).map((transition) => `${transition.reason}: ${transition.message}; then `);
  return { type: last.type, reason: last.reason, message: `${earlier.join('')}${last.message}`, firstAt: transitions[0].at, at: last.at, transitions };
}

export interface HoldStep {
  held: HeldTransitions | undefined;
  /** Events to write now, in order. */
  write: ToldEvent[];
}

/**
 * One more transition of an object, which may wait `holdMs` (0: not at all). One that may wait is held, so the
 * object's next transition tells it too (a canary that starts and pauses later is one Event: "RolloutStarted: ...;
 * then paused ..."); one that may not is written now, with whatever was held before it. What is held is due by the
 * earliest bound of the transitions it tells (each is told within its own hold), and a later one never extends it.
 * Pure: the sink keeps the clock and the timers.
 */
export function offerTransition(held: HeldTransitions | undefined, transition: Transition, holdMs: number): HoldStep {
  const joined: Transitions = held === undefined ? [transition] : [...held.transitions, transition];
  if (held !== undefined && (held.dueAt <= transition.at || toldEvent(joined).message.length > MAX_TOLD_MESSAGE)) {
    // Past its bound (a late timer), or too long to grow: what was held goes now, alone, and this one starts afresh.
    const rest = offerTransition(undefined, transition, holdMs);
    return { held: rest.held, write: [toldEvent(held.transitions), ...rest.write] };
  }
  if (holdMs > 0) return { held: { transitions: joined, dueAt: Math.min(held?.dueAt ?? Infinity, transition.at + holdMs) }, write: [] };
  return { held: undefined, write: [toldEvent(joined)] };
}

/** What is due at `now` (or everything, on shutdown: `now` = Infinity) is written; the rest keeps waiting. */
export function releaseDue(held: HeldTransitions | undefined, now: number): HoldStep {
  if (held === undefined || held.dueAt > now) return { held, write: [] };
  return { held: undefined, write: [toldEvent(held.transitions)] };
}
