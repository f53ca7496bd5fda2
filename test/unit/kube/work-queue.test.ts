import { describe, expect, it } from 'vitest';
import { MAX_REQUEUE_MS, WorkQueue } from '../../../src/kube/work-queue.js';
import { statusDiff } from '../../../src/kube/patch.js';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('never runs one key twice at once, and runs it again when it was added meanwhile', async () => {
    const running = new Set<string>();
    const runs: string[] = [];
    let overlap = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const queue = new WorkQueue(
      async (key) => {
        if (running.has(key)) overlap = true;
        running.add(key);
        runs.push(key);
        if (runs.length === 1) await gate;
        running.delete(key);
      },
      { concurrency: 4 },
    );
    queue.add('ns/a');
    await tick();
    queue.add('ns/a');
    queue.add('ns/a');
    await tick();
    expect(runs).toEqual(['ns/a']);
    release();
    await tick(5);
    expect(runs).toEqual(['ns/a', 'ns/a']);
    expect(overlap).toBe(false);
  });

  it('deduplicates waiting keys and respects the concurrency limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: string[] = [];
    const queue = new WorkQueue(
      async (key) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        seen.push(key);
        await tick(2);
        inFlight--;
      },
      { concurrency: 2 },
    );
    // a and b start at once; c and d wait, so adding them again must not queue them twice.
    for (const key of ['a', 'b', 'c', 'd', 'c', 'd']) queue.add(key);
    await tick(30);
    expect(peak).toBe(2);
    expect(seen.sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('backs off exponentially per key on failure, capped', () => {
    const queue = new WorkQueue(async () => {}, { concurrency: 1, baseBackoffMs: 100, maxBackoffMs: 1000 });
    const failures = (queue as unknown as { failures: Map<string, number> }).failures;
    const delays = [1, 2, 3, 4, 5, 6].map((n) => {
      failures.set('k', n);
      return queue.backoffFor('k');
    });
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('retries a failing key after its backoff and requeues after the asked delay', async () => {
    const scheduled: number[] = [];
    let calls = 0;
    const queue = new WorkQueue(
      async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        return { requeueAfterMs: 5000 };
      },
      {
        concurrency: 1,
        baseBackoffMs: 100,
        schedule: (fn, ms) => {
          scheduled.push(ms);
          if (ms < 1000) setTimeout(fn, 0);
          return { cancel: () => {} };
        },
      },
    );
    queue.add('k');
    await tick(10);
    expect(calls).toBe(2);
    expect(scheduled).toEqual([100, 5000]);
  });

  it('caps a requeue below the timer limit, so an 800 h wait is no hot loop', async () => {
    const scheduled: number[] = [];
    const queue = new WorkQueue(async () => ({ requeueAfterMs: 800 * 3600_000 }), {
      concurrency: 1,
      schedule: (_fn, ms) => {
        scheduled.push(ms);
        return { cancel: () => {} };
      },
    });
    queue.add('k');
    queue.add('j');
    await tick(10);
    queue.addAfter('i', Number.POSITIVE_INFINITY);
    expect(scheduled).toEqual([MAX_REQUEUE_MS, MAX_REQUEUE_MS, MAX_REQUEUE_MS]);
    expect(MAX_REQUEUE_MS).toBeLessThan(2 ** 31 - 1);

    // With Node's own timers: an overflowing setTimeout would fire after 1 ms and reconcile hundreds of times.
    let calls = 0;
    const real = new WorkQueue(
      async () => {
        calls++;
        return { requeueAfterMs: 800 * 3600_000 };
      },
      { concurrency: 1 },
    );
    real.add('k');
    await tick(300);
    await real.shutdown();
    expect(calls).toBe(1);
  });

  it('retries a `{ retry: true }` result after the key\'s exponential backoff, capped, and starts over after a success', async () => {
    const scheduled: number[] = [];
    // a conflicts seven times and succeeds; added again, it conflicts once more. b conflicts once, on its own count.
    const answers: Record<string, Array<'retry' | 'ok'>> = { a: ['retry', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry', 'ok', 'retry', 'ok'], b: ['retry', 'ok'] };
    const queue = new WorkQueue(async (key) => (answers[key]?.shift() === 'retry' ? { retry: true } : undefined), {
      concurrency: 1,
      baseBackoffMs: 100,
      maxBackoffMs: 1000,
      schedule: (fn, ms) => {
        scheduled.push(ms);
        setTimeout(fn, 0);
        return { cancel: () => {} };
      },
    });
    queue.add('a');
    await tick(30);
    queue.add('a');
    queue.add('b');
    await tick(10);
    expect(scheduled).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 100, 100]);
    expect(answers).toEqual({ a: [], b: [] });
  });

  it('runs a key at once when it is added during its backoff (a watch event beats the timer)', async () => {
    let calls = 0;
    const scheduled: number[] = [];
    const queue = new WorkQueue(
      async () => {
        calls++;
        return calls === 1 ? { retry: true } : undefined;
      },
      {
        concurrency: 1,
        baseBackoffMs: 5_000,
        schedule: (_fn, ms) => {
          scheduled.push(ms);
          return { cancel: () => {} };
        },
      },
    );
    queue.add('k');
    await tick(5);
    expect(calls).toBe(1);
    expect(scheduled).toEqual([5_000]);
    queue.add('k');
    await tick(5);
    expect(calls).toBe(2);
    await queue.shutdown();
  });

  it('forgets the keys it is told to: waiting, scheduled and marked to run again, and keeps the others in order', async () => {
    const runs: string[] = [];
    const timers = new Map<string, () => void>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const depths: number[] = [];
    const queue = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === 'a/busy') await gate;
      },
      {
        concurrency: 1,
        schedule: (fn, ms) => {
          timers.set(`${ms}`, fn);
          return { cancel: () => timers.delete(`${ms}`) };
        },
      },
      { onDepth: (depth) => depths.push(depth) },
    );
    queue.add('a/busy');
    await tick();
    for (const key of ['b/1', 'a/1', 'b/2', 'a/2', 'a/busy']) queue.add(key);
    queue.addAfter('a/later', 1_000);
    queue.addAfter('b/later', 2_000);
    expect(queue.waitingKeys()).toEqual(['b/1', 'a/1', 'b/2', 'a/2']);
    queue.forget((key) => key.startsWith('a/'));
    expect(queue.waitingKeys()).toEqual(['b/1', 'b/2']);
    expect(depths.at(-1)).toBe(2);
    expect([...timers.keys()]).toEqual(['2000']);
    release();
    await tick(5);
    // a/busy finished without the run its second add asked for; b's keys ran.
    expect(runs).toEqual(['a/busy', 'b/1', 'b/2']);
    // A forgotten key can be added again.
    queue.add('a/1');
    await tick(5);
    expect(runs.at(-1)).toBe('a/1');
  });

  it('shutdown waits for in-flight work and refuses new keys', async () => {
    let finished = false;
    const queue = new WorkQueue(
      async () => {
        await tick(10);
        finished = true;
      },
      { concurrency: 1 },
    );
    queue.add('k');
    await tick();
    await queue.shutdown();
    expect(finished).toBe(true);
    queue.add('other');
    expect(queue.depth).toBe(0);
  });
});

describe('statusDiff', () => {
  it('is undefined when nothing changed, whatever the key order', () => {
    expect(statusDiff({ a: 1, b: { x: [1, 2] } }, { b: { x: [1, 2] }, a: 1 })).toBeUndefined();
  });
  it('sends changed keys and nulls removed ones', () => {
    expect(statusDiff({ a: 1, promote: 'step', c: 3 }, { a: 2, c: 3 })).toEqual({ a: 2, promote: null });
    // A merge patch merges nested objects: a key gone from one is removed explicitly, or it would stay.
    expect(statusDiff({ webhooks: { waitingFor: { type: 'pre-rollout', step: 0 } } }, { webhooks: { preRolloutPassed: 'r2' } })).toEqual({
      webhooks: { waitingFor: null, preRolloutPassed: 'r2' },
    });
  });
});
