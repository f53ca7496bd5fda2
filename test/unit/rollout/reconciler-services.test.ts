import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT } from '../../../src/api/labels.js';
import { makeRollout, revisionOf } from './fake-cluster.js';
import { KEY, reconcilerOn } from './fake-reconciler.js';

const service = (name: string): k8s.V1Service => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector: { app: 'api' } } });

describe('RolloutReconciler and the Services it caches', () => {
  it('reads a named Service it does not cache yet, labels it with its Rollout and points it at a revision; other Services are never cached', async () => {
    const { kube, step, status } = reconcilerOn(makeRollout({ replicas: 2, canary: { stableService: 'api-stable', canaryService: 'api-canary' } }));
    for (const name of ['api-stable', 'api-canary', 'checkout', 'payments']) kube.put('services', service(name));
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(status().phase).toBe('Healthy');
    for (const name of ['api-stable', 'api-canary']) {
      const svc = kube.get<k8s.V1Service>('services', 'shop', name);
      expect(svc?.metadata?.labels?.[LABEL_ROLLOUT]).toBe('api');
      expect(svc?.spec?.selector).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: revisionOf('api:1') });
    }
    kube.sync();
    expect(kube.informer<k8s.V1Service>('services').list().map((s) => s.metadata?.name).sort()).toEqual(['api-canary', 'api-stable']);
    // Once cached with its label and selector, a Service costs no further reads or writes.
    const from = kube.writes.length;
    await step();
    expect(kube.writesSince(from).filter((w) => w.kind === 'services')).toEqual([]);
  });

  it('looks again for a named Service that does not exist, since its creation sends the cache no event', async () => {
    const { kube, reconciler, step, status } = reconcilerOn(makeRollout({ replicas: 2, canary: { stableService: 'api-stable' } }));
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(status().phase).toBe('Healthy');
    kube.sync();
    const result = await reconciler.reconcile(KEY);
    expect(result).toEqual({ requeueAfterMs: 10_000 });
    kube.put('services', service('api-stable'));
    await reconciler.reconcile(KEY);
    expect(kube.get<k8s.V1Service>('services', 'shop', 'api-stable')?.spec?.selector?.[LABEL_POD_TEMPLATE_HASH]).toBe(revisionOf('api:1'));
  });
});
