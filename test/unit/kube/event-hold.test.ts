import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TOLD_MESSAGE, offerTransition, releaseDue, toldEvent, type HeldTransitions, type ToldEvent, type Transition } from '../../../src/kube/event-hold.js';
import { propertyParameters } from '../property.js';

const HOLD_MS = 5_000;

interface Offered extends Transition {
  /** How long it may wait: 0, not at all. */
  holdMs: number;
}

/** Runs the hold as EventSink does: a timer writes what is held at its deadline; returns each Event with when it was written. */
function run(offers: readonly Offered[]): Array<ToldEvent & { writtenAt: number }> {
  const written: Array<ToldEvent & { writtenAt: number }> = [];
  let held: HeldTransitions | undefined;
  const timerFires = (): void => {
    if (held === undefined) return;
    const at = held.dueAt;
    const step = releaseDue(held, at);
    held = step.held;
    written.push(...step.write.map((told) => ({ ...told, writtenAt: at })));
  };
  for (const { holdMs, ...transition } of offers) {
    if (held !== undefined && held.dueAt <= transition.at) timerFires();
    const step = offerTransition(held, transition, holdMs);
    held = step.held;
    written.push(...step.write.map((told) => ({ ...told, writtenAt: transition.at })));
  }
  timerFires();
  return written;
}

/** For each transition, in order, the index of the Event that tells it. */
const eventIndexes = (written: readonly ToldEvent[]): number[] => written.flatMap((event, index) => event.transitions.map(() => index));

const offer = (reason: string, at: number, holdMs: number, message = reason.toLowerCase()): Offered => ({ type: 'Normal', reason, message, at, holdMs });

/** Transitions of one object, at increasing times: gaps below and above the hold, some that may wait. */
const offersArbitrary = fc
  .array(
    fc.record({
      gap: fc.oneof(fc.integer({ min: 0, max: HOLD_MS / 2 }), fc.integer({ min: 0, max: 3 * HOLD_MS })),
      reason: fc.constantFrom('RolloutStarted', 'RolloutStepCompleted', 'RolloutPromoted', 'RolloutPaused', 'RolloutAborted', 'RolloutCompleted'),
      message: fc.string({ minLength: 1, maxLength: 300 }),
      holdMs: fc.constantFrom(0, HOLD_MS, 4 * HOLD_MS),
      warning: fc.boolean(),
    }),
    { maxLength: 30 },
  )
  .map((items) => {
    let at = 1_000_000;
    return items.map(({ gap, reason, message, holdMs, warning }): Offered => {
      at += gap;
      return { type: warning ? 'Warning' : 'Normal', reason, message, at, holdMs };
    });
  });

