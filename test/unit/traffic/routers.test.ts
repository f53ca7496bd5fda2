import type * as k8s from '@kubernetes/client-node';
import type { CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import type { HeaderRoute, MirrorRoute, TrafficRouting } from '../../../src/api/rollout.js';
import { AlbRouter } from '../../../src/traffic/routers/alb.js';
import { ANNOTATION_MANAGED_RULES, GatewayApiRouter } from '../../../src/traffic/routers/gateway-api.js';
import { IstioRouter } from '../../../src/traffic/routers/istio.js';
import { canaryIngressName, NginxRouter } from '../../../src/traffic/routers/nginx.js';
import { TraefikRouter } from '../../../src/traffic/routers/traefik.js';
import type { RouterContext, TrafficTarget } from '../../../src/traffic/types.js';
import { FakeKube } from '../fake-kube.js';

const CONTEXT: RouterContext = { namespace: 'shop', rolloutName: 'api', rolloutUid: 'uid-1', stableService: 'api-stable', canaryService: 'api-canary' };
const STABLE_HASH = 'stable111';
const CANARY_HASH = 'canary222';

const target = (canaryWeight: number, routes: { headerRoutes?: HeaderRoute[]; mirrorRoutes?: MirrorRoute[]; additionalDestinations?: TrafficTarget['additionalDestinations'] } = {}): TrafficTarget => ({
  canaryWeight,
  additionalDestinations: routes.additionalDestinations ?? [],
  headerRoutes: routes.headerRoutes ?? [],
  mirrorRoutes: routes.mirrorRoutes ?? [],
  stableRevision: STABLE_HASH,
  canaryRevision: CANARY_HASH,
});

interface Ref {
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}
interface Rule {
  matches?: Array<{ path?: { type: string; value: string }; headers?: Array<{ type: string; name: string; value: string }>; method?: string }>;
  filters?: Array<{ type: string; requestMirror?: { backendRef: Ref; percent?: number } }>;
  backendRefs: Ref[];
}
interface Route {
  metadata: { annotations?: Record<string, string>; generation?: number };
  spec: { rules: Rule[] };
}

/** A header route for most of the managed-rule tests. */
const BETA: HeaderRoute = { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: 'yes' } }] };

const ACCEPTED = { parents: [{ controllerName: 'test', conditions: [{ type: 'Accepted', status: 'True' }] }] };

function httpRoute(kube: FakeKube, name: string, rules: Rule[], namespace = 'shop'): void {
  kube.put('httproutes', { metadata: { name, namespace, generation: 1 }, spec: { rules }, status: ACCEPTED });
}

const split = (path?: string): Rule => ({
  ...(path !== undefined && { matches: [{ path: { type: 'PathPrefix', value: path } }] }),
  backendRefs: [
    { name: 'api-stable', port: 80 },
    { name: 'api-canary', port: 80, weight: 0 },
  ],
});

