import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LEASE_DEFAULTS } from '../../../../src/kube/lease.js';
import { nextRoundInMs } from '../../../../src/kube/shards/balance.js';
import { ShardManager } from '../../../../src/kube/shards/shard-manager.js';
import { createLogger } from '../../../../src/observability/logger.js';
import { propertyParameters } from '../../property.js';
import { FakeLeases } from './fake-leases.js';

const { leaseDurationMs, retryPeriodMs } = LEASE_DEFAULTS;
const STEP_MS = 100;
/**
 * After a crash, a replica's Leases are seen unchanged for a lease duration (sighted up to a retry late), then taken in
 * the round that comes at their expiry, or in the rounds soon after when replicas race for them.
 */
const TAKEOVER_MS = leaseDurationMs + retryPeriodMs + retryPeriodMs / 2 + STEP_MS;
/** Time for everything to settle after any change: a takeover, then a round to release surplus and one to take it. */
const SETTLE_MS = TAKEOVER_MS + 3 * retryPeriodMs;
const logger = createLogger('error', {});

class Replica {
  state: 'running' | 'crashed' | 'left' = 'running';
  /** Until then, every call it makes to the apiserver fails. */
  partitionedUntil = 0;
  readonly manager: ShardManager;

  constructor(
    readonly identity: string,
    public nextTickAt: number,
    cluster: Cluster,
  ) {
    this.manager = new ShardManager(cluster.leases.client(() => cluster.now >= this.partitionedUntil), {
      namespace: 'fledge-system',
      group: 'fledge',
      identity,
      memberLease: `fledge-member-${identity}`,
      shards: cluster.shards,
      ...LEASE_DEFAULTS,
      logger,
      now: () => cluster.now,
    });
  }
}

/** Replicas, each a real ShardManager ticking every retry period on its own phase, over one apiserver's Leases and one clock. */
class Cluster {
  now = 0;
  readonly leases = new FakeLeases();
  readonly replicas: Replica[] = [];
  /** Each shard's holder history, one entry per change of holder ('' while nobody acts on it). */
  readonly holderChanges: Array<{ at: number; shard: number; holder: string }> = [];
  private lastHolder: string[];

  constructor(readonly shards: number) {
    this.lastHolder = new Array<string>(shards).fill('');
  }

  join(phaseMs: number): void {
    this.replicas.push(new Replica(`replica-${this.replicas.length}`, this.now + phaseMs, this));
  }

  running(): Replica[] {
    return this.replicas.filter((r) => r.state === 'running');
  }

  /** The replicas acting on a shard: every one that has not crashed, partitioned or not. */
  actingOn(shard: number): Replica[] {
    return this.replicas.filter((r) => r.state !== 'crashed' && r.manager.holds(shard));
  }

  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    while (this.now < until) {
      this.now += STEP_MS;
      for (const replica of this.running()) {
        if (replica.nextTickAt > this.now) continue;
        // As run() does: the next round when the plan says.
        replica.nextTickAt = this.now + nextRoundInMs(await replica.manager.tick(), this.now, retryPeriodMs);
      }
      this.observe();
    }
  }

  private observe(): void {
    for (let shard = 0; shard < this.shards; shard++) {
      const acting = this.actingOn(shard);
      if (acting.length > 1) throw new Error(`at ${this.now} ms shard ${shard} is acted on by ${acting.map((r) => r.identity).join(' and ')}`);
      const holder = acting[0]?.identity ?? '';
      if (holder !== this.lastHolder[shard]) {
        this.holderChanges.push({ at: this.now, shard, holder });
        this.lastHolder[shard] = holder;
      }
    }
  }

  /** Shards that changed hands (from one replica to another, through any gap) in [from, to]. */
  moves(from: number, to: number): number {
    const before = new Map<number, string>();
    for (const change of this.holderChanges) if (change.at < from && change.holder !== '') before.set(change.shard, change.holder);
    let moves = 0;
    for (const change of this.holderChanges) {
      if (change.at < from || change.at > to || change.holder === '') continue;
      if (before.get(change.shard) !== change.holder) moves++;
      before.set(change.shard, change.holder);
    }
    return moves;
  }
}

