import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LABEL_POD_TEMPLATE_HASH } from '../../../src/api/labels.js';
import { makeRollout, revisionOf } from './fake-cluster.js';
import { reconcilerOn } from './fake-reconciler.js';

const roles = {
  canaryMetadata: { labels: { role: 'canary', track: 'preview' }, annotations: { 'example.com/canary': 'yes' } },
  stableMetadata: { labels: { role: 'stable' } },
};

describe('canaryMetadata and stableMetadata', () => {
  it('are on the pod templates of the canary and the stable ReplicaSet, and a promoted canary takes the stable ones', async () => {
    const { kube, step, status, setImage } = reconcilerOn(makeRollout({ replicas: 4, steps: [{ setWeight: 25 }, { pause: {} }], canary: roles }));
    const podMetadata = (image: string) => kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revisionOf(image)}`)?.spec?.template?.metadata;
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(podMetadata('api:1')?.labels).toEqual({ app: 'api', role: 'stable', [LABEL_POD_TEMPLATE_HASH]: revisionOf('api:1') });

    setImage('api:2');
    for (let i = 0; i < 5 && status().phase !== 'Paused'; i++) await step();
    expect(status().phase).toBe('Paused');
    expect(podMetadata('api:2')).toEqual({
      labels: { app: 'api', role: 'canary', track: 'preview', [LABEL_POD_TEMPLATE_HASH]: revisionOf('api:2') },
      annotations: { 'example.com/canary': 'yes' },
    });
    expect(podMetadata('api:1')?.labels?.role).toBe('stable');

    await kube.custom.patchNamespacedCustomObjectStatus({ plural: 'rollouts', namespace: 'shop', name: 'api', body: { status: { promote: 'step' } } });
    for (let i = 0; i < 10 && status().phase !== 'Healthy'; i++) await step();
    expect(status().stableRevision).toBe(revisionOf('api:2'));
    // The canary's keys go, the template's own stay.
    expect(podMetadata('api:2')?.labels).toEqual({ app: 'api', role: 'stable', [LABEL_POD_TEMPLATE_HASH]: revisionOf('api:2') });
    expect(podMetadata('api:2')?.annotations ?? {}).toEqual({});
  });

  it('never override the template’s own labels, so the selector keeps matching', async () => {
    const { kube, step, status } = reconcilerOn(makeRollout({ replicas: 1, canary: { stableMetadata: { labels: { app: 'other' } } } }));
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revisionOf('api:1')}`)?.spec?.template?.metadata?.labels?.app).toBe('api');
  });
});