describe('GatewayApiRouter', () => {
  const gateway = (kube: FakeKube, config: TrafficRouting['gatewayAPI'] = { httpRoute: 'api' }) =>
    new GatewayApiRouter(kube.custom as unknown as CustomApi, config ?? { httpRoute: 'api' });
  const route = (kube: FakeKube, name = 'api', namespace = 'shop'): Route => kube.get<Route>('httproutes', namespace, name) as Route;
  const weights = (rule: Rule | undefined) => rule?.backendRefs.map((ref) => [ref.name, ref.weight]);

  it('weights both Services in every rule that names both, in every route, and leaves other rules alone', async () => {
    const kube = new FakeKube();
    const other: Rule = { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], backendRefs: [{ name: 'admin', port: 80, weight: 3 }] };
    httpRoute(kube, 'web', [split('/'), other, split('/v2')]);
    httpRoute(kube, 'grpc', [split()]);
    const router = gateway(kube, { httpRoutes: [{ name: 'web' }, { name: 'grpc' }] });

    expect(await router.apply(CONTEXT, target(30))).toBe(true);
    for (const index of [0, 2]) expect(weights(route(kube, 'web').spec.rules[index])).toEqual([['api-stable', 70], ['api-canary', 30]]);
    expect(route(kube, 'web').spec.rules[1]).toEqual(other);
    expect(weights(route(kube, 'grpc').spec.rules[0])).toEqual([['api-stable', 70], ['api-canary', 30]]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 30, headerRoutes: [], mirrorRoutes: [] });
    // Already so: nothing is written.
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(30))).toBe(false);
    expect(kube.writes.length).toBe(writes);
  });

  it('reports no weight while the rules disagree (a hand edit of one of them)', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'api', [split('/'), split('/v2')]);
    const router = gateway(kube);
    await router.apply(CONTEXT, target(30));
    const edited = route(kube);
    edited.spec.rules[1]!.backendRefs[1]!.weight = 90;
    kube.put('httproutes', edited);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    await router.apply(CONTEXT, target(30));
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(30);
  });

  it('finds routes in spec.gatewayAPI.namespace, and the Services by the namespace their refs name', async () => {
    const kube = new FakeKube();
    httpRoute(
      kube,
      'api',
      [
        { backendRefs: [{ name: 'api-stable', namespace: 'shop', port: 80 }, { name: 'api-canary', namespace: 'shop', port: 80 }] },
        // Same names, the route's own namespace: other Services, never weighted.
        { backendRefs: [{ name: 'api-stable', port: 80 }, { name: 'api-canary', port: 80 }] },
      ],
      'gateways',
    );
    const router = gateway(kube, { httpRoute: 'api', namespace: 'gateways' });
    await router.apply(CONTEXT, target(10));
    const rules = route(kube, 'api', 'gateways').spec.rules;
    expect(weights(rules[0])).toEqual([['api-stable', 90], ['api-canary', 10]]);
    expect(weights(rules[1])).toEqual([['api-stable', undefined], ['api-canary', undefined]]);
  });

  it('counts a weight in effect only once every parent Gateway accepted the route generation that carries it', async () => {
    const kube = new FakeKube();
    kube.put('httproutes', {
      metadata: { name: 'api', namespace: 'shop', generation: 1 },
      spec: { rules: [split()] },
      status: { parents: [{ conditions: [{ type: 'Accepted', status: 'True', observedGeneration: 1 }] }, { conditions: [{ type: 'Accepted', status: 'True', observedGeneration: 1 }] }] },
    });
    const router = gateway(kube);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
    await router.apply(CONTEXT, target(20));
    expect(route(kube).metadata.generation).toBe(2);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();

    const accept = (generations: number[], status = 'True'): void => {
      const current = kube.get<Route & { status: unknown }>('httproutes', 'shop', 'api') as Route & { status: unknown };
      kube.put('httproutes', { ...current, status: { parents: generations.map((observedGeneration) => ({ conditions: [{ type: 'Accepted', status, observedGeneration }] })) } });
    };
    accept([2, 1]);
    expect((await router.observe(CONTEXT)).canaryWeight, 'one Gateway still serves generation 1').toBeUndefined();
    accept([2, 2], 'False');
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    accept([]);
    expect((await router.observe(CONTEXT)).canaryWeight, 'no Gateway reported on it').toBeUndefined();
    accept([2, 2]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(20);
  });

  it('adds header and mirror routes as trailing rules named in an annotation, and removes them', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'api', [split('/shop')]);
    const router = gateway(kube);
    const beta: HeaderRoute = {
      name: 'beta',
      match: [
        { headerName: 'x-beta', headerValue: { exact: 'yes' } },
        { headerName: 'x-user', headerValue: { prefix: 'qa.team+' } },
        { headerName: 'x-region', headerValue: { regex: 'eu-.*' } },
      ],
    };
    const shadow: MirrorRoute = {
      name: 'shadow',
      percentage: 25,
      match: [{ method: { exact: 'get' }, path: { prefix: '/shop/cart' }, headers: { 'x-debug': { exact: '1' } } }, { path: { regex: '/shop/[0-9]+' } }],
    };
    await router.apply(CONTEXT, target(5, { headerRoutes: [beta], mirrorRoutes: [shadow] }));
    const written = route(kube);
    expect(written.spec.rules).toHaveLength(3);
    expect(JSON.parse(written.metadata.annotations?.[ANNOTATION_MANAGED_RULES] ?? '[]')).toEqual([
      expect.objectContaining({ name: 'beta', type: 'header' }),
      expect.objectContaining({ name: 'shadow', type: 'mirror' }),
    ]);
    // The header rule keeps the weighted rule's path and sends matching requests to the canary only.
    expect(written.spec.rules[1]).toEqual({
      matches: [
        {
          path: { type: 'PathPrefix', value: '/shop' },
          headers: [
            { type: 'Exact', name: 'x-beta', value: 'yes' },
            // Gateway API has no prefix match for headers: an anchored expression, the prefix's own characters escaped.
            { type: 'RegularExpression', name: 'x-user', value: '^qa\\.team\\+.*' },
            { type: 'RegularExpression', name: 'x-region', value: 'eu-.*' },
          ],
        },
      ],
      backendRefs: [{ name: 'api-canary', port: 80, weight: 1 }],
    });
    expect(new RegExp(written.spec.rules[1]!.matches![0]!.headers![1]!.value).test('qa.team+alice')).toBe(true);
    expect(new RegExp(written.spec.rules[1]!.matches![0]!.headers![1]!.value).test('qaXteam+alice')).toBe(false);
    // The mirror rule serves from the stable and copies 25% of the matching requests to the canary.
    expect(written.spec.rules[2]).toEqual({
      matches: [
        { path: { type: 'PathPrefix', value: '/shop/cart' }, method: 'GET', headers: [{ type: 'Exact', name: 'x-debug', value: '1' }] },
        { path: { type: 'RegularExpression', value: '/shop/[0-9]+' } },
      ],
      filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'api-canary', port: 80 }, percent: 25 } }],
      backendRefs: [{ name: 'api-stable', port: 80, weight: 1 }],
    });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: ['beta'], mirrorRoutes: ['shadow'] });

    // Only the mirror left: the header rule goes, the user's rule stays.
    await router.apply(CONTEXT, target(5, { mirrorRoutes: [shadow] }));
    expect(route(kube).spec.rules.map((rule) => rule.filters?.[0]?.type ?? rule.backendRefs.length)).toEqual([2, 'RequestMirror']);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: [], mirrorRoutes: ['shadow'] });

    await router.apply(CONTEXT, target(0));
    expect(route(kube).spec.rules).toEqual([{ ...split('/shop'), backendRefs: [{ name: 'api-stable', port: 80, weight: 100 }, { name: 'api-canary', port: 80, weight: 0 }] }]);
    expect(route(kube).metadata.annotations?.[ANNOTATION_MANAGED_RULES]).toBeUndefined();
  });

  it('refuses a mirror match on an HTTP method other than an exact one, which Gateway API cannot express', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'api', [split()]);
    const mirror: MirrorRoute = { name: 'shadow', match: [{ method: { prefix: 'P' } }] };
    await expect(gateway(kube).apply(CONTEXT, target(0, { mirrorRoutes: [mirror] }))).rejects.toThrow(/exactly/);
  });

  it('puts managed rules only in the routes marked useHeaderRoutes', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'web', [split()]);
    httpRoute(kube, 'internal', [split()]);
    const router = gateway(kube, { httpRoutes: [{ name: 'web', useHeaderRoutes: true }, { name: 'internal' }] });
    await router.apply(CONTEXT, target(5, { headerRoutes: [BETA] }));
    expect(route(kube, 'web').spec.rules).toHaveLength(2);
    expect(route(kube, 'internal').spec.rules).toHaveLength(1);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: ['beta'], mirrorRoutes: [] });
  });

  it('adds the managed rules again after the route is re-applied from its manifest, which keeps the annotation', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'api', [split('/')]);
    const router = gateway(kube);
    await router.apply(CONTEXT, target(5, { headerRoutes: [BETA] }));
    expect(route(kube).spec.rules).toHaveLength(2);

    // kubectl apply (or a GitOps sync) of the original manifest: its rules, and the annotation it does not mention kept.
    httpRoute(kube, 'api', [split('/')]);
    expect(route(kube).metadata.annotations?.[ANNOTATION_MANAGED_RULES]).toBeDefined();
    expect(await router.observe(CONTEXT), 'the header route is gone, the weight is the manifest one').toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] });
    await router.apply(CONTEXT, target(5, { headerRoutes: [BETA] }));
    expect(route(kube).spec.rules).toHaveLength(2);
    expect(weights(route(kube).spec.rules[0])).toEqual([['api-stable', 95], ['api-canary', 5]]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: ['beta'], mirrorRoutes: [] });
  });

  it('takes as managed only the trailing rules still shaped as it wrote them, when one was deleted by hand', async () => {
    const kube = new FakeKube();
    httpRoute(kube, 'api', [split('/')]);
    const router = gateway(kube);
    const shadow: MirrorRoute = { name: 'shadow', match: [{ path: { prefix: '/' } }] };
    await router.apply(CONTEXT, target(5, { headerRoutes: [BETA], mirrorRoutes: [shadow] }));
    const edited = route(kube);
    edited.spec.rules.splice(1, 1);
    kube.put('httproutes', edited);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: [], mirrorRoutes: ['shadow'] });
    await router.apply(CONTEXT, target(5, { headerRoutes: [BETA], mirrorRoutes: [shadow] }));
    expect(route(kube).spec.rules.map((rule) => rule.filters?.[0]?.type ?? rule.backendRefs.map((ref) => ref.name).join())).toEqual([
      'api-stable,api-canary',
      'api-canary',
      'RequestMirror',
    ]);
  });

  it('reports a missing route, and a route with no rule naming both Services, as problems, and refuses to apply', async () => {
    const kube = new FakeKube();
    const router = gateway(kube);
    expect((await router.observe(CONTEXT)).problem).toMatch(/HTTPRoute shop\/api not found/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/not found/);
    httpRoute(kube, 'api', [{ backendRefs: [{ name: 'api-stable', port: 80 }] }]);
    expect((await router.observe(CONTEXT)).problem).toMatch(/no rule whose backendRefs name both api-stable and api-canary/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/no rule/);
  });
});

