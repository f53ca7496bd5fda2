import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { holdsFor } from '../../harness/e2e.js';

describe('holdsFor', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('samples all along and once at the end, and resolves no sooner than the interval', async () => {
    const sampledAt: number[] = [];
    const start = Date.now();
    let resolved = false;
    const held = holdsFor(1_000, () => sampledAt.push(Date.now() - start) > 0, { every: 200, what: 'the pause' }).then(() => (resolved = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await held;
    expect(resolved).toBe(true);
    expect(sampledAt).toEqual([0, 200, 400, 600, 800, 1_000]);
  });

  it('with an interval shorter than the sampling period, still samples at its end', async () => {
    const sampledAt: number[] = [];
    const start = Date.now();
    const held = holdsFor(300, () => sampledAt.push(Date.now() - start) > 0, { every: 200, what: 'the pause' });
    await vi.advanceTimersByTimeAsync(300);
    await held;
    expect(sampledAt).toEqual([0, 200, 300]);
  });

  it('rejects at the first sample that breaks, naming what should have held and that sample', async () => {
    let samples = 0;
    const held = holdsFor(10_000, () => ++samples !== 3, { every: 200, what: 'the abort' });
    const settled = expect(held).rejects.toThrow('the abort should have held for 10000 ms, but sample 3 (400 ms in) broke it: it was false');
    await vi.advanceTimersByTimeAsync(400);
    await settled;
    expect(samples).toBe(3);
  });

  it("quotes a throwing sample's error, such as an expect's", async () => {
    let replicas = 0;
    const held = holdsFor(
      5_000,
      () => {
        replicas += 1;
        expect(replicas, 'canary replicas').toBeLessThan(2);
      },
      { every: 100, what: 'no canary pod' },
    );
    const settled = expect(held).rejects.toThrow(/^no canary pod should have held for 5000 ms, but sample 2 \(100 ms in\) broke it: canary replicas: expected 2 to be less than 2/);
    await vi.advanceTimersByTimeAsync(100);
    await settled;
  });
});
