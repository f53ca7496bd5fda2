import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MeasurementScheduler, type InFlightLimits } from '../../../src/analysis/in-flight.js';
import type { MeasurementProgress } from '../../../src/analysis/providers/provider.js';

const OK: MeasurementProgress = { phase: 'Done', verdict: { phase: 'Successful', value: '1' } };
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A scheduler whose calls are answered only when the test says: which are in flight, to where, and what it woke. */
function harness(limits: InFlightLimits) {
  const answer = new Map<string, (progress: MeasurementProgress) => void>();
  const launched: Array<{ id: string; backend: string; namespace: string }> = [];
  const woken: string[] = [];
  const scheduler = new MeasurementScheduler((runKey) => woken.push(runKey), limits);
  const start = (id: string, backend: string, namespace: string): void =>
    scheduler.start(id, {
      runKey: `${namespace}/run-${id}`,
      backend,
      namespace,
      call: () =>
        new Promise((resolve) => {
          launched.push({ id, backend, namespace });
          answer.set(id, resolve);
        }),
    });
  const respond = async (id: string): Promise<void> => {
    const resolve = answer.get(id);
    answer.delete(id);
    resolve?.(OK);
    await tick();
  };
  return { scheduler, start, respond, answer, launched, woken };
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), backend: fc.constantFrom('slow', 'hanging', 'fast-a', 'fast-b'), namespace: fc.constantFrom('team-a', 'team-b', 'team-c') }),
  fc.record({ kind: fc.constant('answer' as const), backend: fc.constantFrom('slow', 'fast-a', 'fast-b'), pick: fc.nat() }),
);

describe('MeasurementScheduler', () => {
  it('keeps every limit, never queues a call behind another backend, answers each call once and wakes its run once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), async (ops, perBackend) => {
        const limits = { perBackend, total: 1000 };
        const { scheduler, start, respond, answer, launched, woken } = harness(limits);
        const started = new Map<string, string>();
        let next = 0;
        for (const step of ops) {
          if (step.kind === 'start') {
            const id = `m${next++}`;
            const before = scheduler.inFlightTo(step.backend);
            start(id, step.backend, step.namespace);
            started.set(id, step.backend);
            // Started at once whenever its own backend had room: what other backends do never matters.
            if (before < perBackend) expect(launched.at(-1)?.id).toBe(id);
          } else {
            // 'hanging' is never answered: it must hold only its own slots.
            const inFlight = [...answer.keys()].filter((id) => started.get(id) === step.backend);
            const id = inFlight[step.pick % Math.max(1, inFlight.length)];
            if (id !== undefined) await respond(id);
          }
          for (const backend of ['slow', 'hanging', 'fast-a', 'fast-b']) {
            const inFlight = [...answer.keys()].filter((id) => started.get(id) === backend).length;
            expect(scheduler.inFlightTo(backend)).toBe(inFlight);
            expect(inFlight).toBeLessThanOrEqual(perBackend);
            // A backend with a free slot has nothing waiting.
            if (inFlight < perBackend) expect(scheduler.queuedFor(backend)).toBe(0);
          }
        }
        // Every launched call was answered or is still in flight; each answer was taken once and woke its run once.
        const answered = launched.filter(({ id }) => !answer.has(id));
        expect(new Set(launched.map(({ id }) => id)).size).toBe(launched.length);
        expect(woken.sort()).toEqual(answered.map(({ id, namespace }) => `${namespace}/run-${id}`).sort());
        for (const { id } of answered) {
          expect(scheduler.take(id)).toMatchObject({ progress: OK });
          expect(scheduler.take(id)).toBeUndefined();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('takes a backend’s queue round-robin across namespaces, so one team’s many runs do not starve another’s', async () => {
    const { start, respond, launched } = harness({ perBackend: 1, total: 100 });
    start('a0', 'prom', 'team-a');
    for (let i = 1; i <= 5; i++) start(`a${i}`, 'prom', 'team-a');
    start('b0', 'prom', 'team-b');
    expect(launched.map((l) => l.id)).toEqual(['a0']);
    await respond('a0');
    await respond('a1');
    // team-b's one measurement comes second, not after all of team-a's.
    expect(launched.map((l) => l.id)).toEqual(['a0', 'a1', 'b0']);
  });

  it('holds a call over the total limit until any slot frees, and forgets a deleted run’s calls without waking it', async () => {
    const { scheduler, start, respond, launched, woken } = harness({ perBackend: 4, total: 2 });
    start('x', 'one', 'ns');
    start('y', 'two', 'ns');
    start('z', 'three', 'ns');
    expect(launched.map((l) => l.id)).toEqual(['x', 'y']);
    expect(scheduler.take('z')).toBe('pending');
    scheduler.forget('ns/run-y');
    await respond('y');
    expect(woken).toEqual([]);
    expect(scheduler.take('y')).toBeUndefined();
    expect(launched.map((l) => l.id)).toEqual(['x', 'y', 'z']);
  });

  it('turns a call that throws into an Error measurement, and still wakes its run', async () => {
    const woken: string[] = [];
    const scheduler = new MeasurementScheduler((key) => woken.push(key));
    scheduler.start('boom', { runKey: 'ns/run', backend: 'b', namespace: 'ns', call: async () => Promise.reject(new Error('socket hang up')) });
    await tick();
    expect(woken).toEqual(['ns/run']);
    expect(scheduler.take('boom')).toMatchObject({ progress: { phase: 'Done', verdict: { phase: 'Error', message: 'socket hang up' } } });
  });
});
