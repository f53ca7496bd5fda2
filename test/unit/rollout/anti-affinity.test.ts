import type * as k8s from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ANTI_AFFINITY_TOPOLOGY_KEY, canaryAffinity, removeInjectedAntiAffinity } from '../../../src/rollout/decide/anti-affinity.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../../src/api/labels.js';
import { makeRollout, revisionOf } from './fake-cluster.js';
import { reconcilerOn } from './fake-reconciler.js';

const avoid = (revision: string): k8s.V1PodAffinityTerm => ({ labelSelector: { matchLabels: { [LABEL_POD_TEMPLATE_HASH]: revision } }, topologyKey: ANTI_AFFINITY_TOPOLOGY_KEY });

describe('antiAffinity (Argo): the canary keeps off the stable pods’ nodes', () => {
  it('the canary ReplicaSet avoids the stable revision; promoted, it loses the term, and the stable one never had it', async () => {
    const { kube, step, status, setImage } = reconcilerOn(
      makeRollout({ replicas: 4, steps: [{ setWeight: 25 }, { pause: {} }], canary: { antiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: { weight: 40 } } } }),
    );
    const affinity = (image: string) => kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revisionOf(image)}`)?.spec?.template?.spec?.affinity;
    for (let i = 0; i < 5 && status().phase !== 'Healthy'; i++) await step();
    expect(affinity('api:1')).toBeUndefined();

    setImage('api:2');
    for (let i = 0; i < 5 && status().phase !== 'Paused'; i++) await step();
    expect(affinity('api:2')?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toEqual([{ weight: 40, podAffinityTerm: avoid(revisionOf('api:1')) }]);

    await kube.custom.patchNamespacedCustomObjectStatus({ plural: 'rollouts', namespace: 'shop', name: 'api', body: { status: { promote: 'step' } } });
    for (let i = 0; i < 10 && status().phase !== 'Healthy'; i++) await step();
    expect(status().stableRevision).toBe(revisionOf('api:2'));
    expect(affinity('api:2')?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).toEqual([]);
  });

  it('required: a hard rule, beside the template’s own anti-affinity, which stays', () => {
    const own: k8s.V1Affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } },
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: ANTI_AFFINITY_TOPOLOGY_KEY }] },
    };
    const affinity = canaryAffinity(own, { requiredDuringSchedulingIgnoredDuringExecution: {} }, 'stable1');
    expect(affinity.nodeAffinity).toEqual(own.nodeAffinity);
    expect(affinity.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual([own.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0], avoid('stable1')]);
    expect(removeInjectedAntiAffinity(affinity)).toEqual({ requiredDuringSchedulingIgnoredDuringExecution: own.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution });
    expect(removeInjectedAntiAffinity(own)).toBeUndefined();
  });

  // Whatever the template's own affinity, injecting then removing gives back its own terms, and only ours go.
  it('property: removing what was injected gives the template’s own terms back', () => {
    const term = fc.record({ labelSelector: fc.record({ matchLabels: fc.dictionary(fc.constantFrom('app', 'tier', LABEL_POD_TEMPLATE_HASH), fc.string({ minLength: 1, maxLength: 4 }), { minKeys: 2, maxKeys: 3 }) }), topologyKey: fc.constantFrom(ANTI_AFFINITY_TOPOLOGY_KEY, 'zone') });
    const ownAffinity = fc.record(
      { requiredDuringSchedulingIgnoredDuringExecution: fc.array(term, { maxLength: 3 }), preferredDuringSchedulingIgnoredDuringExecution: fc.array(fc.record({ weight: fc.integer({ min: 1, max: 100 }), podAffinityTerm: term }), { maxLength: 3 }) },
      { requiredKeys: [] },
    );
    const rule = fc.oneof(fc.constant({ requiredDuringSchedulingIgnoredDuringExecution: {} }), fc.integer({ min: 1, max: 100 }).map((weight) => ({ preferredDuringSchedulingIgnoredDuringExecution: { weight } })));
    fc.assert(
      fc.property(ownAffinity, rule, fc.string({ minLength: 1, maxLength: 10 }), (own, antiAffinity, stable) => {
        const patch = removeInjectedAntiAffinity(canaryAffinity({ podAntiAffinity: own }, antiAffinity, stable));
        expect(patch).toBeDefined();
        const required = 'requiredDuringSchedulingIgnoredDuringExecution' in antiAffinity;
        const key = required ? 'requiredDuringSchedulingIgnoredDuringExecution' : 'preferredDuringSchedulingIgnoredDuringExecution';
        expect(Object.keys(patch ?? {})).toEqual([key]);
        const left = patch?.[key] ?? [];
        expect(left).toEqual(own[key] ?? []);
      }),
      { seed: 20261124, numRuns: 500 },
    );
  });
});
