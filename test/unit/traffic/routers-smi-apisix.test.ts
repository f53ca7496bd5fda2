import type { CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import { TrafficRouting } from '../../../src/api/rollout.js';
import { lintText } from '../../../src/cli/lint.js';
import { ApisixRouter } from '../../../src/traffic/routers/apisix.js';
import { routersFor } from '../../../src/traffic/routers/index.js';
import { quantityValue, SmiRouter, type TrafficSplitApiVersion } from '../../../src/traffic/routers/smi.js';
import { FakeKube } from '../fake-kube.js';
import { CONTEXT, target } from './router-target.js';

interface TrafficSplit {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; ownerReferences?: Array<Record<string, unknown>> };
  spec: { service: string; backends: Array<{ service: string; weight: unknown }>; matches?: unknown[] };
}

/** The custom objects API of `kube`, recording the version every call names (the fake stores one of each kind). */
function versionedApi(kube: FakeKube): { api: CustomApi; versions: string[] } {
  const versions: string[] = [];
  const record =
    <A, R>(call: (args: A) => Promise<R>) =>
    (args: A & { version: string }): Promise<R> => {
      versions.push(args.version);
      return call(args);
    };
  const api = {
    getNamespacedCustomObject: record(kube.custom.getNamespacedCustomObject),
    createNamespacedCustomObject: record(kube.custom.createNamespacedCustomObject),
    patchNamespacedCustomObject: record(kube.custom.patchNamespacedCustomObject),
  };
  return { api: api as unknown as CustomApi, versions };
}

