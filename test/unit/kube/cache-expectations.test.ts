import { describe, expect, it } from 'vitest';
import { ScaleExpectations, StatusWrites, type ScaledObject } from '../../../src/kube/cache-expectations.js';

describe('StatusWrites', () => {
  it('is stale exactly while the cache holds the version the write replaced, then forgets it', () => {
    const writes = new StatusWrites();
    expect(writes.isStale('ns/a', '5')).toBe(false);
    writes.wrote('ns/a', '5');
    expect(writes.isStale('ns/a', '5')).toBe(true);
    expect(writes.isStale('ns/b', '5'), 'per object').toBe(false);
    expect(writes.size).toBe(1);
    // Ours (6), or anything after it: the write's precondition guarantees nothing else came between.
    expect(writes.isStale('ns/a', '9')).toBe(false);
    expect(writes.size).toBe(0);
    expect(writes.isStale('ns/a', '5')).toBe(false);
  });

  it('forgets a deleted object', () => {
    const writes = new StatusWrites();
    writes.wrote('ns/a', '5');
    writes.forget('ns/a');
    expect(writes.size).toBe(0);
  });
});

describe('ScaleExpectations', () => {
  const clock = { now: 0 };
  const cacheOf = (objects: Record<string, ScaledObject>) => (name: string): ScaledObject | undefined => objects[name];

  it('is met by the version the write produced, or by the replicas it asked for; a scaled object gone from the cache was deleted', () => {
    const expectations = new ScaleExpectations(30_000, () => clock.now);
    expectations.expect('ns/api', 'api-a', { resourceVersion: '7', replicas: 3 }, { created: false });
    expectations.expect('ns/api', 'api-b', { resourceVersion: '8', replicas: 2 }, { created: false });
    expect(expectations.unmet('ns/api', cacheOf({ 'api-a': { resourceVersion: '6', replicas: 4 }, 'api-b': { resourceVersion: '5', replicas: 1 } }))).toEqual(['api-a', 'api-b']);
    expect(expectations.unmet('ns/web', cacheOf({}))).toEqual([]);
    // api-a: the pods' status moved on (version 9) with our replicas; api-b: exactly our version.
    expect(expectations.unmet('ns/api', cacheOf({ 'api-a': { resourceVersion: '9', replicas: 3 }, 'api-b': { resourceVersion: '5', replicas: 1 } }))).toEqual(['api-b']);
    expect(expectations.unmet('ns/api', cacheOf({}))).toEqual([]);
    expect(expectations.size).toBe(0);
  });

  it('waits for a created object until the cache has it', () => {
    const expectations = new ScaleExpectations(30_000, () => clock.now);
    expectations.expect('ns/api', 'api-new', { resourceVersion: '3', replicas: 1 }, { created: true });
    expect(expectations.unmet('ns/api', cacheOf({}))).toEqual(['api-new']);
    expect(expectations.unmet('ns/api', cacheOf({ 'api-new': { resourceVersion: '3', replicas: 1 } }))).toEqual([]);
  });

  it('gives up on an expectation after its TTL, and forgets an owner', () => {
    clock.now = 0;
    const expectations = new ScaleExpectations(30_000, () => clock.now);
    expectations.expect('ns/api', 'api-a', { resourceVersion: '7', replicas: 3 }, { created: false });
    const scaledByOthers = cacheOf({ 'api-a': { resourceVersion: '10', replicas: 5 } });
    clock.now = 29_999;
    expect(expectations.unmet('ns/api', scaledByOthers)).toEqual(['api-a']);
    clock.now = 30_000;
    expect(expectations.unmet('ns/api', scaledByOthers)).toEqual([]);
    expectations.expect('ns/web', 'web-a', { replicas: 1 }, { created: true });
    expectations.forget('ns/web');
    expect(expectations.size).toBe(0);
  });
});
