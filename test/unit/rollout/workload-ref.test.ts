import type * as k8s from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rollout } from '../../../src/api/rollout.js';
import { podTemplateHash } from '../../../src/rollout/decide/revision.js';
import { withWorkloadTemplate, workloadReplicas } from '../../../src/rollout/decide/workload-ref.js';
import { makeRollout, templateFor } from './fake-cluster.js';

const deployment = (labels: Record<string, string>): k8s.V1Deployment => ({
  metadata: { name: 'legacy', namespace: 'shop' },
  spec: { replicas: 3, selector: { matchLabels: labels }, template: { ...templateFor('api:1'), metadata: { labels } } as unknown as k8s.V1PodTemplateSpec },
});

describe('workloadRef: the pod template comes from a Deployment', () => {
  const inline = makeRollout({ replicas: 3 });
  const { template: _template, ...specWithoutTemplate } = inline.spec;
  const referring = { ...inline, spec: { ...specWithoutTemplate, workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy' } } } as unknown as k8s.KubernetesObject;
  const labels = inline.spec.selector.matchLabels ?? {};

  it('fills spec.template from the Deployment, giving the revision the same template written inline would', () => {
    const resolved = withWorkloadTemplate(referring, () => deployment(labels));
    expect('rollout' in resolved).toBe(true);
    const parsed = Rollout.parse((resolved as { rollout: unknown }).rollout);
    expect(podTemplateHash(parsed.spec.template)).toBe(podTemplateHash({ ...templateFor('api:1'), metadata: { labels } }));
    expect(parsed.spec.workloadRef?.name).toBe('legacy');
  });

  it('takes the Deployment’s selector when the Rollout gives none, as Argo does; a given one is kept', () => {
    const { selector: _selector, ...noSelector } = (referring as unknown as { spec: Record<string, unknown> }).spec;
    const resolved = withWorkloadTemplate({ ...referring, spec: noSelector } as k8s.KubernetesObject, () => deployment({ ...labels, tier: 'web' }));
    expect(Rollout.parse((resolved as { rollout: unknown }).rollout).spec.selector).toEqual({ matchLabels: { ...labels, tier: 'web' } });
    const kept = withWorkloadTemplate(referring, () => deployment({ ...labels, tier: 'web' }));
    expect(Rollout.parse((kept as { rollout: unknown }).rollout).spec.selector).toEqual({ matchLabels: labels });
  });

  it('a Rollout without workloadRef is returned as it is', () => {
    const object = inline as unknown as k8s.KubernetesObject;
    expect(withWorkloadTemplate(object, () => undefined)).toEqual({ rollout: object });
  });

  it('a missing Deployment, or one whose pods the Rollout’s selector would not match, is a clear problem', () => {
    expect(withWorkloadTemplate(referring, () => undefined)).toEqual({ problem: 'workloadRef: Deployment legacy not found in namespace shop' });
    const other = withWorkloadTemplate(referring, () => deployment({ app: 'other' }));
    expect((other as { problem: string }).problem).toMatch(/lacks the Rollout's selector labels app=/);
  });
});

describe('workloadRef scaleDown', () => {
  it.each([
    ['never', 3, { desired: 3, available: 3, fullyRolledOut: true }, undefined],
    [undefined, 3, { desired: 3, available: 3, fullyRolledOut: true }, undefined],
    ['onsuccess', 3, { desired: 3, available: 2, fullyRolledOut: false }, undefined],
    ['onsuccess', 3, { desired: 3, available: 2, fullyRolledOut: true }, undefined],
    ['onsuccess', 3, { desired: 3, available: 3, fullyRolledOut: true }, 0],
    ['onsuccess', 0, { desired: 3, available: 3, fullyRolledOut: true }, undefined],
    ['progressively', 3, { desired: 3, available: 1, fullyRolledOut: false }, 2],
    ['progressively', 3, { desired: 3, available: 0, fullyRolledOut: false }, undefined],
    ['progressively', 2, { desired: 3, available: 0, fullyRolledOut: false }, undefined],
  ] as const)('%s from %i with %j: %s', (mode, current, rollout, wanted) => {
    expect(workloadReplicas(mode, current, rollout)).toBe(wanted);
  });

  // The Deployment's pods are the service until the Rollout's are: it never grows, and never shrinks faster than
  // the Rollout's pods become available.
  it('property: the Deployment never grows, and with the Rollout’s available pods never has fewer than the Rollout lacks', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('never', 'onsuccess', 'progressively', undefined),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        (mode, current, desired, available, fullyRolledOut) => {
          const wanted = workloadReplicas(mode, current, { desired, available, fullyRolledOut }) ?? current;
          expect(wanted).toBeLessThanOrEqual(current);
          expect(wanted).toBeGreaterThanOrEqual(Math.min(current, Math.max(0, desired - available)));
          if (wanted < current && mode === 'onsuccess') expect(fullyRolledOut && available >= desired).toBe(true);
        },
      ),
      { seed: 20261124, numRuns: 2000 },
    );
  });
});