describe('SmiRouter', () => {
  const smi = (kube: FakeKube, config: TrafficRouting['smi'] = {}, version?: TrafficSplitApiVersion) => new SmiRouter(kube.custom as unknown as CustomApi, config ?? {}, version);

  it('creates the TrafficSplit as Argo does (v1alpha1, canary first, quantity weights, owned by the Rollout), then patches it only when it differs', async () => {
    const kube = new FakeKube();
    const router = smi(kube);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [] });
    expect(await router.apply(CONTEXT, target(5))).toBe(true);
    const created = kube.get<TrafficSplit>('trafficsplits', 'shop', 'api');
    expect(created?.apiVersion).toBe('split.smi-spec.io/v1alpha1');
    expect(created?.kind).toBe('TrafficSplit');
    expect(created?.metadata.ownerReferences).toEqual([{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(created?.spec).toEqual({
      service: 'api-stable',
      backends: [
        { service: 'api-canary', weight: '5' },
        { service: 'api-stable', weight: '95' },
      ],
    });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: [], mirrorRoutes: [] });

    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(5))).toBe(false);
    expect(kube.writes.length).toBe(writes);

    expect(await router.apply(CONTEXT, target(40))).toBe(true);
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')?.spec.backends).toEqual([
      { service: 'api-canary', weight: '40' },
      { service: 'api-stable', weight: '60' },
    ]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(40);
  });

  it.each(['v1alpha2', 'v1alpha3', 'v1alpha4'] as const)('writes and reads %s as --traffic-split-api-version says: that version, integer weights', async (version) => {
    const kube = new FakeKube();
    const { api, versions } = versionedApi(kube);
    const router = new SmiRouter(api, {}, version);
    expect(await router.apply(CONTEXT, target(5))).toBe(true);
    const created = kube.get<TrafficSplit>('trafficsplits', 'shop', 'api');
    expect(created?.apiVersion).toBe(`split.smi-spec.io/${version}`);
    expect(created?.spec).toEqual({
      service: 'api-stable',
      backends: [
        { service: 'api-canary', weight: 5 },
        { service: 'api-stable', weight: 95 },
      ],
    });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: [], mirrorRoutes: [] });
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(5))).toBe(false);
    expect(kube.writes.length).toBe(writes);
    expect(await router.apply(CONTEXT, target(40))).toBe(true);
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')?.spec.backends).toEqual([
      { service: 'api-canary', weight: 40 },
      { service: 'api-stable', weight: 60 },
    ]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(40);
    expect(new Set(versions)).toEqual(new Set([version]));
  });

  it('reads v1alpha1 through the v1alpha1 API by default, and writes its weights as quantities', async () => {
    const kube = new FakeKube();
    const { api, versions } = versionedApi(kube);
    const router = new SmiRouter(api, {});
    await router.apply(CONTEXT, target(30));
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')?.spec.backends.map((backend) => backend.weight)).toEqual(['30', '70']);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(30);
    expect(new Set(versions)).toEqual(new Set(['v1alpha1']));
  });

  it('past v1alpha1, reads only integer weights: a quantity string or a fraction is no weight, and the next apply writes integers', async () => {
    const kube = new FakeKube();
    const router = smi(kube, {}, 'v1alpha2');
    await router.apply(CONTEXT, target(10));
    const split = kube.get<TrafficSplit>('trafficsplits', 'shop', 'api') as TrafficSplit;
    for (const canary of ['10', 2.5]) {
      kube.put('trafficsplits', { ...split, spec: { ...split.spec, backends: [{ service: 'api-canary', weight: canary }, { service: 'api-stable', weight: 90 }] } });
      expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    }
    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')?.spec.backends[0]).toEqual({ service: 'api-canary', weight: 10 });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(10);
  });

  it('takes away matches someone added to a v1alpha3/v1alpha4 split, as Argo writes the whole spec', async () => {
    const kube = new FakeKube();
    const router = smi(kube, {}, 'v1alpha4');
    await router.apply(CONTEXT, target(20));
    const split = kube.get<TrafficSplit>('trafficsplits', 'shop', 'api') as TrafficSplit;
    kube.put('trafficsplits', { ...split, spec: { ...split.spec, matches: [{ kind: 'HTTPRouteGroup', name: 'api-routes' }] } });
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(20))).toBe(true);
    expect(kube.writes.length).toBe(writes + 1);
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')?.spec).toEqual(split.spec);
    expect(await router.apply(CONTEXT, target(20))).toBe(false);
  });

  it('names the split trafficSplitName and routes rootService', async () => {
    const kube = new FakeKube();
    const router = smi(kube, { rootService: 'api', trafficSplitName: 'api-split' });
    await router.apply(CONTEXT, target(20));
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')).toBeUndefined();
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api-split')?.spec.service).toBe('api');
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(20);
  });

  it('reads back v1alpha1 weights in quantity form, or as plain numbers, as relative weights', async () => {
    const kube = new FakeKube();
    const owned = { ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true }] };
    const put = (backends: Array<{ service: string; weight?: unknown }>) =>
      kube.put('trafficsplits', { metadata: { name: 'api', namespace: 'shop', ...owned }, spec: { service: 'api-stable', backends } });
    const router = smi(kube);
    put([{ service: 'api-canary', weight: '250m' }, { service: 'api-stable', weight: '750m' }]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(25);
    put([{ service: 'api-canary', weight: 1 }, { service: 'api-stable', weight: 3 }]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(25);
    put([{ service: 'api-stable', weight: '100' }]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    // A hand edit is put back on the next apply.
    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(10);
    expect(quantityValue('1k')).toBe(1000);
    expect(quantityValue('2e1')).toBe(20);
    expect(quantityValue('ten')).toBeUndefined();
  });

  it('refuses a TrafficSplit of that name the Rollout does not control, and never takes it over', async () => {
    const kube = new FakeKube();
    const spec = { service: 'api-stable', backends: [{ service: 'api-stable', weight: '100' }] };
    kube.put('trafficsplits', { metadata: { name: 'api', namespace: 'shop' }, spec });
    const router = smi(kube);
    expect((await router.observe(CONTEXT)).problem).toMatch(/TrafficSplit shop\/api exists and is not controlled by this Rollout/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/not controlled by this Rollout/);
    // Owned by another Rollout of the same name (an earlier incarnation): still not ours.
    kube.put('trafficsplits', {
      metadata: { name: 'api', namespace: 'shop', ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'uid-old', controller: true }] },
      spec,
    });
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/not controlled by this Rollout/);
    expect(kube.writes.filter((write) => write.kind === 'trafficsplits')).toEqual([]);
  });
});