describe('TraefikRouter', () => {
  const traefik = (kube: FakeKube) => new TraefikRouter(kube.custom as unknown as CustomApi, 'api');
  const services = (kube: FakeKube) =>
    (kube.get<{ spec: { weighted: { services: Array<{ name: string; weight?: number }> } } }>('traefikservices', 'shop', 'api')?.spec.weighted.services ?? []).map(
      (entry) => [entry.name, entry.weight],
    );

  it('weights the entries naming the two Services and keeps every other entry and field', async () => {
    const kube = new FakeKube();
    kube.put('traefikservices', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: {
        weighted: {
          sticky: { cookie: { name: 'lb' } },
          services: [
            { name: 'api-stable', port: 80, weight: 1 },
            { name: 'api-canary', port: 80 },
            { name: 'legacy', port: 80, weight: 0 },
          ],
        },
      },
    });
    const router = traefik(kube);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(50);
    expect(await router.apply(CONTEXT, target(25))).toBe(true);
    expect(services(kube)).toEqual([['api-stable', 75], ['api-canary', 25], ['legacy', 0]]);
    expect(kube.get<{ spec: { weighted: { sticky: unknown } } }>('traefikservices', 'shop', 'api')?.spec.weighted.sticky).toEqual({ cookie: { name: 'lb' } });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 25, headerRoutes: [], mirrorRoutes: [] });
    expect(await router.apply(CONTEXT, target(25))).toBe(false);
  });

  it('reports a missing TraefikService, and one that does not name both Services, as problems', async () => {
    const kube = new FakeKube();
    const router = traefik(kube);
    expect((await router.observe(CONTEXT)).problem).toMatch(/TraefikService shop\/api not found/);
    kube.put('traefikservices', { metadata: { name: 'api', namespace: 'shop' }, spec: { weighted: { services: [{ name: 'api-stable', port: 80 }, { name: 'api-canary', kind: 'TraefikService' }] } } });
    expect((await router.observe(CONTEXT)).problem).toMatch(/naming both api-stable and api-canary/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/naming both/);
  });
});

