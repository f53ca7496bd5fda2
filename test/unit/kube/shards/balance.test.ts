import { describe, expect, it } from 'vitest';
import { balance, nextRoundInMs, type LeaseView } from '../../../../src/kube/shards/balance.js';

const NOW = 100_000;
const VALID = 10_000;
const member = (holder: string, { shards = 4, sightedAt = NOW - 1_000 } = {}): LeaseView => ({ role: 'member', name: `m-${holder}`, holder, shards, sightedAt, validMs: VALID });
const shard = (index: number, holder: string, { shards = 4, sightedAt = NOW - 1_000 } = {}): LeaseView => ({ role: 'shard', shard: index, name: `s-${index}`, holder, shards, sightedAt, validMs: VALID });

describe('balance', () => {
  it('a lone replica takes every shard, creating the Leases nobody has made yet', () => {
    expect(balance({ identity: 'a', shards: 4, leases: [], now: NOW })).toMatchObject({ members: ['a'], quota: 4, take: [0, 1, 2, 3], renew: [], release: [] });
  });

  it('splits S mod R larger quotas to the members holding the most, then by identity', () => {
    const five = { shards: 5 };
    const leases = [member('a', five), member('b', five), member('c', five), shard(0, 'c', five), shard(1, 'c', five), shard(2, 'b', five)];
    expect(balance({ identity: 'c', shards: 5, leases, now: NOW }).quota).toBe(2);
    expect(balance({ identity: 'b', shards: 5, leases, now: NOW }).quota).toBe(2);
    expect(balance({ identity: 'a', shards: 5, leases, now: NOW })).toMatchObject({ quota: 1, take: [expect.any(Number)] });
    expect(balance({ identity: 'a', shards: 5, leases, now: NOW }).take[0]).toBeGreaterThanOrEqual(3);
  });

  it('releases what it holds beyond its quota when a replica joins, and renews the rest', () => {
    const leases = [member('a'), member('b'), ...[0, 1, 2, 3].map((i) => shard(i, 'a'))];
    const plan = balance({ identity: 'a', shards: 4, leases, now: NOW });
    expect(plan).toMatchObject({ members: ['a', 'b'], quota: 2, take: [] });
    expect(plan.renew).toHaveLength(2);
    expect(plan.release).toHaveLength(2);
    expect([...plan.renew, ...plan.release].sort()).toEqual([0, 1, 2, 3]);
    // The joiner takes nothing still held, only what is released.
    expect(balance({ identity: 'b', shards: 4, leases, now: NOW })).toMatchObject({ quota: 2, take: [] });
    const released = leases.map((lease) => (lease.role === 'shard' && plan.release.includes(lease.shard) ? { ...lease, holder: '' } : lease));
    expect(balance({ identity: 'b', shards: 4, leases: released, now: NOW }).take).toEqual(plan.release);
  });

  it("takes another's shard only once it has not changed for its duration since this replica saw it", () => {
    const leases = [shard(0, 'dead', { shards: 2, sightedAt: NOW - VALID + 1 }), shard(1, 'dead', { shards: 2, sightedAt: NOW - VALID })];
    expect(balance({ identity: 'a', shards: 2, leases, now: NOW }).take).toEqual([1]);
    expect(balance({ identity: 'a', shards: 2, leases, now: NOW + 1 }).take).toEqual([0, 1]);
  });

  it("says when the first live Lease another holds expires, never its own nor one already free", () => {
    const leases = [member('a'), member('b', { sightedAt: NOW - 4_000 }), shard(0, 'a', { sightedAt: NOW - 9_000 }), shard(1, 'b', { sightedAt: NOW - 3_000 }), shard(2, ''), shard(3, 'dead', { sightedAt: NOW - VALID })];
    expect(balance({ identity: 'a', shards: 4, leases, now: NOW }).nextExpiry).toBe(NOW - 4_000 + VALID);
    expect(balance({ identity: 'a', shards: 4, leases: [member('a'), shard(0, 'a'), shard(1, '')], now: NOW }).nextExpiry).toBeUndefined();
  });

  it('waits a retry period between rounds, less when a Lease expires sooner, and a tenth of one after a lost race', () => {
    const plan = balance({ identity: 'a', shards: 2, leases: [member('b', { sightedAt: NOW - VALID + 500 }), shard(0, 'b', { shards: 2 })], now: NOW });
    expect(nextRoundInMs({ plan, lostRace: false }, NOW, 2_000)).toBe(500);
    expect(nextRoundInMs({ plan, lostRace: false }, NOW, 400)).toBe(400);
    expect(nextRoundInMs({ plan, lostRace: true }, NOW, 2_000)).toBe(200);
    expect(nextRoundInMs({ plan: undefined, lostRace: false }, NOW, 2_000)).toBe(2_000);
    expect(nextRoundInMs({ plan: { ...plan, nextExpiry: NOW - 5 }, lostRace: false }, NOW, 2_000)).toBe(0);
  });

  it('renews its own Lease even when it looks expired: the resourceVersion says whether anyone took it meanwhile', () => {
    expect(balance({ identity: 'a', shards: 2, leases: [shard(0, 'a', { shards: 2, sightedAt: 0 })], now: NOW })).toMatchObject({ renew: [0], take: [1] });
  });

  it('counts only live members that run with the same shard count', () => {
    const leases = [member('b'), member('c', { sightedAt: NOW - VALID }), member('d', { shards: 8 })];
    expect(balance({ identity: 'a', shards: 4, leases, now: NOW })).toMatchObject({ members: ['a', 'b'], quota: 2 });
  });

  it('takes nothing while a live shard Lease is held under another shard count, and keeps renewing its own', () => {
    const leases = [shard(0, 'a', { shards: 8 }), shard(5, 'old', { shards: 4 })];
    const plan = balance({ identity: 'a', shards: 8, leases, now: NOW });
    expect(plan).toMatchObject({ renew: [0], take: [], blockedBy: { holder: 'old', shards: 4 } });
    // Once that Lease expires or is released, the shards are taken.
    expect(balance({ identity: 'a', shards: 8, leases: [shard(0, 'a', { shards: 8 }), shard(5, '', { shards: 4 })], now: NOW }).take).toHaveLength(7);
  });

  it('prunes membership Leases a lease duration past their expiry, never its own nor a recently expired one', () => {
    const leases = [member('gone', { sightedAt: NOW - 2 * VALID }), member('late', { sightedAt: NOW - VALID }), member('a', { sightedAt: 0 })];
    expect(balance({ identity: 'a', shards: 4, leases, now: NOW }).prune).toEqual(['m-gone']);
  });

  it('gives replicas taking at once different preferences, so they seldom reach for the same Lease', () => {
    const leases = ['a', 'b', 'c', 'd'].map((holder) => member(holder, { shards: 16 }));
    const takes = ['a', 'b', 'c', 'd'].map((identity) => balance({ identity, shards: 16, leases, now: NOW }).take);
    for (const take of takes) expect(take).toHaveLength(4);
    expect(new Set(takes.flat()).size).toBeGreaterThan(8);
  });
});
