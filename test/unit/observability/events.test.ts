import { describe, expect, it } from 'vitest';
import { EVENT_DEFAULTS, EventSink, type EventOutcome, type EventTarget } from '../../../src/kube/events.js';
import { createLogger } from '../../../src/observability/logger.js';

const rollout: EventTarget = { apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'shop', namespace: 'team', uid: 'u1' };
const logger = createLogger('error', {});

/** An Events API that keeps what it is asked, and answers when the test lets it (or at once). */
function eventsApi(opts: { hold?: boolean; missing?: boolean } = {}) {
  const created: Array<{ name: string; reason: string; message: string; count: number }> = [];
  const patched: Array<{ name: string; count: number }> = [];
  const waiting: Array<() => void> = [];
  const answer = (): Promise<void> => (opts.hold ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve());
  const api = {
    createNamespacedEvent: async ({ body }: { body: { metadata: { name: string }; reason: string; message: string; count: number } }) => {
      await answer();
      created.push({ name: body.metadata.name, reason: body.reason, message: body.message, count: body.count });
      return body;
    },
    patchNamespacedEvent: async ({ name, body }: { name: string; body: { count: number } }) => {
      await answer();
      if (opts.missing) throw Object.assign(new Error('not found'), { code: 404 });
      patched.push({ name, count: body.count });
      return body;
    },
  };
  return { api: api as never, created, patched, release: () => waiting.splice(0).forEach((resolve) => resolve()) };
}

describe('EventSink: Events off the reconcile path, repeats counted, a full queue dropped', () => {
  it('returns from record() at once, even while the apiserver does not answer', async () => {
    const kube = eventsApi({ hold: true });
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    const started = performance.now();
    for (let i = 0; i < 100; i++) sink.record(rollout, 'Normal', 'RolloutStep', `step ${i}`);
    expect(performance.now() - started).toBeLessThan(50);
    expect(kube.created).toHaveLength(0);
    for (let i = 0; i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      kube.release();
    }
    await sink.flush();
    expect(kube.created.map((e) => e.message)).toEqual(Array.from({ length: 100 }, (_, i) => `step ${i}`));
  });

  it('raises the count of an identical Event seen within the window instead of writing another', async () => {
    let now = 1_000_000;
    const kube = eventsApi();
    const outcomes: EventOutcome[] = [];
    const sink = new EventSink(kube.api, 'fledge-controller', logger, { ...EVENT_DEFAULTS, now: () => now, onOutcome: (o) => outcomes.push(o) });
    for (let i = 0; i < 3; i++) sink.record(rollout, 'Warning', 'TrafficRoutingError', 'HTTPRoute shop not found');
    sink.record(rollout, 'Warning', 'TrafficRoutingError', 'HTTPRoute shop refused');
    sink.record({ ...rollout, name: 'cart', uid: 'u2' }, 'Warning', 'TrafficRoutingError', 'HTTPRoute shop not found');
    await sink.flush();
    expect(kube.created.map((e) => e.message)).toEqual(['HTTPRoute shop not found', 'HTTPRoute shop refused', 'HTTPRoute shop not found']);
    const first = kube.created[0]?.name;
    expect(kube.patched).toEqual([
      { name: first, count: 2 },
      { name: first, count: 3 },
    ]);
    // Ten minutes after it was last seen, the same Event starts a new line.
    now += EVENT_DEFAULTS.aggregateWindowMs;
    sink.record(rollout, 'Warning', 'TrafficRoutingError', 'HTTPRoute shop not found');
    await sink.flush();
    expect(kube.created).toHaveLength(4);
    expect(outcomes).toEqual(['created', 'aggregated', 'aggregated', 'created', 'created', 'created']);
  });

  it('writes a new Event when the one to count on has expired', async () => {
    const kube = eventsApi({ missing: true });
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record(rollout, 'Normal', 'RolloutPaused', 'paused at step 2');
    sink.record(rollout, 'Normal', 'RolloutPaused', 'paused at step 2');
    await sink.flush();
    expect(kube.created).toHaveLength(2);
    expect(kube.created.every((e) => e.count === 1)).toBe(true);
  });

  it('drops, and counts, what does not fit in the queue, without ever waiting', async () => {
    const kube = eventsApi({ hold: true });
    const outcomes: EventOutcome[] = [];
    const sink = new EventSink(kube.api, 'fledge-controller', logger, { ...EVENT_DEFAULTS, maxPending: 5, onOutcome: (o) => outcomes.push(o) });
    for (let i = 0; i < 10; i++) sink.record(rollout, 'Normal', 'RolloutStep', `step ${i}`);
    // One is being written, five wait, four did not fit.
    expect(sink.waiting).toBe(5);
    expect(outcomes.filter((o) => o === 'dropped')).toHaveLength(4);
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      kube.release();
    }
    await sink.flush();
    expect(kube.created.map((e) => e.message)).toEqual(['step 0', 'step 1', 'step 2', 'step 3', 'step 4', 'step 5']);
  });

  it('forgets the least recently seen Events beyond its memory, and counts on the rest', async () => {
    const kube = eventsApi();
    const sink = new EventSink(kube.api, 'fledge-controller', logger, { ...EVENT_DEFAULTS, maxRemembered: 2 });
    for (const message of ['a', 'b', 'a', 'c', 'a', 'b']) sink.record(rollout, 'Normal', 'X', message);
    await sink.flush();
    // a, b written; a counted; c written and b forgotten (a was seen more recently); a counted; b written anew.
    expect(kube.created.map((e) => e.message)).toEqual(['a', 'b', 'c', 'b']);
    expect(kube.patched.map((e) => e.count)).toEqual([2, 3]);
  });
});

