import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { leaseTiming, type ControllerConfig } from '../config.js';
import { leaseApi } from '../kube/api.js';
import { TokenBucket } from '../kube/client.js';
import { leaseRequestTimeoutMs } from '../kube/lease.js';
import { ShardManager, type ShardListener } from '../kube/shards/shard-manager.js';
import { shardingKey, shardOf } from '../kube/shards/shard-of.js';
import type { WriteFence } from '../kube/shards/write-fence.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { ApiClients } from './api-clients.js';
import type { Caches } from './informers.js';
import type { ControllerQueues, KeyOwnership } from './queues.js';
import type { Reconcilers } from './reconcilers.js';
import { keyOf, type QueueName } from './watches.js';

const QUEUES: readonly QueueName[] = ['rollout', 'analysisrun'];

/** --shards N: the replica's shard Leases, which queue keys they cover, and the fence around each reconcile's writes. */
export interface Sharding {
  shards: number;
  manager: ShardManager;
  ownership: KeyOwnership;
  /** The shard a queue's key belongs to: a Rollout's own, an AnalysisRun's Rollout's. */
  shardOfKey(queue: QueueName, key: string): number;
}

export function createSharding(config: ControllerConfig, api: ApiClients, caches: Pick<Caches, 'analysisRuns'>, fence: WriteFence, logger: Logger): Sharding {
  const { shards } = config;
  const timing = leaseTiming(config);
  const suffix = randomBytes(4).toString('hex');
  // A round lists once and writes the membership Lease and at most every shard's; twice that a period leaves room for retries.
  const perRound = shards + 2;
  const limiter = new TokenBucket((2 * perRound * 1000) / timing.retryPeriodMs, 2 * perRound);
  // Its own client, as the leader Lease has: renewals never queue behind reconciles for the shared QPS budget.
  const manager = new ShardManager(api.separate(leaseApi, limiter, leaseRequestTimeoutMs(timing.renewDeadlineMs)), {
    namespace: config.leaderElectionNamespace,
    group: config.leaderElectionId,
    identity: `${hostname()}_${suffix}`,
    memberLease: `${config.leaderElectionId}-member-${suffix}`,
    shards,
    ...timing,
    logger,
  });
  const shardOfKey = (queue: QueueName, key: string): number => {
    if (queue === 'rollout') return shardOf(key, shards);
    const [namespace, name] = key.split('/') as [string, string];
    const run = caches.analysisRuns.get(name, namespace);
    // A run gone from the cache only has memory to forget; its own key decides where.
    return shardOf(run === undefined ? key : shardingKey(run), shards);
  };
  return {
    shards,
    manager,
    shardOfKey,
    ownership: {
      owns: (queue, key) => manager.holds(shardOfKey(queue, key)),
      fenced: (queue, key, reconcile) => {
        const shard = shardOfKey(queue, key);
        return fence.run(`shard ${shard}`, () => manager.holds(shard), reconcile);
      },
    },
  };
}

/**
 * What moves with a shard: gaining one enqueues its Rollouts and their AnalysisRuns; losing one drops their waiting
 * keys and whatever the reconcilers kept about them, since another replica reconciles them now, and tells at once
 * the transitions its Rollouts' Events held.
 */
export function followShards(
  { shards, shardOfKey, manager }: Sharding,
  { caches, queues, reconcilers, metrics }: { caches: Pick<Caches, 'rollouts' | 'analysisRuns'>; queues: ControllerQueues; reconcilers: Pick<Reconcilers, 'rollout' | 'analysisRun' | 'events'>; metrics: ControllerMetrics },
): ShardListener {
  const rolloutsOf = (shard: number): string[] => caches.rollouts.list().map(keyOf).filter((key) => shardOf(key, shards) === shard);
  const runsOf = (shard: number): string[] => caches.analysisRuns.list().filter((run) => shardOf(shardingKey(run), shards) === shard).map(keyOf);
  for (let shard = 0; shard < shards; shard++) metrics.shardHeld.set({ shard: String(shard) }, 0);
  metrics.countShards({
    rollouts: () => {
      const counts = new Array<number>(shards).fill(0);
      for (const rollout of caches.rollouts.list()) {
        const shard = shardOf(keyOf(rollout), shards);
        if (manager.holds(shard)) counts[shard] = (counts[shard] ?? 0) + 1;
      }
      return counts;
    },
    queued: () => {
      const counts = new Array<number>(shards).fill(0);
      for (const queue of QUEUES) {
        for (const key of queues.waiting(queue)) {
          const shard = shardOfKey(queue, key);
          counts[shard] = (counts[shard] ?? 0) + 1;
        }
      }
      return counts;
    },
  });
  return {
    gained: (shard) => {
      metrics.shardHeld.set({ shard: String(shard) }, 1);
      for (const key of rolloutsOf(shard)) queues.enqueue('rollout', key);
      for (const key of runsOf(shard)) queues.enqueue('analysisrun', key);
    },
    lost: (shard) => {
      metrics.shardHeld.set({ shard: String(shard) }, 0);
      for (const queue of QUEUES) queues.forget(queue, (key) => shardOfKey(queue, key) === shard);
      for (const key of rolloutsOf(shard)) reconcilers.rollout.forget(key);
      for (const key of runsOf(shard)) reconcilers.analysisRun.forget(key);
      reconcilers.events.tellHeld((target) => target.kind === 'Rollout' && shardOf(`${target.namespace}/${target.name}`, shards) === shard);
    },
  };
}