describe('offerTransition: transitions of one object told together, each within the hold', () => {
  it('tells a canary that starts and pauses within the hold in one Event: the later reason, a message naming both', () => {
    const written = run([offer('RolloutStarted', 0, HOLD_MS, 'new revision abc'), offer('RolloutPaused', 3_000, 0, 'paused at step 1/2')]);
    expect(written).toEqual([
      expect.objectContaining({ reason: 'RolloutPaused', message: 'RolloutStarted: new revision abc; then paused at step 1/2', firstAt: 0, at: 3_000, writtenAt: 3_000 }),
    ]);
  });

  it('writes a held transition alone once the hold runs out, and the next one on its own', () => {
    const written = run([offer('RolloutStarted', 0, HOLD_MS), offer('RolloutPaused', HOLD_MS, 0)]);
    expect(written.map(({ reason, message, writtenAt }) => ({ reason, message, writtenAt }))).toEqual([
      { reason: 'RolloutStarted', message: 'rolloutstarted', writtenAt: HOLD_MS },
      { reason: 'RolloutPaused', message: 'rolloutpaused', writtenAt: HOLD_MS },
    ]);
  });

  it('keeps the first deadline while more transitions join, and writes them all by it', () => {
    const written = run([offer('RolloutStarted', 0, HOLD_MS), offer('RolloutStepCompleted', 3_000, HOLD_MS), offer('RolloutPaused', 6_000, 0)]);
    expect(written.map(({ reason, message, writtenAt }) => ({ reason, message, writtenAt }))).toEqual([
      { reason: 'RolloutStepCompleted', message: 'RolloutStarted: rolloutstarted; then rolloutstepcompleted', writtenAt: HOLD_MS },
      { reason: 'RolloutPaused', message: 'rolloutpaused', writtenAt: 6_000 },
    ]);
  });

  it('writes what is held when a late timer lets a transition come after the deadline', () => {
    const first = offerTransition(undefined, offer('RolloutStarted', 0, HOLD_MS), HOLD_MS);
    const late = offerTransition(first.held, offer('RolloutPaused', HOLD_MS + 10, 0), 0);
    expect(late.write.map((told) => told.reason)).toEqual(['RolloutStarted', 'RolloutPaused']);
    expect(late.held).toBeUndefined();
  });

  it('holds nothing with a hold of 0', () => {
    expect(offerTransition(undefined, offer('RolloutStarted', 0, 0), 0).write.map((told) => told.reason)).toEqual(['RolloutStarted']);
  });

  it('is due by the earliest bound of what it holds: a shorter hold brings it forward, a longer one never puts it off', () => {
    const long = offerTransition(undefined, offer('RolloutStarted', 0, 10 * HOLD_MS), 10 * HOLD_MS);
    expect(long.held?.dueAt).toBe(10 * HOLD_MS);
    const shorter = offerTransition(long.held, offer('RolloutStepCompleted', 1_000, HOLD_MS), HOLD_MS);
    expect(shorter.held?.dueAt, 'the step completed is told within its own hold').toBe(1_000 + HOLD_MS);
    const longer = offerTransition(shorter.held, offer('RolloutPromoted', 2_000, 10 * HOLD_MS), 10 * HOLD_MS);
    expect(longer.held?.dueAt, 'and so is everything held with it').toBe(1_000 + HOLD_MS);
  });

  it('property: every transition is told once, in order, by its reason or in a message, never later than the hold', () => {
    fc.assert(
      fc.property(offersArbitrary, (offers) => {
        const written = run(offers);
        // Each transition in exactly one Event, in the order they came.
        expect(written.flatMap((told) => told.transitions)).toEqual(offers.map(({ holdMs: _holdMs, ...transition }) => transition));
        for (const told of written) {
          const last = told.transitions[told.transitions.length - 1] as Transition;
          expect({ type: told.type, reason: told.reason }).toEqual({ type: last.type, reason: last.reason });
          for (const transition of told.transitions.slice(0, -1)) expect(told.message).toContain(`${transition.reason}: ${transition.message}; then `);
          expect(told.message.endsWith(last.message)).toBe(true);
          if (told.transitions.length > 1) expect(told.message.length).toBeLessThanOrEqual(MAX_TOLD_MESSAGE);
        }
        const eventOf = eventIndexes(written);
        offers.forEach((item, index) => {
          const writtenAt = written[eventOf[index] as number]?.writtenAt as number;
          // The bound: no transition is written later than its own hold after it came; one that may not wait, at once.
          expect(writtenAt - item.at).toBeLessThanOrEqual(item.holdMs);
          if (item.holdMs === 0) expect(writtenAt).toBe(item.at);
        });
      }),
      propertyParameters(300),
    );
  });

  it('property: a transition that may wait, followed within the holds by another, shares its Event when it fits', () => {
    fc.assert(
      fc.property(offersArbitrary, (offers) => {
        const written = run(offers);
        const eventOf = eventIndexes(written);
        for (let i = 0; i + 1 < offers.length; i++) {
          if (eventOf[i] === eventOf[i + 1]) continue;
          // Told apart: then the first could not wait, or the next came past what was held's bound, or together they were too long.
          const event = written[eventOf[i] as number] as ToldEvent;
          const dueAt = Math.min(...offers.filter((_, j) => eventOf[j] === eventOf[i]).map((held) => held.at + held.holdMs));
          const { holdMs: _holdMs, ...next } = offers[i + 1] as Offered;
          const together = toldEvent([...event.transitions, next] as [Transition, ...Transition[]]);
          expect((offers[i] as Offered).holdMs > 0 && next.at < dueAt && together.message.length <= MAX_TOLD_MESSAGE).toBe(false);
        }
      }),
      propertyParameters(300),
    );
  });
});
