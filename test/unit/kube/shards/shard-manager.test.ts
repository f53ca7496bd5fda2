import { describe, expect, it } from 'vitest';
import { LEASE_DEFAULTS } from '../../../../src/kube/lease.js';
import { ANNOTATION_SHARDS, LABEL_LEASE_GROUP, LABEL_LEASE_ROLE, ShardManager } from '../../../../src/kube/shards/shard-manager.js';
import { createLogger } from '../../../../src/observability/logger.js';
import { FakeLeases } from './fake-leases.js';

const logger = createLogger('error', {});
const { renewDeadlineMs, retryPeriodMs } = LEASE_DEFAULTS;

function replica(leases: FakeLeases, identity: string, clock: { now: number }, reachable: () => boolean = () => true) {
  const events: string[] = [];
  const manager = new ShardManager(leases.client(reachable), {
    namespace: 'fledge-system',
    group: 'fledge',
    identity,
    memberLease: `fledge-member-${identity}`,
    shards: 4,
    ...LEASE_DEFAULTS,
    logger,
    now: () => clock.now,
  });
  // The tests tick by hand, where run() would on a timer.
  manager.follow({ gained: (shard) => events.push(`+${shard}`), lost: (shard) => events.push(`-${shard}`) });
  return { manager, events };
}

