import { describe, expect, it } from 'vitest';
import { pendingRestart, planRestart, type PodFacts } from '../../../src/rollout/decide/restart.js';

const pod = (name: string, createdAt: number, extra: Partial<PodFacts> = {}): PodFacts => ({ name, createdAt, ready: true, terminating: false, ...extra });

describe('planRestart', () => {
  it('deletes the oldest stale Pod first, one at a time when maxUnavailable is 0', () => {
    const plan = planRestart(100, [pod('b', 20), pod('a', 10), pod('new', 150)], 0);
    expect(plan).toEqual({ deletePods: ['a'], done: false });
  });

  it('spends maxUnavailable, counting Pods already down', () => {
    expect(planRestart(100, [pod('a', 10), pod('b', 20), pod('c', 30)], 2).deletePods).toEqual(['a', 'b']);
    const oneDown = [pod('a', 10), pod('b', 20), pod('x', 150, { ready: false })];
    expect(planRestart(100, oneDown, 2).deletePods).toEqual(['a']);
    const terminating = [pod('a', 10, { terminating: true }), pod('b', 20)];
    expect(planRestart(100, terminating, 1)).toEqual({ deletePods: [], done: false });
  });

  it('is done only when every Pod is newer than restartAt and ready', () => {
    expect(planRestart(100, [pod('a', 150), pod('b', 160)], 1)).toEqual({ deletePods: [], done: true });
    expect(planRestart(100, [pod('a', 150), pod('b', 160, { ready: false })], 1).done).toBe(false);
  });
});

describe('pendingRestart', () => {
  it('is due until restartedAt records the same request', () => {
    expect(pendingRestart(undefined, undefined)).toBeUndefined();
    expect(pendingRestart('2026-01-01T00:00:00Z', undefined)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(pendingRestart('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')).toBeUndefined();
    expect(pendingRestart('2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')).toBe(Date.parse('2026-01-02T00:00:00Z'));
  });
});