type Command = { kind: 'join'; phase: number } | { kind: 'crash' | 'leave'; who: number } | { kind: 'partition'; who: number; forMs: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('join' as const), phase: fc.integer({ min: 0, max: retryPeriodMs / STEP_MS - 1 }).map((n) => n * STEP_MS) }),
  fc.record({ kind: fc.constantFrom('crash' as const, 'leave' as const), who: fc.nat() }),
  fc.record({ kind: fc.constant('partition' as const), who: fc.nat(), forMs: fc.integer({ min: 1, max: 25 }).map((n) => n * 1_000) }),
);
/** A command and how long nothing else happens after it: often long enough to settle, sometimes not. */
const scenario = fc.record({
  shards: fc.integer({ min: 2, max: 16 }),
  initial: fc.integer({ min: 1, max: 4 }),
  steps: fc.array(fc.record({ command, waitMs: fc.oneof(fc.integer({ min: 0, max: 8 }).map((n) => n * 500), fc.constant(SETTLE_MS + 2 * retryPeriodMs)) }), { minLength: 1, maxLength: 12 }),
});

/** Every shard acted on by exactly one running replica, each holding ⌊S/R⌋ or ⌈S/R⌉ of them. */
function expectSettled(cluster: Cluster, why: string): void {
  const running = cluster.running().filter((r) => r.partitionedUntil <= cluster.now);
  if (running.length === 0) return;
  for (let shard = 0; shard < cluster.shards; shard++) {
    expect(cluster.actingOn(shard).map((r) => r.identity), `${why}: shard ${shard} at ${cluster.now} ms`).toHaveLength(1);
  }
  const low = Math.floor(cluster.shards / running.length);
  for (const replica of running) {
    const held = replica.manager.held().length;
    expect(held, `${why}: ${replica.identity} holds ${held} of ${cluster.shards} with ${running.length} replicas`).toBeGreaterThanOrEqual(low);
    expect(held).toBeLessThanOrEqual(Math.ceil(cluster.shards / running.length));
  }
}

describe('shard Leases over generated joins, leaves, crashes and partitions', () => {
  it('never lets two replicas act on one shard; settles to every shard held, balanced; a join moves at most ⌈S/R⌉; a crash is taken over in time', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ shards, initial, steps }) => {
        const cluster = new Cluster(shards);
        for (let i = 0; i < initial; i++) cluster.join(i * STEP_MS * 3);
        await cluster.advance(SETTLE_MS);
        expectSettled(cluster, 'the first replicas');
        let settledSince = 0;
        for (const { command, waitMs } of steps) {
          const at = cluster.now;
          const settled = at - settledSince >= SETTLE_MS && cluster.replicas.every((r) => r.partitionedUntil <= at);
          const running = cluster.running();
          const target = running[(command.kind === 'join' ? 0 : command.who) % Math.max(1, running.length)];
          const crashed = command.kind === 'crash' && target !== undefined && running.length > 1 ? target : undefined;
          if (command.kind === 'join') cluster.join(command.phase);
          else if (target !== undefined && command.kind === 'crash') target.state = 'crashed';
          else if (target !== undefined && command.kind === 'leave') {
            target.state = 'left';
            await target.manager.release();
          } else if (target !== undefined && command.kind === 'partition') target.partitionedUntil = at + command.forMs;
          const quietUntil = Math.max(at, ...cluster.replicas.map((r) => r.partitionedUntil));
          settledSince = quietUntil;

          if (crashed !== undefined && waitMs >= TAKEOVER_MS && quietUntil === at) {
            // Every shard the crashed replica held is acted on again by another within the takeover bound.
            const held = crashed.manager.held();
            await cluster.advance(TAKEOVER_MS);
            for (const shard of held) expect(cluster.actingOn(shard).filter((r) => r !== crashed), `shard ${shard} ${TAKEOVER_MS} ms after its holder crashed`).toHaveLength(1);
            await cluster.advance(waitMs - TAKEOVER_MS);
          } else {
            await cluster.advance(waitMs);
          }
          if (cluster.now - settledSince >= SETTLE_MS) {
            expectSettled(cluster, `${SETTLE_MS} ms after ${command.kind}`);
            if (command.kind === 'join' && settled) {
              const bound = Math.ceil(shards / cluster.running().length);
              expect(cluster.moves(at, cluster.now), `shards moved by a join to ${cluster.running().length} replicas of ${shards} shards`).toBeLessThanOrEqual(bound);
            }
          }
        }
      }),
      propertyParameters(60),
    );
  }, 120_000);
});