describe('IstioRouter', () => {
  interface Destination {
    destination: { host: string; subset?: string; port?: { number: number } };
    weight?: number;
  }
  interface HttpRoute {
    name?: string;
    match?: unknown[];
    route: Destination[];
  }
  const istio = (kube: FakeKube, config: NonNullable<TrafficRouting['istio']>) => new IstioRouter(kube.custom as unknown as CustomApi, config);
  const http = (kube: FakeKube): HttpRoute[] => kube.get<{ spec: { http: HttpRoute[] } }>('virtualservices', 'shop', 'api')?.spec.http ?? [];
  const weightsOf = (route: HttpRoute | undefined) => route?.route.map((destination) => [destination.destination.subset ?? destination.destination.host, destination.weight]);
  const virtualService = (kube: FakeKube, routes: HttpRoute[]): void =>
    kube.put('virtualservices', { metadata: { name: 'api', namespace: 'shop' }, spec: { hosts: ['api.example.com'], http: routes } });

  it('weights host-level destinations, whatever form of the Service host they use', async () => {
    const kube = new FakeKube();
    virtualService(kube, [
      { name: 'short', route: [{ destination: { host: 'api-stable' }, weight: 100 }, { destination: { host: 'api-canary' }, weight: 0 }] },
      { name: 'ns', route: [{ destination: { host: 'api-stable.shop' }, weight: 100 }, { destination: { host: 'api-canary.shop' }, weight: 0 }] },
      {
        name: 'fqdn',
        route: [
          { destination: { host: 'api-stable.shop.svc.cluster.local', port: { number: 80 } }, weight: 100 },
          { destination: { host: 'api-canary.shop.svc.cluster.local', port: { number: 80 } }, weight: 0 },
        ],
      },
    ]);
    const router = istio(kube, { virtualService: { name: 'api' } });
    await router.apply(CONTEXT, target(40));
    expect(http(kube).map(weightsOf)).toEqual([
      [['api-stable', 60], ['api-canary', 40]],
      [['api-stable.shop', 60], ['api-canary.shop', 40]],
      [['api-stable.shop.svc.cluster.local', 60], ['api-canary.shop.svc.cluster.local', 40]],
    ]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 40, headerRoutes: [], mirrorRoutes: [] });
  });

  it('with routes named, weights only those and reports a named route that does not exist', async () => {
    const kube = new FakeKube();
    const pair = (weight: number): Destination[] => [
      { destination: { host: 'api-stable' }, weight: 100 - weight },
      { destination: { host: 'api-canary' }, weight },
    ];
    virtualService(kube, [
      { name: 'primary', route: pair(0) },
      { name: 'frozen', route: pair(50) },
    ]);
    const router = istio(kube, { virtualService: { name: 'api', routes: ['primary'] } });
    await router.apply(CONTEXT, target(10));
    expect(http(kube).map(weightsOf)).toEqual([
      [['api-stable', 90], ['api-canary', 10]],
      [['api-stable', 50], ['api-canary', 50]],
    ]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(10);
    expect((await istio(kube, { virtualService: { name: 'api', routes: ['primary', 'missing'] } }).observe(CONTEXT)).problem).toMatch(/no HTTP route named missing/);

    // A named route without both destinations cannot be split: a problem, and its lone destination is not reweighted.
    virtualService(kube, [{ name: 'primary', route: pair(0) }, { name: 'stable-only', route: [{ destination: { host: 'api-stable' } }] }]);
    const both = istio(kube, { virtualService: { name: 'api', routes: ['primary', 'stable-only'] } });
    expect((await both.observe(CONTEXT)).problem).toMatch(/HTTP route stable-only has no canary and stable destination/);
    await expect(both.apply(CONTEXT, target(10))).rejects.toThrow(/stable-only/);
    expect(http(kube)[1]).toEqual({ name: 'stable-only', route: [{ destination: { host: 'api-stable' } }] });
  });

  it('with no routes named, weights the split routes and leaves a route to another host alone', async () => {
    const kube = new FakeKube();
    virtualService(kube, [
      { match: [{ uri: { prefix: '/metrics' } }], route: [{ destination: { host: 'metrics' } }] },
      { route: [{ destination: { host: 'api-stable' }, weight: 100 }, { destination: { host: 'api-canary' }, weight: 0 }] },
    ]);
    const router = istio(kube, { virtualService: { name: 'api' } });
    await router.apply(CONTEXT, target(30));
    expect(http(kube)[0]).toEqual({ match: [{ uri: { prefix: '/metrics' } }], route: [{ destination: { host: 'metrics' } }] });
    expect(weightsOf(http(kube)[1])).toEqual([['api-stable', 70], ['api-canary', 30]]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 30, headerRoutes: [], mirrorRoutes: [] });
  });

  it('subset-level: the DestinationRule subsets follow the revisions before the weights move, and the stable subset says what it selects', async () => {
    const kube = new FakeKube();
    virtualService(kube, [
      { route: [{ destination: { host: 'api', subset: 'stable' }, weight: 100 }, { destination: { host: 'api', subset: 'canary' }, weight: 0 }] },
    ]);
    kube.put('destinationrules', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { host: 'api', subsets: [{ name: 'stable', labels: { app: 'api' } }, { name: 'canary', labels: { app: 'api' } }, { name: 'other', labels: { app: 'api', v: '0' } }] },
    });
    const router = istio(kube, { virtualService: { name: 'api' }, destinationRule: { name: 'api', stableSubsetName: 'stable', canarySubsetName: 'canary' } });
    const context = { ...CONTEXT, stableService: undefined, canaryService: undefined };
    expect((await router.observe(context)).stableSelects).toBeNull();
    const from = kube.writes.length;
    await router.apply(context, target(20));
    expect(kube.writesSince(from).map((write) => write.kind)).toEqual(['destinationrules', 'virtualservices']);
    const subsets = () => kube.get<{ spec: { subsets: Array<{ name: string; labels: Record<string, string> }> } }>('destinationrules', 'shop', 'api')?.spec.subsets;
    expect(subsets()).toEqual([
      { name: 'stable', labels: { app: 'api', 'fledge.dev/pod-template-hash': STABLE_HASH } },
      { name: 'canary', labels: { app: 'api', 'fledge.dev/pod-template-hash': CANARY_HASH } },
      { name: 'other', labels: { app: 'api', v: '0' } },
    ]);
    expect(weightsOf(http(kube)[0])).toEqual([['stable', 80], ['canary', 20]]);
    expect(await router.observe(context)).toEqual({ canaryWeight: 20, headerRoutes: [], mirrorRoutes: [], stableSelects: STABLE_HASH, canarySelects: CANARY_HASH });

    // A promotion growing the new revision: the stable subset selects every pod of the Rollout meanwhile.
    await router.apply(context, { ...target(20), stableRevision: undefined, canaryRevision: STABLE_HASH });
    expect(subsets()?.slice(0, 2)).toEqual([
      { name: 'stable', labels: { app: 'api' } },
      { name: 'canary', labels: { app: 'api', 'fledge.dev/pod-template-hash': STABLE_HASH } },
    ]);
    expect((await router.observe(context)).stableSelects).toBeNull();
  });

  it('subset-level: takes the weight off before the canary subset moves to another revision', async () => {
    const kube = new FakeKube();
    virtualService(kube, [
      { route: [{ destination: { host: 'api', subset: 'stable' }, weight: 100 }, { destination: { host: 'api', subset: 'canary' }, weight: 0 }] },
    ]);
    kube.put('destinationrules', { metadata: { name: 'api', namespace: 'shop' }, spec: { host: 'api', subsets: [{ name: 'stable' }, { name: 'canary' }] } });
    const router = istio(kube, { virtualService: { name: 'api' }, destinationRule: { name: 'api', stableSubsetName: 'stable', canarySubsetName: 'canary' } });
    await router.apply(CONTEXT, target(20));
    // A new template mid-canary: its revision has no pod yet, so the weight goes first, then the subset follows it.
    const from = kube.writes.length;
    await router.apply(CONTEXT, { ...target(0), canaryRevision: 'newer333' });
    expect(kube.writesSince(from).map((write) => write.kind)).toEqual(['virtualservices', 'destinationrules']);
    expect(weightsOf(http(kube)[0])).toEqual([['stable', 100], ['canary', 0]]);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
  });

  describe('tlsRoutes and tcpRoutes', () => {
    interface L4Route {
      match?: Array<{ port?: number; sniHosts?: string[] }>;
      route: Destination[];
    }
    const pair = (weight: number): Destination[] => [
      { destination: { host: 'api-stable' }, weight: 100 - weight },
      { destination: { host: 'api-canary' }, weight },
    ];
    const put = (kube: FakeKube, spec: { http?: HttpRoute[]; tls?: L4Route[]; tcp?: L4Route[] }): void =>
      kube.put('virtualservices', { metadata: { name: 'api', namespace: 'shop' }, spec: { hosts: ['api.example.com'], ...spec } });
    const spec = (kube: FakeKube) => kube.get<{ spec: { http?: HttpRoute[]; tls?: L4Route[]; tcp?: L4Route[] } }>('virtualservices', 'shop', 'api')?.spec;

    it('weights the TLS routes matching the port and exactly the SNI hosts, in any order, and leaves the others', async () => {
      const kube = new FakeKube();
      put(kube, {
        http: [{ route: [{ destination: { host: 'metrics' } }] }],
        tls: [
          { match: [{ port: 443, sniHosts: ['a.example.com'] }, { port: 443, sniHosts: ['b.example.com'] }], route: pair(0) },
          { match: [{ port: 443, sniHosts: ['a.example.com'] }], route: pair(0) },
          { match: [{ port: 8443, sniHosts: ['a.example.com', 'b.example.com'] }], route: pair(0) },
        ],
      });
      const router = istio(kube, { virtualService: { name: 'api', tlsRoutes: [{ port: 443, sniHosts: ['b.example.com', 'a.example.com'] }] } });
      await router.apply(CONTEXT, target(30));
      expect(spec(kube)?.tls?.map(weightsOf)).toEqual([
        [['api-stable', 70], ['api-canary', 30]],
        [['api-stable', 100], ['api-canary', 0]],
        [['api-stable', 100], ['api-canary', 0]],
      ]);
      expect(spec(kube)?.http).toEqual([{ route: [{ destination: { host: 'metrics' } }] }]);
      expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 30, headerRoutes: [], mirrorRoutes: [] });

      // A field left out does not constrain: the SNI hosts alone match on every port.
      await istio(kube, { virtualService: { name: 'api', tlsRoutes: [{ sniHosts: ['a.example.com'] }] } }).apply(CONTEXT, target(50));
      expect(spec(kube)?.tls?.map((route) => route.route[1]?.weight)).toEqual([30, 50, 0]);
    });

    it('weights the TCP routes on the port next to the split HTTP routes, and reads them back', async () => {
      const kube = new FakeKube();
      put(kube, {
        http: [{ route: pair(0) }],
        tcp: [
          { match: [{ port: 3000 }], route: pair(0) },
          { match: [{ port: 3001 }], route: pair(0) },
        ],
      });
      const router = istio(kube, { virtualService: { name: 'api', tcpRoutes: [{ port: 3000 }] } });
      await router.apply(CONTEXT, target(20));
      expect(weightsOf(spec(kube)?.http?.[0])).toEqual([['api-stable', 80], ['api-canary', 20]]);
      expect(spec(kube)?.tcp?.map(weightsOf)).toEqual([
        [['api-stable', 80], ['api-canary', 20]],
        [['api-stable', 100], ['api-canary', 0]],
      ]);
      expect((await router.observe(CONTEXT)).canaryWeight).toBe(20);

      // Someone edits the TCP split: the routes disagree, so no weight is in effect, and apply puts it back.
      const edited = spec(kube);
      put(kube, { ...edited, tcp: [{ match: [{ port: 3000 }], route: pair(60) }, ...(edited?.tcp?.slice(1) ?? [])] });
      expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
      expect(await router.apply(CONTEXT, target(20))).toBe(true);
      expect(weightsOf(spec(kube)?.tcp?.[0])).toEqual([['api-stable', 80], ['api-canary', 20]]);
      expect(await router.apply(CONTEXT, target(20))).toBe(false);
    });

    it('needs no HTTP route when TCP routes are given, and then writes only the tcp list', async () => {
      const kube = new FakeKube();
      put(kube, { tcp: [{ route: pair(0) }] });
      const router = istio(kube, { virtualService: { name: 'api', tcpRoutes: [{}] } });
      expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
      await router.apply(CONTEXT, target(10));
      expect(spec(kube)).toEqual({ hosts: ['api.example.com'], tcp: [{ route: pair(10) }] });
    });

    it('reports a TLS or TCP route that matches nothing, or matches an entry it cannot split, and writes nothing', async () => {
      const kube = new FakeKube();
      put(kube, {
        http: [{ route: pair(0) }],
        tls: [{ match: [{ port: 443, sniHosts: ['a.example.com'] }], route: pair(0) }],
        tcp: [
          { match: [{ port: 3000 }], route: pair(0) },
          { match: [{ port: 3000 }, { port: 3001 }], route: pair(0) },
          { match: [{ port: 5432 }], route: [{ destination: { host: 'postgres' } }] },
        ],
      });
      const before = structuredClone(spec(kube));
      const noTls = istio(kube, { virtualService: { name: 'api', tlsRoutes: [{ port: 443, sniHosts: ['a.example.com', 'b.example.com'] }] } });
      expect((await noTls.observe(CONTEXT)).problem).toBe('VirtualService shop/api has no TLS route matching port 443 and sniHosts a.example.com, b.example.com');
      await expect(noTls.apply(CONTEXT, target(10))).rejects.toThrow(/no TLS route matching port 443/);
      // An entry with matches on two ports is not on port 3001.
      const noTcp = istio(kube, { virtualService: { name: 'api', tcpRoutes: [{ port: 3000 }, { port: 3001 }] } });
      expect((await noTcp.observe(CONTEXT)).problem).toBe('VirtualService shop/api has no TCP route matching port 3001');
      const unsplit = istio(kube, { virtualService: { name: 'api', tcpRoutes: [{ port: 5432 }] } });
      expect((await unsplit.observe(CONTEXT)).problem).toBe('VirtualService shop/api: TCP route tcp[2] (matching port 5432) has no canary and stable destination to split between');
      await expect(unsplit.apply(CONTEXT, target(10))).rejects.toThrow(/tcp\[2\]/);
      expect(spec(kube)).toEqual(before);
    });
  });

  it('reports a missing VirtualService, DestinationRule or subset, and a VirtualService with no split route', async () => {
    const kube = new FakeKube();
    const config = { virtualService: { name: 'api' }, destinationRule: { name: 'api', stableSubsetName: 'stable', canarySubsetName: 'canary' } };
    expect((await istio(kube, config).observe(CONTEXT)).problem).toMatch(/VirtualService shop\/api not found/);
    virtualService(kube, [{ route: [{ destination: { host: 'api', subset: 'stable' } }] }]);
    expect((await istio(kube, config).observe(CONTEXT)).problem).toMatch(/no HTTP route with both a canary and a stable destination/);
    virtualService(kube, [{ route: [{ destination: { host: 'api', subset: 'stable' }, weight: 100 }, { destination: { host: 'api', subset: 'canary' }, weight: 0 }] }]);
    expect((await istio(kube, config).observe(CONTEXT)).problem).toMatch(/DestinationRule shop\/api not found/);
    kube.put('destinationrules', { metadata: { name: 'api', namespace: 'shop' }, spec: { subsets: [{ name: 'stable' }] } });
    expect((await istio(kube, config).observe(CONTEXT)).problem).toMatch(/no subset canary/);
    await expect(istio(kube, config).apply(CONTEXT, target(10))).rejects.toThrow(/no subset canary/);
  });
});