interface ApisixBackend {
  serviceName: string;
  servicePort: number;
  weight?: number;
  resolveGranularity?: string;
}
interface ApisixHttp {
  name: string;
  match: { hosts?: string[]; paths: string[] };
  backends: ApisixBackend[];
  plugins?: unknown[];
}

/** An ApisixRoute shaped as in Argo's APISIX example. */
function apisixRoute(kube: FakeKube, http: ApisixHttp[], name = 'api-route'): void {
  kube.put('apisixroutes', { apiVersion: 'apisix.apache.org/v2', kind: 'ApisixRoute', metadata: { name, namespace: 'shop' }, spec: { http } });
}
const rule = (name: string, path = '/*'): ApisixHttp => ({
  name,
  match: { hosts: ['shop.example.com'], paths: [path] },
  backends: [
    { serviceName: 'api-stable', servicePort: 80, weight: 100 },
    { serviceName: 'api-canary', servicePort: 80, weight: 0, resolveGranularity: 'service' },
  ],
});

describe('ApisixRouter', () => {
  const apisix = (kube: FakeKube, config: NonNullable<TrafficRouting['apisix']>) => new ApisixRouter(kube.custom as unknown as CustomApi, config);
  const http = (kube: FakeKube, name = 'api-route') => kube.get<{ spec: { http: ApisixHttp[] } }>('apisixroutes', 'shop', name)?.spec.http ?? [];
  const weights = (entry: ApisixHttp | undefined) => entry?.backends.map((backend) => [backend.serviceName, backend.weight]);

  it('by default weights the http rule named as the route, as Argo does, and keeps every other field', async () => {
    const kube = new FakeKube();
    apisixRoute(kube, [rule('api-route'), rule('other', '/admin/*')]);
    const router = apisix(kube, { route: { name: 'api-route' } });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
    expect(await router.apply(CONTEXT, target(30))).toBe(true);
    expect(http(kube)[0]).toEqual({
      ...rule('api-route'),
      backends: [
        { serviceName: 'api-stable', servicePort: 80, weight: 70 },
        { serviceName: 'api-canary', servicePort: 80, weight: 30, resolveGranularity: 'service' },
      ],
    });
    expect(http(kube)[1]).toEqual(rule('other', '/admin/*'));
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 30, headerRoutes: [], mirrorRoutes: [] });
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(30))).toBe(false);
    expect(kube.writes.length).toBe(writes);
  });

  it('weights every rule listed in rules, and reports no weight while they disagree', async () => {
    const kube = new FakeKube();
    apisixRoute(kube, [rule('web'), rule('untouched'), rule('grpc', '/grpc/*')]);
    const router = apisix(kube, { route: { name: 'api-route', rules: ['web', 'grpc'] } });
    expect(await router.apply(CONTEXT, target(50))).toBe(true);
    expect(weights(http(kube)[0])).toEqual([['api-stable', 50], ['api-canary', 50]]);
    expect(weights(http(kube)[1])).toEqual([['api-stable', 100], ['api-canary', 0]]);
    expect(weights(http(kube)[2])).toEqual([['api-stable', 50], ['api-canary', 50]]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(50);

    const edited = http(kube);
    edited[2] = rule('grpc', '/grpc/*');
    apisixRoute(kube, edited);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
  });

  it('counts a backend without a weight at the controller default of 100', async () => {
    const kube = new FakeKube();
    apisixRoute(kube, [{ ...rule('api-route'), backends: [{ serviceName: 'api-stable', servicePort: 80 }, { serviceName: 'api-canary', servicePort: 80 }] }]);
    expect((await apisix(kube, { route: { name: 'api-route' } }).observe(CONTEXT)).canaryWeight).toBe(50);
  });

  it('refuses a missing route, a missing rule and a rule without both backends, and writes nothing', async () => {
    const kube = new FakeKube();
    const router = apisix(kube, { route: { name: 'api-route', rules: ['web'] } });
    expect((await router.observe(CONTEXT)).problem).toMatch(/ApisixRoute shop\/api-route not found/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/not found/);
    apisixRoute(kube, [rule('other')]);
    expect((await router.observe(CONTEXT)).problem).toMatch(/has no http rule named web/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/no http rule named web/);
    apisixRoute(kube, [{ ...rule('web'), backends: [{ serviceName: 'api-stable', servicePort: 80, weight: 100 }] }]);
    expect((await router.observe(CONTEXT)).problem).toMatch(/http rule web has no backend with serviceName api-canary/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/no backend with serviceName api-canary/);
    expect(kube.writes).toEqual([]);
  });
});

