import type { CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import { TrafficRouting } from '../../../src/api/rollout.js';
import { lintText } from '../../../src/cli/lint.js';
import { AmbassadorRouter, canaryMappingName } from '../../../src/traffic/routers/ambassador.js';
import { routersFor } from '../../../src/traffic/routers/index.js';
import type { RouterContext, TrafficTarget } from '../../../src/traffic/types.js';
import { FakeKube } from '../fake-kube.js';

const CONTEXT: RouterContext = { namespace: 'shop', rolloutName: 'echo-rollout', rolloutUid: 'uid-1', stableService: 'echo-stable', canaryService: 'echo-canary' };
const target = (canaryWeight: number): TrafficTarget => ({ canaryWeight, additionalDestinations: [], headerRoutes: [], mirrorRoutes: [], stableRevision: 'stable111', canaryRevision: 'canary222' });

interface Mapping {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; ownerReferences?: Array<Record<string, unknown>> };
  spec: Record<string, unknown>;
}

/** Argo's example Mapping (examples/ambassador/echo-mapping.yaml). */
const ECHO = { resolver: 'endpoint', prefix: '/echo', rewrite: '/echo', service: 'echo-stable:80' };

function mapping(kube: FakeKube, name: string, spec: Record<string, unknown>, labels?: Record<string, string>): void {
  kube.put('mappings', { apiVersion: 'getambassador.io/v2', kind: 'Mapping', metadata: { name, namespace: 'shop', ...(labels && { labels }) }, spec });
}

describe('AmbassadorRouter', () => {
  const ambassador = (kube: FakeKube, mappings = ['echo']) => new AmbassadorRouter(kube.custom as unknown as CustomApi, { mappings });
  const get = (kube: FakeKube, name: string) => kube.get<Mapping>('mappings', 'shop', name);

  it('creates the canary Mapping at the first weight, as a copy to canaryService owned by the Rollout, and then changes only its weight', async () => {
    const kube = new FakeKube();
    mapping(kube, 'echo', ECHO, { app: 'echo' });
    const router = ambassador(kube);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] });
    // Weight 0 and no canary Mapping: nothing to write.
    expect(await router.apply(CONTEXT, target(0))).toBe(false);
    expect(kube.writes).toEqual([]);

    expect(await router.apply(CONTEXT, target(30))).toBe(true);
    const canary = get(kube, 'echo-canary');
    expect(canary?.apiVersion).toBe('getambassador.io/v2');
    expect(canary?.kind).toBe('Mapping');
    expect(canary?.metadata.ownerReferences).toEqual([{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'echo-rollout', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    // Argo drops the base's metadata: no labels are copied.
    expect(canary?.metadata.labels).toBeUndefined();
    expect(canary?.spec).toEqual({ ...ECHO, service: 'echo-canary:80', weight: 30 });
    expect(get(kube, 'echo')?.spec).toEqual(ECHO);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 30, headerRoutes: [], mirrorRoutes: [] });

    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(30))).toBe(false);
    expect(kube.writes.length).toBe(writes);
    expect(await router.apply(CONTEXT, target(60))).toBe(true);
    expect(kube.writesSince(writes).map((write) => [write.verb, write.name, write.body])).toEqual([['patch', 'echo-canary', expect.objectContaining({ spec: { weight: 60 } })]]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(60);
  });

  it('back at 0: the weight goes to 0 first, and the canary Mapping is deleted on the next pass', async () => {
    const kube = new FakeKube();
    mapping(kube, 'echo', ECHO);
    const router = ambassador(kube);
    await router.apply(CONTEXT, target(100));
    expect(await router.apply(CONTEXT, target(0))).toBe(true);
    expect(get(kube, 'echo-canary')?.spec.weight).toBe(0);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
    expect(await router.apply(CONTEXT, target(0))).toBe(true);
    expect(get(kube, 'echo-canary')).toBeUndefined();
    expect(kube.writes.map((write) => write.verb)).toEqual(['create', 'patch', 'delete']);
    expect(await router.apply(CONTEXT, target(0))).toBe(false);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
  });

  it('weights every listed Mapping, and reports no weight while they disagree', async () => {
    const kube = new FakeKube();
    mapping(kube, 'echo', ECHO);
    mapping(kube, 'echo-grpc', { prefix: '/grpc', service: 'echo-stable.shop:9090', grpc: true });
    const router = ambassador(kube, ['echo', 'echo-grpc']);
    await router.apply(CONTEXT, target(10));
    expect(get(kube, 'echo-grpc-canary')?.spec).toEqual({ prefix: '/grpc', service: 'echo-canary.shop:9090', grpc: true, weight: 10 });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(10);
    kube.put('mappings', { ...get(kube, 'echo-grpc-canary'), spec: { ...get(kube, 'echo-grpc-canary')?.spec, weight: 50 } });
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(10);
  });

  it('names the canary Mapping as Argo does, the base name cut to fit', () => {
    expect(canaryMappingName('echo')).toBe('echo-canary');
    expect(canaryMappingName('m'.repeat(253))).toBe(`${'m'.repeat(246)}-canary`);
  });

  it('refuses a missing Mapping, one with a weight, one not to stableService, and a canary Mapping it does not control', async () => {
    const kube = new FakeKube();
    const router = ambassador(kube);
    expect((await router.observe(CONTEXT)).problem).toBe('Mapping shop/echo not found');
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow('Mapping shop/echo not found');
    mapping(kube, 'echo', { ...ECHO, weight: 50 });
    expect((await router.observe(CONTEXT)).problem).toMatch(/Mapping shop\/echo has a weight of its own/);
    mapping(kube, 'echo', { ...ECHO, service: 'other:80' });
    expect((await router.observe(CONTEXT)).problem).toBe('Mapping shop/echo has service "other:80", which does not name stableService echo-stable');
    mapping(kube, 'echo', ECHO);
    mapping(kube, 'echo-canary', { ...ECHO, service: 'echo-canary:80', weight: 5 });
    expect((await router.observe(CONTEXT)).problem).toBe('Mapping shop/echo-canary exists and is not controlled by this Rollout');
    await expect(router.apply(CONTEXT, target(0))).rejects.toThrow(/not controlled by this Rollout/);
    expect(kube.writes).toEqual([]);
  });

  it('routersFor picks it; the schema and the CRD take Argo`s field, and refuse managedRoutes with it', () => {
    const kube = new FakeKube();
    expect(routersFor({ ambassador: { mappings: ['echo'] } }, { custom: kube.custom as unknown as CustomApi, networking: {} as NetworkingApi }).map((router) => router.kind)).toEqual(['ambassador']);
    expect(TrafficRouting.safeParse({ ambassador: { mappings: ['echo', 'echo-grpc'] } }).success).toBe(true);
    expect(TrafficRouting.safeParse({ ambassador: { mappings: [] } }).success).toBe(false);
    expect(TrafficRouting.safeParse({ ambassador: {} }).success).toBe(false);
    const lint = (routing: string) =>
      lintText(
        'r.yaml',
        `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: echo}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers: [{name: echo, image: "echo:1"}]
  strategy:
    canary:
      stableService: echo-stable
      canaryService: echo-canary
      trafficRouting: ${routing}
`,
      ).problems.map((problem) => problem.message);
    expect(lint('{ambassador: {mappings: [echo]}}')).toEqual([]);
    expect(lint('{ambassador: {mappings: [echo]}, smi: {}}')).toEqual([]);
    expect(lint('{ambassador: {mappings: [echo]}, managedRoutes: [{name: beta}]}')).toEqual([expect.stringMatching(/smi and ambassador have none/)]);
  });
});