describe('NginxRouter', () => {
  const nginx = (kube: FakeKube, config: Partial<NonNullable<TrafficRouting['nginx']>> = {}) =>
    new NginxRouter(kube.networking as unknown as NetworkingApi, { stableIngress: 'api', ...config });
  const canaryName = canaryIngressName('api', 'api');
  const canary = (kube: FakeKube) => kube.get<k8s.V1Ingress>('ingresses', 'shop', canaryName);
  const stableIngress = (kube: FakeKube): void =>
    kube.put('ingresses', {
      metadata: { name: 'api', namespace: 'shop', annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/' } },
      spec: {
        ingressClassName: 'nginx',
        tls: [{ hosts: ['api.example.com'], secretName: 'api-tls' }],
        rules: [
          {
            host: 'api.example.com',
            http: {
              paths: [
                { path: '/', pathType: 'Prefix', backend: { service: { name: 'api-stable', port: { number: 80 } } } },
                { path: '/static', pathType: 'Prefix', backend: { service: { name: 'cdn', port: { number: 80 } } } },
              ],
            },
          },
        ],
      },
    });

  it('creates the canary Ingress from the stable one, backends swapped, owned by the Rollout, and then changes only its weight', async () => {
    const kube = new FakeKube();
    stableIngress(kube);
    const router = nginx(kube, { additionalIngressAnnotations: { 'canary-by-header': 'x-canary', 'example.com/team': 'shop' } });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] });
    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    const created = canary(kube);
    expect(created?.metadata?.labels).toEqual({ 'fledge.dev/rollout': 'api' });
    expect(created?.metadata?.ownerReferences).toEqual([{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(created?.metadata?.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
      'nginx.ingress.kubernetes.io/canary-by-header': 'x-canary',
      'example.com/team': 'shop',
    });
    expect(created?.spec?.ingressClassName).toBe('nginx');
    expect(created?.spec?.tls).toEqual([{ hosts: ['api.example.com'], secretName: 'api-tls' }]);
    expect(created?.spec?.rules?.[0]?.http?.paths.map((path) => [path.path, path.backend.service?.name])).toEqual([
      ['/', 'api-canary'],
      ['/static', 'cdn'],
    ]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: [], mirrorRoutes: [] });
    // The stable Ingress is never written.
    expect(kube.writes.filter((write) => write.name === 'api')).toEqual([]);

    expect(await router.apply(CONTEXT, target(10))).toBe(false);
    expect(await router.apply(CONTEXT, target(60))).toBe(true);
    expect(canary(kube)?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('60');
  });

  it('writes its annotations under a custom annotationPrefix', async () => {
    const kube = new FakeKube();
    stableIngress(kube);
    const router = nginx(kube, { annotationPrefix: 'custom.nginx.org', additionalIngressAnnotations: { 'canary-by-cookie': 'beta' } });
    await router.apply(CONTEXT, target(35));
    expect(canary(kube)?.metadata?.annotations).toEqual({
      'custom.nginx.org/canary': 'true',
      'custom.nginx.org/canary-weight': '35',
      'custom.nginx.org/canary-by-cookie': 'beta',
    });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(35);
    // Under the default prefix, the same Ingress says nothing.
    expect((await nginx(kube).observe(CONTEXT)).canaryWeight).toBe(0);
  });

  it('drops an additional annotation that the Rollout no longer asks for', async () => {
    const kube = new FakeKube();
    stableIngress(kube);
    await nginx(kube, { additionalIngressAnnotations: { 'canary-by-header': 'x-canary' } }).apply(CONTEXT, target(10));
    expect(await nginx(kube).apply(CONTEXT, target(10))).toBe(true);
    expect(canary(kube)?.metadata?.annotations).toEqual({ 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': '10' });
  });

  it('refuses an Ingress of the canary name that is not labelled as this Rollout`s, and a stable Ingress without the stable Service', async () => {
    const kube = new FakeKube();
    stableIngress(kube);
    kube.put('ingresses', { metadata: { name: canaryName, namespace: 'shop' }, spec: { rules: [] } });
    const router = nginx(kube);
    expect((await router.observe(CONTEXT)).problem).toMatch(/exists and is not this Rollout's canary Ingress/);
    await expect(router.apply(CONTEXT, target(10))).rejects.toThrow(/not this Rollout's/);
    expect(kube.get<k8s.V1Ingress>('ingresses', 'shop', canaryName)?.metadata?.annotations).toBeUndefined();

    const other = new FakeKube();
    expect((await nginx(other).observe(CONTEXT)).problem).toMatch(/Ingress shop\/api not found/);
    other.put('ingresses', { metadata: { name: 'api', namespace: 'shop' }, spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web' } } }] } }] } });
    expect((await nginx(other).observe(CONTEXT)).problem).toMatch(/no path whose backend is api-stable/);
  });
});

describe('AlbRouter', () => {
  const alb = (kube: FakeKube, config: Partial<NonNullable<TrafficRouting['alb']>> = {}) =>
    new AlbRouter(kube.networking as unknown as NetworkingApi, { ingress: 'api', servicePort: 80, ...config });
  const KEY = 'alb.ingress.kubernetes.io/actions.api-stable';
  const annotations = (kube: FakeKube, name = 'api') => kube.get<k8s.V1Ingress>('ingresses', 'shop', name)?.metadata?.annotations ?? {};
  const action = (kube: FakeKube, name = 'api', key = KEY): unknown => JSON.parse(annotations(kube, name)[key] ?? 'null');
  /** An Ingress as the AWS Load Balancer Controller wants it: the action's backend has the port name use-annotation. */
  const albIngress = (kube: FakeKube, name = 'api', backend = 'api-stable', port: k8s.V1ServiceBackendPort = { name: 'use-annotation' }): void =>
    kube.put('ingresses', {
      metadata: { name, namespace: 'shop', annotations: { 'alb.ingress.kubernetes.io/scheme': 'internet-facing' } },
      spec: {
        ingressClassName: 'alb',
        rules: [
          {
            http: {
              paths: [
                { path: '/static', pathType: 'Prefix', backend: { service: { name: 'cdn', port: { number: 80 } } } },
                { path: '/', pathType: 'Prefix', backend: { service: { name: backend, port } } },
              ],
            },
          },
        ],
      },
    });

  it('writes the forward action in Argo`s shape, ServicePort a string, and nothing else; then only when the weight changes', async () => {
    const kube = new FakeKube();
    albIngress(kube);
    const router = alb(kube);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    expect(annotations(kube)[KEY]).toBe(
      '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-canary","ServicePort":"80","Weight":10},{"ServiceName":"api-stable","ServicePort":"80","Weight":90}]}}',
    );
    expect(annotations(kube)['alb.ingress.kubernetes.io/scheme']).toBe('internet-facing');
    expect(kube.get<k8s.V1Ingress>('ingresses', 'shop', 'api')?.spec?.rules?.[0]?.http?.paths[1]?.backend.service).toEqual({ name: 'api-stable', port: { name: 'use-annotation' } });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: [], mirrorRoutes: [] });

    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(10))).toBe(false);
    expect(kube.writes.length).toBe(writes);
    expect(await router.apply(CONTEXT, target(0))).toBe(true);
    expect(action(kube)).toEqual({
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { ServiceName: 'api-canary', ServicePort: '80', Weight: 0 },
          { ServiceName: 'api-stable', ServicePort: '80', Weight: 100 },
        ],
      },
    });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(0);
  });

  it('weights every listed Ingress, and reports no weight while they disagree', async () => {
    const kube = new FakeKube();
    albIngress(kube, 'public');
    albIngress(kube, 'internal');
    const router = alb(kube, { ingress: undefined, ingresses: ['public', 'internal'], servicePort: 8080 });
    expect(await router.apply(CONTEXT, target(25))).toBe(true);
    for (const name of ['public', 'internal']) {
      expect(action(kube, name)).toEqual({
        Type: 'forward',
        ForwardConfig: {
          TargetGroups: [
            { ServiceName: 'api-canary', ServicePort: '8080', Weight: 25 },
            { ServiceName: 'api-stable', ServicePort: '8080', Weight: 75 },
          ],
        },
      });
    }
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(25);

    // A hand edit of one of them: nothing is in effect until both agree again, and only that one is written.
    const edited = kube.get<k8s.V1Ingress>('ingresses', 'shop', 'internal') as k8s.V1Ingress;
    edited.metadata = { ...edited.metadata, annotations: { ...edited.metadata?.annotations, [KEY]: (edited.metadata?.annotations?.[KEY] ?? '').replace('"Weight":25', '"Weight":50').replace('"Weight":75', '"Weight":50') } };
    kube.put('ingresses', edited);
    expect((await router.observe(CONTEXT)).canaryWeight).toBeUndefined();
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(25))).toBe(true);
    expect(kube.writesSince(writes).map((write) => write.name)).toEqual(['internal']);
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(25);
  });

  it('adds the target groups` stickiness when enabled, and none when disabled', async () => {
    const kube = new FakeKube();
    albIngress(kube);
    await alb(kube, { stickinessConfig: { enabled: true, durationSeconds: 3600 } }).apply(CONTEXT, target(40));
    expect(annotations(kube)[KEY]).toBe(
      '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-canary","ServicePort":"80","Weight":40},{"ServiceName":"api-stable","ServicePort":"80","Weight":60}],' +
        '"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":3600}}}',
    );
    expect((await alb(kube).observe(CONTEXT)).canaryWeight).toBe(40);
    // Turning it off rewrites the action without it, though the weight is the same.
    expect(await alb(kube, { stickinessConfig: { enabled: false, durationSeconds: 0 } }).apply(CONTEXT, target(40))).toBe(true);
    expect((action(kube) as { ForwardConfig: Record<string, unknown> }).ForwardConfig).not.toHaveProperty('TargetGroupStickinessConfig');
  });

  it('puts the action on rootService, under a custom annotationPrefix', async () => {
    const kube = new FakeKube();
    albIngress(kube, 'api', 'api-root');
    const router = alb(kube, { rootService: 'api-root', annotationPrefix: 'custom.alb.example.com' });
    expect(await router.apply(CONTEXT, target(5))).toBe(true);
    expect(Object.keys(annotations(kube))).toEqual(['alb.ingress.kubernetes.io/scheme', 'custom.alb.example.com/actions.api-root']);
    expect(action(kube, 'api', 'custom.alb.example.com/actions.api-root')).toEqual({
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { ServiceName: 'api-canary', ServicePort: '80', Weight: 5 },
          { ServiceName: 'api-stable', ServicePort: '80', Weight: 95 },
        ],
      },
    });
    expect((await router.observe(CONTEXT)).canaryWeight).toBe(5);
    // Without rootService the action would be api-stable, which this Ingress does not route by annotation.
    expect((await alb(kube).observe(CONTEXT)).problem).toMatch(/no path whose backend is service api-stable with port name use-annotation/);
  });

  it('refuses, as the router`s problem, an Ingress that is missing or does not route the action by annotation, and writes nothing', async () => {
    const kube = new FakeKube();
    expect(await alb(kube).observe(CONTEXT)).toEqual({ canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem: 'Ingress shop/api not found' });
    await expect(alb(kube).apply(CONTEXT, target(10))).rejects.toThrow(/Ingress shop\/api not found/);

    // The stable Service by port number: the controller would never read the annotation.
    albIngress(kube, 'api', 'api-stable', { number: 80 });
    const problem = (await alb(kube).observe(CONTEXT)).problem;
    expect(problem).toMatch(/Ingress shop\/api has no path whose backend is service api-stable with port name use-annotation/);
    expect(problem).toMatch(/alb\.ingress\.kubernetes\.io\/actions\.api-stable/);
    await expect(alb(kube).apply(CONTEXT, target(10))).rejects.toThrow(/port name use-annotation/);

    // One good Ingress and one missing: nothing is written to the good one either.
    const other = new FakeKube();
    albIngress(other, 'public');
    await expect(alb(other, { ingress: undefined, ingresses: ['public', 'internal'] }).apply(CONTEXT, target(10))).rejects.toThrow(/Ingress shop\/internal not found/);
    expect(other.writes).toEqual([]);
  });

  it('reads back the canary`s share of an action it did not write, and nothing from one it cannot parse', async () => {
    const kube = new FakeKube();
    albIngress(kube);
    const ingress = kube.get<k8s.V1Ingress>('ingresses', 'shop', 'api') as k8s.V1Ingress;
    const set = (value: string): void => {
      kube.put('ingresses', { ...ingress, metadata: { ...ingress.metadata, annotations: { [KEY]: value } } });
    };
    set(' { "Type": "forward", "ForwardConfig": { "TargetGroups": [ {"ServiceName": "api-stable", "ServicePort": "80", "Weight": 70}, {"ServiceName": "api-canary", "ServicePort": "80", "Weight": 30} ] } }');
    expect((await alb(kube).observe(CONTEXT)).canaryWeight).toBe(30);
    set('{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-stable","ServicePort":"80"}]}}');
    expect((await alb(kube).observe(CONTEXT)).canaryWeight).toBe(0);
    set('not json');
    expect((await alb(kube).observe(CONTEXT)).canaryWeight).toBeUndefined();
    set('{"Type":"redirect"}');
    expect((await alb(kube).observe(CONTEXT)).canaryWeight).toBeUndefined();
  });
});
