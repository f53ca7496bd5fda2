import type * as k8s from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OwnerIndex } from '../../../src/kube/informer.js';
import { propertyParameters } from '../property.js';

type Op = { kind: 'put'; name: string; owner: string | undefined; controller: boolean } | { kind: 'remove'; name: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('put' as const),
    name: fc.constantFrom('a', 'b', 'c', 'd'),
    owner: fc.option(fc.constantFrom('u1', 'u2', 'u3'), { nil: undefined }),
    controller: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('remove' as const), name: fc.constantFrom('a', 'b', 'c', 'd') }),
);

const object = (name: string, owner: string | undefined, controller: boolean, version: number): k8s.KubernetesObject => ({
  metadata: {
    name,
    namespace: 'shop',
    resourceVersion: String(version),
    ...(owner !== undefined && { ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: owner, uid: owner, controller }] }),
  },
});

describe('OwnerIndex', () => {
  it('answers exactly what filtering every cached object by its controlling owner answers, as objects are added, re-owned, orphaned and deleted', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const index = new OwnerIndex<k8s.KubernetesObject>();
        const cache = new Map<string, k8s.KubernetesObject>();
        ops.forEach((o, version) => {
          if (o.kind === 'put') {
            const obj = object(o.name, o.owner, o.controller, version);
            cache.set(o.name, obj);
            index.put(obj);
          } else {
            const cached = cache.get(o.name);
            // The cache reports a delete only for what it holds, with the object it held.
            if (cached === undefined) return;
            cache.delete(o.name);
            index.remove(cached);
          }
          for (const uid of ['u1', 'u2', 'u3']) {
            const expected = [...cache.values()].filter((obj) => obj.metadata?.ownerReferences?.some((ref) => ref.uid === uid && ref.controller === true));
            expect(index.ownedBy(uid).sort((x, y) => (x.metadata?.name ?? '').localeCompare(y.metadata?.name ?? ''))).toEqual(
              expected.sort((x, y) => (x.metadata?.name ?? '').localeCompare(y.metadata?.name ?? '')),
            );
          }
        });
      }),
      propertyParameters(500),
    );
  });
});
