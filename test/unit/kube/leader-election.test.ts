import { getEventListeners } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { LeaseApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import { LeaderElector } from '../../../src/kube/leader-election.js';
import { createLogger } from '../../../src/observability/logger.js';

class ApiError extends Error {
  constructor(readonly code: number) {
    super(`HTTP ${code}`);
  }
}

/** One Lease with the apiserver's optimistic concurrency: a write must carry the current resourceVersion. */
class FakeLeases {
  lease: k8s.V1Lease | undefined;
  private version = 0;

  readNamespacedLease = async (): Promise<k8s.V1Lease> => {
    if (!this.lease) throw new ApiError(404);
    // Like client-node against a real apiserver, MicroTime fields come back as strings.
    return JSON.parse(JSON.stringify(this.lease)) as k8s.V1Lease;
  };
  createNamespacedLease = async ({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> => {
    if (this.lease) throw new ApiError(409);
    return this.store(body);
  };
  replaceNamespacedLease = async ({ body }: { body: k8s.V1Lease }): Promise<k8s.V1Lease> => {
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new ApiError(409);
    return this.store(body);
  };
  private store(body: k8s.V1Lease): k8s.V1Lease {
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const value = body.spec?.[field];
      // The apiserver rejects MicroTime without microseconds; V1MicroTime serializes them.
      if (value !== undefined && !JSON.stringify(value).match(/\.\d{6}Z"$/)) throw new ApiError(400);
    }
    this.version += 1;
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(this.version) } };
    return structuredClone(this.lease);
  }
}

const logger = createLogger('error', {});

function elector(api: FakeLeases, identity: string, clock: { now: number }): LeaderElector {
  return new LeaderElector(api as unknown as LeaseApi, {
    namespace: 'fledge-system',
    name: 'fledge-controller',
    identity,
    leaseDurationMs: 10_000,
    renewDeadlineMs: 7_000,
    retryPeriodMs: 2_000,
    logger,
    now: () => clock.now,
  });
}

describe('LeaderElector', () => {
  it('creates the lease for the first candidate and keeps others out while it renews', async () => {
    const api = new FakeLeases();
    const clock = { now: 0 };
    const a = elector(api, 'a', clock);
    const b = elector(api, 'b', clock);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(api.lease?.spec?.holderIdentity).toBe('a');
    for (let t = 2_000; t <= 30_000; t += 2_000) {
      clock.now = t;
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
    }
    expect(api.lease?.spec?.leaseTransitions).toBe(0);
  });

  it('lets a follower take over once the lease has not changed for its duration, judged by the follower’s own clock', async () => {
    const api = new FakeLeases();
    const clock = { now: 0 };
    const a = elector(api, 'a', clock);
    const b = elector(api, 'b', clock);
    await a.tryAcquireOrRenew();
    clock.now = 1_000;
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // a dies. The lease's own renewTime is ignored: b counts from when it first saw this version.
    clock.now = 10_999;
    expect(await b.tryAcquireOrRenew()).toBe(false);
    clock.now = 11_000;
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // a comes back: it sees b's fresh lease and stays a follower.
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it('lets only one of two racing candidates win (resourceVersion precondition)', async () => {
    const api = new FakeLeases();
    const clock = { now: 0 };
    const a = elector(api, 'a', clock);
    await a.tryAcquireOrRenew();
    const b = elector(api, 'b', clock);
    const c = elector(api, 'c', clock);
    await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    clock.now = 20_000;
    const results = await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(['b', 'c']).toContain(api.lease?.spec?.holderIdentity);
  });

  it('hands the lease over at once on release', async () => {
    const api = new FakeLeases();
    const clock = { now: 0 };
    const a = elector(api, 'a', clock);
    const b = elector(api, 'b', clock);
    expect(await a.acquire(() => undefined)).toBe(true);
    expect(a.isLeader).toBe(true);
    await a.release();
    expect(a.isLeader).toBe(false);
    expect(api.lease?.spec?.holderIdentity).toBe('');
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });
});

/** One candidate's connection to the FakeLeases: while `hung`, requests are taken and never answered (SIGSTOP). */
function connection(api: FakeLeases): { view: FakeLeases; hung: boolean } {
  const link = { hung: false, view: api };
  const pass = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => (...args: A): Promise<R> => (link.hung ? new Promise<R>(() => {}) : call(...args));
  link.view = {
    readNamespacedLease: pass(api.readNamespacedLease),
    createNamespacedLease: pass(api.createNamespacedLease),
    replaceNamespacedLease: pass(api.replaceNamespacedLease),
  } as unknown as FakeLeases;
  return link;
}

const realTime = (api: FakeLeases, identity: string): LeaderElector =>
  new LeaderElector(api as unknown as LeaseApi, {
    namespace: 'fledge-system',
    name: 'fledge-controller',
    identity,
    leaseDurationMs: 1_000,
    renewDeadlineMs: 600,
    retryPeriodMs: 150,
    logger,
  });

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LeaderElector with an apiserver that stops answering', () => {
  it('stops leading by its renew deadline, counted from the start of its last successful renewal', async () => {
    const api = new FakeLeases();
    const link = connection(api);
    const leader = realTime(link.view, 'a');
    let lostAt: number | undefined;
    expect(await leader.acquire(() => (lostAt = Date.now()))).toBe(true);
    await tick(400);
    // The last renewal that got through was written no later than now.
    const lastWrite = new Date(api.lease?.spec?.renewTime as Date).getTime();
    link.hung = true;
    await tick(1_000);
    expect(lostAt, 'onLost was called while the renewal still hangs').toBeDefined();
    expect(leader.isLeader).toBe(false);
    expect(lostAt! - lastWrite).toBeLessThanOrEqual(600 + 100);
    await leader.release();
  });

  it('lets a follower take over only after the old leader has stopped leading: never two leaders', async () => {
    const api = new FakeLeases();
    const toLeader = connection(api);
    const leader = realTime(toLeader.view, 'a');
    const follower = realTime(api, 'b');
    let lostAt: number | undefined;
    expect(await leader.acquire(() => (lostAt = Date.now()))).toBe(true);
    const takingOver = follower.acquire(() => undefined).then((won) => (won ? Date.now() : undefined));
    await tick(500);
    expect(api.lease?.spec?.holderIdentity).toBe('a');
    toLeader.hung = true;
    const tookOverAt = await takingOver;
    expect(api.lease?.spec?.holderIdentity).toBe('b');
    expect(lostAt, 'the old leader stepped down').toBeDefined();
    expect(tookOverAt! - lostAt!, 'and before the follower took over').toBeGreaterThan(0);
    await Promise.all([leader.release(), follower.release()]);
  });

  it('renews for many periods without piling up listeners on its stop signal', async () => {
    const api = new FakeLeases();
    const leader = new LeaderElector(api as unknown as LeaseApi, {
      namespace: 'fledge-system',
      name: 'fledge-controller',
      identity: 'a',
      leaseDurationMs: 1_000,
      renewDeadlineMs: 600,
      retryPeriodMs: 5,
      logger,
    });
    await leader.acquire(() => undefined);
    await tick(200);
    expect(Number(api.lease?.metadata?.resourceVersion)).toBeGreaterThan(10);
    const stopping = (leader as unknown as { stopping: AbortController }).stopping.signal;
    expect(getEventListeners(stopping, 'abort').length).toBeLessThanOrEqual(1);
    await leader.release();
  });
});
