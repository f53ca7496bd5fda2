import type { Rollout } from '../../../src/api/rollout.js';
import { describe, expect, it } from 'vitest';
import { KEY, reconcilerOn } from './fake-reconciler.js';
import { revisionOf } from './fake-cluster.js';

describe('RolloutReconciler and a cache older than its own writes', () => {
  it('does not decide on the Rollout its own status write replaced: the canary it just raised to 2 is not scaled back to 1', async () => {
    const { kube, reconciler, step, status, replicasOf, setImage } = reconcilerOn();
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(status().phase).toBe('Healthy');
    setImage('api:2');
    // Walk the canary until the reconcile that completes setWeight 25 and raises the canary for setWeight 50.
    let raised = false;
    for (let i = 0; i < 10 && !raised; i++) {
      kube.sync();
      const before = status().currentStepIndex;
      await reconciler.reconcile(KEY);
      raised = before === 0 && status().currentStepIndex === 1;
      if (!raised) kube.settleReplicaSets();
    }
    expect(raised).toBe(true);
    expect(replicasOf('api:2')).toBe(2);
    // The ReplicaSet watch delivers the scale (and the new pod) before the Rollout watch delivers the status write.
    kube.settleReplicaSets();
    kube.sync('replicasets');
    const from = kube.writes.length;
    const result = await reconciler.reconcile(KEY);
    expect(kube.writesSince(from), 'no write decided on the old step, and no status write refused with 409').toEqual([]);
    expect(result).toEqual({ requeueAfterMs: 100 });
    expect(replicasOf('api:2')).toBe(2);
    // The Rollout watch catches up: the reconcile goes on from setWeight 50, and the canary never went back.
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(status().currentStepIndex).toBeGreaterThanOrEqual(1);
    expect(replicasOf('api:2')).toBe(2);
    const canaryScales = kube.writes.filter((w) => w.kind === 'replicasets' && w.name === `api-${revisionOf('api:2')}` && w.verb === 'patch');
    const sizes = canaryScales.map((w) => (w.body as { spec?: { replicas?: number } }).spec?.replicas).filter((n) => n !== undefined);
    expect(sizes).toEqual([...sizes].sort((a, b) => (a ?? 0) - (b ?? 0)));
  });

  it('does not create the ReplicaSet again while its cache has not shown the one it just created (no AlreadyExists)', async () => {
    const { kube, reconciler, step, status, replicasOf, setImage } = reconcilerOn();
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    setImage('api:2');
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(replicasOf('api:2')).toBe(1);
    // The Rollout watch is quick, the ReplicaSet watch slow.
    kube.sync('rollouts');
    const from = kube.writes.length;
    expect(await reconciler.reconcile(KEY)).toEqual({ requeueAfterMs: 100 });
    expect(kube.writesSince(from)).toEqual([]);
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(kube.writesSince(from).filter((w) => w.outcome !== 'ok')).toEqual([]);
  });

  it('does not decide on a ReplicaSet older than its own scale, and waits no longer than the expectation lives', async () => {
    const { kube, clock, reconciler, step, status, replicasOf, setImage } = reconcilerOn();
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    setImage('api:2');
    await step();
    // Canary created and available: the next reconcile scales the stable 4 -> 3.
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(replicasOf('api:1')).toBe(3);
    // The Rollout watch has caught up with the status written meanwhile; the ReplicaSet watch has not.
    kube.sync('rollouts');
    const from = kube.writes.length;
    expect(await reconciler.reconcile(KEY), 'the cache still says 4').toEqual({ requeueAfterMs: 100 });
    expect(kube.writesSince(from)).toEqual([]);
    // Someone scales it at once to 5: the cache never shows our 3. After 30 s the Rollout is decided on again.
    kube.apps.patchNamespacedReplicaSet({ name: `api-${revisionOf('api:1')}`, namespace: 'shop', body: { spec: { replicas: 5 } } }).catch(() => undefined);
    kube.sync();
    clock.now += 29_000;
    expect(await reconciler.reconcile(KEY)).toEqual({ requeueAfterMs: 100 });
    clock.now += 1_000;
    const resumed = kube.writes.length;
    expect(await reconciler.reconcile(KEY)).not.toEqual({ requeueAfterMs: 100 });
    expect(kube.writesSince(resumed).some((w) => w.kind === 'replicasets' && w.verb === 'patch')).toBe(true);
  });

  it('retries a 409 after the queue’s backoff: { retry: true }', async () => {
    const { kube, reconciler, step, status, setImage } = reconcilerOn();
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    setImage('api:2');
    kube.sync();
    // Someone labels the Rollout after the cache saw it: the status write carries the older resourceVersion.
    const current = kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    kube.put('rollouts', { ...current, metadata: { ...current.metadata, labels: { team: 'checkout' } } });
    const result = await reconciler.reconcile(KEY);
    expect(kube.writes.at(-1)).toMatchObject({ kind: 'rollouts/status', outcome: 409 });
    expect(result).toEqual({ retry: true });
  });

  it('forgets a deleted Rollout: its metric series and what it remembered of its writes', async () => {
    const { kube, metrics, reconciler, step, status, setImage } = reconcilerOn();
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    setImage('api:2');
    kube.sync();
    await reconciler.reconcile(KEY);
    const internals = reconciler as unknown as { reporter: { statusWrites: { size: number } }; replicaSets: { expectations: { size: number } } };
    expect([internals.reporter.statusWrites.size, internals.replicaSets.expectations.size], 'a status write and a create to remember').toEqual([1, 1]);
    metrics.recordAbort('shop', 'api', 'Manual');
    expect(await metrics.registry.metrics()).toContain('name="api"');
    kube.remove('rollouts', 'shop', 'api');
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(await metrics.registry.metrics()).not.toContain('name="api"');
    expect(internals.reporter.statusWrites.size).toBe(0);
    expect(internals.replicaSets.expectations.size).toBe(0);
  });
});