describe('ShardManager', () => {
  it('creates its membership Lease and the shard Leases, labelled for one list and annotated with the shard count', async () => {
    const leases = new FakeLeases();
    const clock = { now: 1_000 };
    const { manager, events } = replica(leases, 'a', clock);
    await manager.tick();
    expect(manager.held()).toEqual([0, 1, 2, 3]);
    expect(events.sort()).toEqual(['+0', '+1', '+2', '+3']);
    expect([...leases.leases.keys()].sort()).toEqual(['fledge-member-a', 'fledge-shard-0', 'fledge-shard-1', 'fledge-shard-2', 'fledge-shard-3']);
    const shard = leases.leases.get('fledge-shard-2');
    expect(shard?.metadata?.labels).toEqual({ [LABEL_LEASE_GROUP]: 'fledge', [LABEL_LEASE_ROLE]: 'shard' });
    expect(shard?.metadata?.annotations).toEqual({ [ANNOTATION_SHARDS]: '4' });
    expect(shard?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 10 });
    expect(leases.leases.get('fledge-member-a')?.metadata?.labels?.[LABEL_LEASE_ROLE]).toBe('member');
    await manager.release();
  });

  it('stops acting on a shard at its renew deadline when it cannot renew, and takes its keys up again once it renews', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    let reachable = true;
    const { manager, events } = replica(leases, 'a', clock, () => reachable);
    await manager.tick();
    reachable = false;
    for (clock.now = retryPeriodMs; clock.now < renewDeadlineMs; clock.now += retryPeriodMs) await manager.tick();
    clock.now = renewDeadlineMs - 1;
    expect(manager.holds(0)).toBe(true);
    clock.now = renewDeadlineMs;
    // Nothing has run since the last round: the deadline alone stops it.
    expect(manager.holds(0)).toBe(false);
    expect(manager.held()).toEqual([]);
    await manager.tick();
    expect(events.filter((e) => e.startsWith('-')).sort()).toEqual(['-0', '-1', '-2', '-3']);
    // Nobody took the Leases: renewing them (their resourceVersion unchanged) resumes, and the listener hears of it.
    reachable = true;
    events.length = 0;
    await manager.tick();
    expect(manager.held()).toEqual([0, 1, 2, 3]);
    expect(events.sort()).toEqual(['+0', '+1', '+2', '+3']);
    await manager.release();
  });

  it('on release gives its shard Leases up and deletes its membership, so another replica takes them in its next round', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    const a = replica(leases, 'a', clock);
    const b = replica(leases, 'b', clock);
    await a.manager.tick();
    clock.now += 500;
    await b.manager.tick();
    expect(b.manager.held()).toEqual([]);
    clock.now += 500;
    await a.manager.release();
    expect(a.manager.held()).toEqual([]);
    expect(a.events.filter((e) => e.startsWith('-'))).toHaveLength(4);
    expect([...leases.leases.values()].filter((l) => l.metadata?.labels?.[LABEL_LEASE_ROLE] === 'shard').map((l) => l.spec?.holderIdentity)).toEqual(['', '', '', '']);
    expect(leases.leases.has('fledge-member-a')).toBe(false);
    clock.now += 100;
    await b.manager.tick();
    expect(b.manager.held()).toEqual([0, 1, 2, 3]);
  });

  it('hands half its shards to a replica that joins, without a gap longer than a round, and never two at once', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    const a = replica(leases, 'a', clock);
    await a.manager.tick();
    const b = replica(leases, 'b', clock);
    for (let round = 0; round < 4; round++) {
      clock.now += retryPeriodMs / 2;
      await b.manager.tick();
      clock.now += retryPeriodMs / 2;
      await a.manager.tick();
      for (let shard = 0; shard < 4; shard++) expect(a.manager.holds(shard) && b.manager.holds(shard)).toBe(false);
    }
    expect(a.manager.held()).toHaveLength(2);
    expect(b.manager.held()).toHaveLength(2);
    expect([...a.manager.held(), ...b.manager.held()].sort()).toEqual([0, 1, 2, 3]);
    expect(a.events.filter((e) => e.startsWith('-'))).toHaveLength(2);
  });

  it('treats a renewal that answers after its deadline passed as a new start: what was dropped meanwhile is enqueued again', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    let slowCalls = false;
    // Each call takes 1 ms of the clock while slowCalls is on.
    const { manager, events } = replica(leases, 'a', clock, () => {
      if (slowCalls) clock.now += 1;
      return true;
    });
    await manager.tick();
    events.length = 0;
    clock.now = renewDeadlineMs - 1;
    slowCalls = true;
    await manager.tick();
    expect(manager.held()).toEqual([0, 1, 2, 3]);
    expect(events.filter((e) => e.startsWith('-')).sort()).toEqual(['-0', '-1', '-2', '-3']);
    expect(events.filter((e) => e.startsWith('+')).sort()).toEqual(['+0', '+1', '+2', '+3']);
  });

  it('reports a race it lost for a free shard, so its next round comes soon, and a list that failed as no plan', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    const a = replica(leases, 'a', clock);
    const b = replica(leases, 'b', clock);
    // Both list before either writes: they reach for the same new Leases, and each create lands once.
    const [first, second] = await Promise.all([a.manager.tick(), b.manager.tick()]);
    expect([first.lostRace, second.lostRace].sort()).toEqual([false, true]);
    expect(a.manager.held().length + b.manager.held().length).toBe(4);
    for (let shard = 0; shard < 4; shard++) expect(a.manager.holds(shard) && b.manager.holds(shard)).toBe(false);
  });

  it('takes a dead replica\'s shards in the first round after its Leases expire as seen, and says when that is', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    const a = replica(leases, 'a', clock);
    const b = replica(leases, 'b', clock);
    await a.manager.tick();
    clock.now = 100;
    await b.manager.tick();
    clock.now = 200;
    await a.manager.tick();
    clock.now = 300;
    const seen = await b.manager.tick();
    expect(a.manager.held()).toHaveLength(2);
    // a dies after its round at 200: b saw that round at 300, so a's Leases expire for b at 300 + 10 s.
    expect(seen.plan?.nextExpiry).toBe(300 + LEASE_DEFAULTS.leaseDurationMs);
    clock.now = 300 + LEASE_DEFAULTS.leaseDurationMs - 1;
    await b.manager.tick();
    expect(b.manager.held()).toHaveLength(2);
    clock.now += 1;
    await b.manager.tick();
    expect(b.manager.held()).toEqual([0, 1, 2, 3]);
  });

  it('keeps its shards while listing fails, until their deadline', async () => {
    const leases = new FakeLeases();
    const clock = { now: 0 };
    let reachable = true;
    const { manager } = replica(leases, 'a', clock, () => reachable);
    await manager.tick();
    reachable = false;
    clock.now = retryPeriodMs;
    expect(await manager.tick()).toEqual({ plan: undefined, lostRace: false });
    expect(manager.held()).toEqual([0, 1, 2, 3]);
  });
});
