import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { leaseTiming, type ControllerConfig } from '../config.js';
import { leaseApi } from '../kube/api.js';
import { TokenBucket } from '../kube/client.js';
import { waitForCacheSync } from '../kube/informer.js';
import { LeaderElector } from '../kube/leader-election.js';
import { leaseRequestTimeoutMs } from '../kube/lease.js';
import type { Logger } from '../observability/logger.js';
import { healthRoutes, metricsRoutes, serveHttp, type ControllerMetrics, type HttpEndpoint } from '../observability/metrics.js';
import type { ApiClients } from './api-clients.js';
import { informersOf, type Caches } from './informers.js';
import type { ControllerQueues } from './queues.js';
import type { Reconcilers } from './reconcilers.js';
import { followShards, type Sharding } from './shards.js';
import { stopOnSignals } from './shutdown.js';
import { keyOf } from './watches.js';

/** A candidate makes at most two Lease requests a retry period; this leaves room for retries. */
const LEASE_QPS = 5;

/** A wired controller, not yet started. */
export interface Controller {
  config: ControllerConfig;
  api: ApiClients;
  caches: Caches;
  metrics: ControllerMetrics;
  logger: Logger;
  queues: ControllerQueues;
  reconcilers: Reconcilers;
  /** With --shards above 1. */
  sharding?: Sharding;
}

/**
 * Serves metrics and probes, syncs every cache, waits for leadership (with --leader-elect), then reconciles until a
 * signal stops it. Followers keep warm caches; once reconciling starts, everything cached is enqueued. With --shards,
 * every replica reconciles, each only the Rollouts of the shards it holds; a shard's keys are enqueued when it comes.
 */
export async function runController(controller: Controller): Promise<void> {
  const { config, caches, metrics, logger, queues, reconcilers, sharding } = controller;
  const informers = informersOf(caches);
  metrics.countCachedObjects(informers);
  const endpoints = await serveEndpoints(config, metrics, () => informers.every((informer) => informer.synced), logger);
  const elector = config.leaderElect ? leaderElector(config, controller.api, logger) : undefined;
  const stopping = stopOnSignals({ queues, reconcilers, leases: elector ?? sharding?.manager, informers, endpoints }, logger);

  // Not awaited: a start can hang on an apiserver that accepts connections but never answers. An informer whose
  // list failed (a bad CA, missing RBAC, an apiserver down) retries on its own; wait until every one has listed.
  for (const informer of informers) void informer.start();
  const cachesSynced = await waitForCacheSync(informers, {
    signal: stopping,
    onWaiting: (waiting) => logger.warn('waiting for caches to sync; not reconciling', { informers: waiting }),
  });
  if (!cachesSynced) return;
  logger.info('caches synced', { namespaces: config.namespaces.length ? config.namespaces : 'all', concurrency: config.concurrency });

  if (elector !== undefined) {
    logger.info('waiting for leadership', { lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}` });
    const won = await elector.acquire(() => {
      // Another process may already be reconciling: stop at once rather than race it; the Deployment restarts us.
      metrics.leader.set(0);
      process.exit(1);
    });
    if (!won) return;
  }
  startReconciling(controller);
  if (sharding !== undefined) {
    void sharding.manager.run(followShards(sharding, controller));
    logger.info('reconciling the shards this replica holds', { shards: sharding.shards, leases: `${config.leaderElectionNamespace}/${config.leaderElectionId}-shard-*` });
    return;
  }
  metrics.leader.set(1);
  logger.info('reconciling', { leader: elector !== undefined });
}

async function serveEndpoints(config: ControllerConfig, metrics: ControllerMetrics, synced: () => boolean, logger: Logger): Promise<HttpEndpoint[]> {
  const metricsEndpoint = await serveHttp(config.bindAddress, config.metricsPort, metricsRoutes(metrics));
  const healthEndpoint = await serveHttp(config.bindAddress, config.healthPort, healthRoutes(synced));
  logger.info('serving metrics and probes', { metrics: `${metricsEndpoint.url}/metrics`, health: `${healthEndpoint.url}/healthz` });
  return [metricsEndpoint, healthEndpoint];
}

/**
 * The Lease gets a client of its own, as in controller-runtime: renewals never queue behind reconciles for the
 * shared QPS limit, and a request the apiserver does not answer fails in time for another attempt.
 */
function leaderElector(config: ControllerConfig, api: ApiClients, logger: Logger): LeaderElector {
  const timing = leaseTiming(config);
  return new LeaderElector(api.separate(leaseApi, new TokenBucket(LEASE_QPS, LEASE_QPS), leaseRequestTimeoutMs(timing.renewDeadlineMs)), {
    namespace: config.leaderElectionNamespace,
    name: config.leaderElectionId,
    identity: `${hostname()}_${randomBytes(4).toString('hex')}`,
    ...timing,
    logger,
  });
}

function startReconciling({ caches, queues, reconcilers }: Controller): void {
  queues.start({ rollout: (key) => reconcilers.rollout.reconcile(key), analysisrun: (key) => reconcilers.analysisRun.reconcile(key) });
  for (const rollout of caches.rollouts.list()) queues.enqueue('rollout', keyOf(rollout));
  for (const run of caches.analysisRuns.list()) queues.enqueue('analysisrun', keyOf(run));
}
