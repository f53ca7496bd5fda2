import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ApiClients } from '../../../src/controller/api-clients.js';
import { ControllerQueues } from '../../../src/controller/queues.js';
import { createSharding, followShards } from '../../../src/controller/shards.js';
import { loadConfig } from '../../../src/config.js';
import type { EventTarget } from '../../../src/kube/events.js';
import { shardOf } from '../../../src/kube/shards/shard-of.js';
import { WriteFence } from '../../../src/kube/shards/write-fence.js';
import { createLogger } from '../../../src/observability/logger.js';
import { ControllerMetrics } from '../../../src/observability/metrics.js';
import { FakeLeases } from '../kube/shards/fake-leases.js';

const logger = createLogger('error', {});
const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A cache of objects by namespace/name, as the informers' get and list read it. */
function cache(objects: k8s.KubernetesObject[]) {
  const byKey = new Map(objects.map((o) => [`${o.metadata?.namespace}/${o.metadata?.name}`, o]));
  return {
    get: (name: string, namespace?: string) => byKey.get(`${namespace}/${name}`),
    list: () => [...byKey.values()],
  };
}

const rollouts = Array.from({ length: 40 }, (_, i) => ({ metadata: { namespace: 'shop', name: `web-${i}` } }));
/** One AnalysisRun per Rollout, named so that the run's own key would hash elsewhere than its Rollout's. */
const runs = rollouts.map((r) => ({ metadata: { namespace: 'shop', name: `${r.metadata.name}-canary-7f9c`, ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: r.metadata.name, uid: 'u', controller: true }] } }));

function sharded() {
  const leases = new FakeLeases();
  const config = loadConfig(['--shards', '4'], {});
  const api = { separate: () => leases.client() } as unknown as ApiClients;
  const caches = { rollouts: cache(rollouts), analysisRuns: cache(runs) };
  const fence = new WriteFence();
  const sharding = createSharding(config, api, caches as never, fence, logger);
  const metrics = new ControllerMetrics();
  const reconciled: string[] = [];
  const forgotten: string[] = [];
  /** Rollout reconciles wait for it. */
  const control = { gate: Promise.resolve() };
  const queues = new ControllerQueues({ concurrency: 4, metrics, logger, ownership: sharding.ownership });
  /** Rollouts whose Events hold a transition; told once their shard is lost. */
  const held = rollouts.map((r): EventTarget => ({ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: r.metadata.name, namespace: 'shop' }));
  const told: string[] = [];
  const reconcilers = {
    rollout: { forget: (key: string) => forgotten.push(`rollout ${key}`) },
    analysisRun: { forget: (key: string) => forgotten.push(`analysisrun ${key}`) },
    events: {
      tellHeld: (which: (target: EventTarget) => boolean) => {
        for (const target of held.filter(which)) told.push(`${target.namespace}/${target.name}`);
      },
    },
  };
  queues.start({
    rollout: async (key) => {
      await control.gate;
      reconciled.push(`rollout ${key}`);
    },
    analysisrun: async (key) => void reconciled.push(`analysisrun ${key}`),
  });
  sharding.manager.follow(followShards(sharding, { caches: caches as never, queues, reconcilers: reconcilers as never, metrics }));
  return { sharding, queues, metrics, reconciled, forgotten, told, control };
}

describe('sharded queues', () => {
  it("routes an AnalysisRun to its Rollout's shard", () => {
    const { sharding } = sharded();
    for (const [i, run] of runs.entries()) {
      expect(sharding.shardOfKey('analysisrun', `shop/${run.metadata.name}`)).toBe(shardOf(`shop/${rollouts[i]?.metadata.name}`, 4));
    }
  });

  it('admits nothing before a shard is held; on gaining shards enqueues exactly their Rollouts and runs', async () => {
    const { sharding, queues, reconciled, metrics } = sharded();
    queues.enqueue('rollout', 'shop/web-0');
    await tick();
    expect(reconciled).toEqual([]);
    await sharding.manager.tick();
    await tick(20);
    expect(sharding.manager.held()).toEqual([0, 1, 2, 3]);
    expect(reconciled.filter((r) => r.startsWith('rollout')).sort()).toEqual(rollouts.map((r) => `rollout shop/${r.metadata.name}`).sort());
    expect(reconciled.filter((r) => r.startsWith('analysisrun'))).toHaveLength(runs.length);
    const text = await metrics.registry.metrics();
    expect(text).toContain('fledge_shard_held{shard="2"} 1');
    const perShard = [0, 1, 2, 3].map((shard) => rollouts.filter((r) => shardOf(`shop/${r.metadata.name}`, 4) === shard).length);
    for (const [shard, count] of perShard.entries()) expect(text).toContain(`fledge_shard_rollouts{shard="${shard}"} ${count}`);
    expect(text).toContain('fledge_shard_queue_depth{shard="0"} 0');
  });

  it('on losing a shard drops its waiting keys and what the reconcilers kept about them, and reconciles nothing of it', async () => {
    const { sharding, queues, reconciled, forgotten, told, metrics, control } = sharded();
    await sharding.manager.tick();
    await tick(20);
    reconciled.length = 0;
    // Four workers busy, six keys waiting; then every shard is lost (the replica stops).
    let release!: () => void;
    control.gate = new Promise<void>((r) => (release = r));
    for (let i = 0; i < 10; i++) queues.enqueue('rollout', `shop/web-${i}`);
    expect(queues.waiting('rollout')).toHaveLength(6);
    await sharding.manager.release();
    expect(queues.waiting('rollout')).toEqual([]);
    release();
    await tick(20);
    // Only the four already running finished (in the controller their writes are fenced); none of the waiting ran.
    expect(reconciled.sort()).toEqual(['rollout shop/web-0', 'rollout shop/web-1', 'rollout shop/web-2', 'rollout shop/web-3']);
    expect(forgotten).toContain('rollout shop/web-0');
    expect(forgotten.filter((f) => f.startsWith('rollout'))).toHaveLength(rollouts.length);
    expect(told.sort(), "every Rollout's held Event is told at once, each when its shard went").toEqual(rollouts.map((r) => `shop/${r.metadata.name}`).sort());
    for (const shard of [0, 1, 2, 3]) expect(await metrics.registry.metrics()).toContain(`fledge_shard_held{shard="${shard}"} 0`);
  });

  it('stops a reconcile whose shard is lost mid-way without counting an error: its writes are fenced', async () => {
    const leases = new FakeLeases();
    const fence = new WriteFence();
    const sharding = createSharding(loadConfig(['--shards', '2'], {}), { separate: () => leases.client() } as unknown as ApiClients, { analysisRuns: cache([]) } as never, fence, logger);
    const metrics = new ControllerMetrics();
    const queues = new ControllerQueues({ concurrency: 1, metrics, logger, ownership: sharding.ownership });
    await sharding.manager.tick();
    let calls = 0;
    queues.start({
      rollout: async () => {
        calls++;
        await sharding.manager.release();
        // What the API client does before sending a write.
        fence.check();
      },
      analysisrun: async () => {},
    });
    queues.enqueue('rollout', 'shop/web-0');
    await tick(20);
    expect(calls).toBe(1);
    expect(await metrics.registry.getSingleMetricAsString('fledge_reconcile_errors_total')).not.toMatch(/controller="rollout"} [1-9]/);
  });
});
