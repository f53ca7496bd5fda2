import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Rollout } from '../../../src/api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT } from '../../../src/api/labels.js';
import { makeRollout, revisionOf, templateFor } from './fake-cluster.js';
import { KEY, reconcilerOn } from './fake-reconciler.js';

const REVISION = revisionOf('api:1');

/** A ReplicaSet named as Fledge would name it, as `kubectl delete rollout --cascade=orphan` leaves it. */
function orphan(overrides: { owner?: k8s.V1OwnerReference; revision?: string } = {}): k8s.V1ReplicaSet {
  const revision = overrides.revision ?? REVISION;
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: `api-${REVISION}`, namespace: 'shop', labels: { app: 'api', [LABEL_POD_TEMPLATE_HASH]: revision }, ...(overrides.owner && { ownerReferences: [overrides.owner] }) },
    spec: { replicas: 2, selector: { matchLabels: { app: 'api', [LABEL_POD_TEMPLATE_HASH]: revision } }, template: { ...templateFor('api:1'), metadata: { labels: { app: 'api', [LABEL_POD_TEMPLATE_HASH]: revision } } } as unknown as k8s.V1PodTemplateSpec },
  };
}

describe('RolloutReconciler and what it did not create', () => {
  it('adopts an orphaned ReplicaSet of its revision instead of retrying the create forever', async () => {
    const { kube, reconciler, step, status } = reconcilerOn(makeRollout({ replicas: 2, steps: [] }));
    kube.put('replicasets', orphan());
    expect(await reconciler.reconcile(KEY)).not.toEqual({ retry: true });
    const adopted = kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${REVISION}`);
    expect(adopted?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true })]);
    expect(adopted?.metadata?.labels?.[LABEL_ROLLOUT]).toBe('api');
    for (let i = 0; i < 4 && status().phase !== 'Healthy'; i++) await step();
    expect(status()).toMatchObject({ phase: 'Healthy', stableRevision: REVISION });
    expect(kube.writes.filter((w) => w.verb === 'create' && w.kind === 'replicasets')).toHaveLength(1);
  });

  it('refuses a ReplicaSet of that name controlled by something else: a condition, a Warning Event, a back-off, and no fight', async () => {
    const { kube, reconciler } = reconcilerOn(makeRollout({ replicas: 2, steps: [] }));
    kube.put('replicasets', orphan({ owner: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', uid: 'uid-deploy', controller: true } }));
    expect(await reconciler.reconcile(KEY)).toEqual({ retry: true });
    kube.sync();
    expect(await reconciler.reconcile(KEY)).toEqual({ retry: true });
    const rollout = kube.get<Rollout>('rollouts', 'shop', 'api');
    expect(rollout?.status).toMatchObject({ phase: 'Degraded', message: `ReplicaSet api-${REVISION} exists and cannot be adopted: it is controlled by Deployment api` });
    expect(rollout?.status?.conditions).toEqual([expect.objectContaining({ type: 'InvalidSpec', status: 'True', reason: 'ResourceConflict' })]);
    expect(kube.events).toEqual([{ reason: 'ResourceConflict', message: `ReplicaSet api-${REVISION} exists and cannot be adopted: it is controlled by Deployment api` }]);
    expect(kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${REVISION}`)?.metadata?.ownerReferences).toHaveLength(1);
  });

  it('turns a pod template the apiserver refuses into InvalidSpec, Degraded and one Warning Event, retried with back-off', async () => {
    const { kube, reconciler, step, status } = reconcilerOn(makeRollout({ replicas: 2, steps: [] }));
    kube.refuseCreates.set('replicasets', 'ReplicaSet.apps "api-x" is invalid: spec.template.spec.containers[0].image: Required value');
    for (let i = 0; i < 3; i++) {
      expect(await reconciler.reconcile(KEY)).toEqual({ retry: true });
      kube.sync();
    }
    expect(status()).toMatchObject({ phase: 'Degraded', message: expect.stringContaining('the apiserver refuses the pod template: ReplicaSet.apps "api-x" is invalid') });
    expect(status().conditions).toEqual([expect.objectContaining({ type: 'InvalidSpec', reason: 'InvalidSpec' })]);
    expect(kube.events.map((e) => e.reason)).toEqual(['InvalidSpec']);
    // Fixed in Git: the next reconcile creates it, and the InvalidSpec condition goes.
    kube.refuseCreates.clear();
    for (let i = 0; i < 4 && status().phase !== 'Healthy'; i++) await step();
    expect(status().phase).toBe('Healthy');
    expect(status().conditions?.some((c) => c.type === 'InvalidSpec')).toBe(false);
  });

  it('creates nothing for a Rollout being deleted, and releases its Services when it is gone', async () => {
    const { kube, reconciler, step, status } = reconcilerOn(makeRollout({ replicas: 2, steps: [], canary: { stableService: 'api-stable' } }));
    kube.put('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api-stable', namespace: 'shop' }, spec: { selector: { app: 'api' } } });
    for (let i = 0; i < 4 && status().phase !== 'Healthy'; i++) await step();
    expect(kube.get<k8s.V1Service>('services', 'shop', 'api-stable')?.spec?.selector?.[LABEL_POD_TEMPLATE_HASH]).toBe(REVISION);

    const current = kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    kube.put('rollouts', { ...current, metadata: { ...current.metadata, deletionTimestamp: '2026-03-01T12:05:00Z' } });
    kube.remove('replicasets', 'shop', `api-${REVISION}`);
    kube.sync();
    const from = kube.writes.length;
    await reconciler.reconcile(KEY);
    expect(kube.writesSince(from).filter((w) => w.kind === 'replicasets' || w.kind === 'rollouts/status')).toEqual([]);
    expect(kube.get<k8s.V1Service>('services', 'shop', 'api-stable')?.spec?.selector).toEqual({ app: 'api' });
    expect(kube.get<k8s.V1Service>('services', 'shop', 'api-stable')?.metadata?.labels?.[LABEL_ROLLOUT]).toBeUndefined();

    // Deleted outright (no foreground deletion): the Service it had labelled is released the same way.
    kube.put('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api-stable', namespace: 'shop', labels: { [LABEL_ROLLOUT]: 'api' } }, spec: { selector: { app: 'api', [LABEL_POD_TEMPLATE_HASH]: REVISION } } });
    kube.remove('rollouts', 'shop', 'api');
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(kube.get<k8s.V1Service>('services', 'shop', 'api-stable')?.spec?.selector).toEqual({ app: 'api' });
  });

  it('refuses to steer a Service another Rollout already steers', async () => {
    const { kube, reconciler } = reconcilerOn(makeRollout({ replicas: 2, steps: [], canary: { stableService: 'shared' } }));
    kube.put('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'shared', namespace: 'shop', labels: { [LABEL_ROLLOUT]: 'checkout' } }, spec: { selector: { app: 'checkout', [LABEL_POD_TEMPLATE_HASH]: 'abc' } } });
    kube.sync();
    expect(await reconciler.reconcile(KEY)).toEqual({ retry: true });
    expect(kube.get<k8s.V1Service>('services', 'shop', 'shared')?.spec?.selector).toEqual({ app: 'checkout', [LABEL_POD_TEMPLATE_HASH]: 'abc' });
    expect(kube.events).toEqual([{ reason: 'ResourceConflict', message: 'Service shared is already steered by Rollout checkout; a Service can serve one Rollout only' }]);
  });
});