describe('EventSink: transitions of one object told together within the hold', () => {
  const EVENT_HOLD = 30_000;
  const started = 'new revision abc: starting a canary against stable revision def (2 steps)';
  const paused = 'canary at 50%: paused at step 1/2 (pause) until promoted';

  it('writes a start and the pause that follows within the hold as one Event, and counts the transition combined', async () => {
    let now = 1_000_000;
    const kube = eventsApi();
    const outcomes: EventOutcome[] = [];
    const sink = new EventSink(kube.api, 'fledge-controller', logger, { ...EVENT_DEFAULTS, now: () => now, onOutcome: (o) => outcomes.push(o) });
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: EVENT_HOLD });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(kube.created, 'held, not written').toEqual([]);
    now += 3_000;
    sink.record(rollout, 'Normal', 'RolloutPaused', paused, { holdMs: 0 });
    await sink.flush();
    expect(kube.created.map(({ reason, message }) => ({ reason, message }))).toEqual([{ reason: 'RolloutPaused', message: `RolloutStarted: ${started}; then ${paused}` }]);
    expect(outcomes).toEqual(['combined', 'created']);
  });

  it('writes a held transition by its timer once the hold runs out, without a flush', async () => {
    const kube = eventsApi();
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(kube.created).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(kube.created.map((e) => e.reason)).toEqual(['RolloutStarted']);
  });

  it('tells at once what is held for the objects asked for, and keeps holding the others', async () => {
    const kube = eventsApi();
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: 600_000 });
    sink.record({ ...rollout, name: 'cart', uid: 'u2' }, 'Normal', 'RolloutStarted', started, { holdMs: 600_000 });
    sink.tellHeld((target) => target.name === 'cart');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(kube.created.map((e) => e.name.split('.')[0])).toEqual(['cart']);
    await sink.flush();
    expect(kube.created.map((e) => e.name.split('.')[0])).toEqual(['cart', 'shop']);
  });

  it('writes what is held at once on flush (shutdown), and holds per object', async () => {
    const kube = eventsApi();
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: EVENT_HOLD });
    sink.record({ ...rollout, name: 'cart', uid: 'u2' }, 'Normal', 'RolloutPaused', paused, { holdMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(kube.created.map((e) => e.reason), "another Rollout's transition leaves this one's held").toEqual(['RolloutPaused']);
    await sink.flush();
    expect(kube.created.map((e) => e.reason)).toEqual(['RolloutPaused', 'RolloutStarted']);
  });

  it("while the writer is behind, tells a start whose hold ran out with the object's next transition, and nothing told at once", async () => {
    const kube = eventsApi({ hold: true });
    const outcomes: EventOutcome[] = [];
    const sink = new EventSink(kube.api, 'fledge-controller', logger, { ...EVENT_DEFAULTS, onOutcome: (o) => outcomes.push(o) });
    const cart: EventTarget = { ...rollout, name: 'cart', uid: 'u2' };
    sink.record(cart, 'Normal', 'RolloutPaused', 'cart paused', { holdMs: 0 });
    // The writer is busy with cart's Event: what follows waits in the queue.
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: 600_000 });
    sink.tellHeld((target) => target.name === rollout.name);
    sink.record(rollout, 'Normal', 'WebhookPassed', 'webhook pre passed');
    sink.record(rollout, 'Normal', 'RolloutPaused', paused, { holdMs: 0 });
    sink.record(cart, 'Warning', 'TrafficRoutingError', 'HTTPRoute cart not found', { holdMs: 0 });
    sink.record(cart, 'Normal', 'RolloutPromoted', 'cart promoted', { holdMs: 0 });
    sink.record(rollout, 'Warning', 'RolloutAborted', 'aborted', { holdMs: 0 });
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      kube.release();
    }
    await sink.flush();
    expect(kube.created.map(({ reason, message }) => ({ reason, message }))).toEqual([
      { reason: 'RolloutPaused', message: 'cart paused' },
      { reason: 'RolloutPaused', message: `RolloutStarted: ${started}; then ${paused}` },
      { reason: 'WebhookPassed', message: 'webhook pre passed' },
      { reason: 'TrafficRoutingError', message: 'HTTPRoute cart not found' },
      { reason: 'RolloutPromoted', message: 'cart promoted' },
      { reason: 'RolloutAborted', message: 'aborted' },
    ]);
    expect(outcomes.filter((o) => o === 'combined')).toHaveLength(1);
  });

  it('starts a new Event rather than grow a waiting one past the longest message', async () => {
    const kube = eventsApi({ hold: true });
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record({ ...rollout, name: 'cart' }, 'Normal', 'RolloutPaused', 'cart paused', { holdMs: 0 });
    sink.record(rollout, 'Normal', 'RolloutStepCompleted', 'x'.repeat(700), { holdMs: 600_000 });
    sink.tellHeld(() => true);
    sink.record(rollout, 'Normal', 'RolloutPaused', 'y'.repeat(700), { holdMs: 0 });
    expect(sink.waiting).toBe(2);
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      kube.release();
    }
    await sink.flush();
    expect(kube.created.map((e) => e.reason)).toEqual(['RolloutPaused', 'RolloutStepCompleted', 'RolloutPaused']);
  });

  it('never combines an Event that is not a transition, nor lets it release what is held', async () => {
    const kube = eventsApi();
    const sink = new EventSink(kube.api, 'fledge-controller', logger);
    sink.record(rollout, 'Normal', 'RolloutStarted', started, { holdMs: EVENT_HOLD });
    sink.record(rollout, 'Normal', 'WebhookPassed', 'webhook pre (pre-rollout) passed: 200');
    sink.record(rollout, 'Normal', 'RolloutPaused', paused, { holdMs: 0 });
    await sink.flush();
    expect(kube.created.map((e) => e.message)).toEqual(['webhook pre (pre-rollout) passed: 200', `RolloutStarted: ${started}; then ${paused}`]);
  });
});