describe('trafficRouting smi and apisix', () => {
  it('routersFor picks them, alone or together', () => {
    const kube = new FakeKube();
    const apis = { custom: kube.custom as unknown as CustomApi, networking: {} as NetworkingApi };
    expect(routersFor({ smi: {} }, apis).map((router) => router.kind)).toEqual(['smi']);
    expect(routersFor({ apisix: { route: { name: 'r' } } }, apis).map((router) => router.kind)).toEqual(['apisix']);
    expect(routersFor({ apisix: { route: { name: 'r' } }, smi: {} }, apis).map((router) => router.kind)).toEqual(['smi', 'apisix']);
    expect(() => routersFor({}, apis)).toThrow(/names no router/);
  });

  it('routersFor hands the SMI router the controller`s TrafficSplit version', async () => {
    const kube = new FakeKube();
    const [router] = routersFor({ smi: {} }, { custom: kube.custom as unknown as CustomApi, networking: {} as NetworkingApi, trafficSplitApiVersion: 'v1alpha3' });
    await router?.apply(CONTEXT, target(15));
    expect(kube.get<TrafficSplit>('trafficsplits', 'shop', 'api')).toMatchObject({ apiVersion: 'split.smi-spec.io/v1alpha3', spec: { backends: [{ weight: 15 }, { weight: 85 }] } });
  });

  it('the schema takes Argo`s fields and nothing else', () => {
    expect(TrafficRouting.safeParse({ smi: { rootService: 'api', trafficSplitName: 'api-split' } }).success).toBe(true);
    expect(TrafficRouting.safeParse({ apisix: { route: { name: 'r', rules: ['a', 'b'] } } }).success).toBe(true);
    expect(TrafficRouting.safeParse({ apisix: { route: {} } }).success).toBe(false);
    expect(TrafficRouting.safeParse({ smi: { weights: 1 } }).success).toBe(false);
  });

  it('the CRD takes smi and apisix beside another router, and refuses managedRoutes with smi', () => {
    const lint = (routing: string) =>
      lintText(
        'r.yaml',
        `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "api:1"}]
  strategy:
    canary:
      stableService: s
      canaryService: c
      trafficRouting: ${routing}
`,
      ).problems.map((problem) => problem.message);
    expect(lint('{smi: {}}')).toEqual([]);
    expect(lint('{apisix: {route: {name: r, rules: [a]}}}')).toEqual([]);
    expect(lint('{smi: {}, apisix: {route: {name: r}}}')).toEqual([]);
    expect(lint('{}')).toEqual([expect.stringMatching(/names no router/)]);
    expect(lint('{smi: {}, managedRoutes: [{name: beta}]}')).toEqual([expect.stringMatching(/managedRoutes .* gatewayAPI, istio, alb and apisix routers; traefik, nginx, smi and ambassador have none/)]);
    expect(lint('{apisix: {route: {name: r}}, managedRoutes: [{name: beta}]}')).toEqual([]);
  });
});
