import type * as k8s from '@kubernetes/client-node';
import type { CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import type { HeaderRoute, MirrorRoute, TrafficRouting } from '../../../src/api/rollout.js';
import { AlbRouter } from '../../../src/traffic/routers/alb.js';
import { ANNOTATION_ROUTE_HASH, ApisixRouter } from '../../../src/traffic/routers/apisix.js';
import { routersFor } from '../../../src/traffic/routers/index.js';
import { IstioRouter } from '../../../src/traffic/routers/istio.js';
import type { RouterContext, TrafficTarget } from '../../../src/traffic/types.js';
import { FakeKube } from '../fake-kube.js';

/** Header and mirror routes (trafficRouting.managedRoutes) on the Istio, ALB and APISIX routers, in Argo's shapes. */

const CONTEXT: RouterContext = { namespace: 'shop', rolloutName: 'api', rolloutUid: 'uid-1', stableService: 'api-stable', canaryService: 'api-canary' };
const MANAGED = ['beta', 'shadow', 'gamma'];

const target = (canaryWeight: number, routes: { headerRoutes?: HeaderRoute[]; mirrorRoutes?: MirrorRoute[] } = {}): TrafficTarget => ({
  canaryWeight,
  additionalDestinations: [],
  headerRoutes: routes.headerRoutes ?? [],
  mirrorRoutes: routes.mirrorRoutes ?? [],
  stableRevision: 'stable111',
  canaryRevision: 'canary222',
});

const BETA: HeaderRoute = {
  name: 'beta',
  match: [
    { headerName: 'x-beta', headerValue: { exact: 'yes' } },
    { headerName: 'user-agent', headerValue: { regex: 'firefox(.*)' } },
    { headerName: 'x-user', headerValue: { prefix: 'qa.' } },
  ],
};
const GAMMA: HeaderRoute = { name: 'gamma', match: [{ headerName: 'x-gamma', headerValue: { exact: '1' } }] };
const SHADOW: MirrorRoute = { name: 'shadow', percentage: 35, match: [{ method: { exact: 'GET' }, path: { prefix: '/cart' } }, { headers: { 'x-debug': { exact: '1' } } }] };

describe('IstioRouter: header and mirror routes', () => {
  interface Destination {
    destination: { host: string; subset?: string; port?: { number: number } };
    weight?: number;
  }
  interface HttpRoute {
    name?: string;
    match?: unknown[];
    route?: Destination[];
    mirror?: Destination['destination'];
    mirrorPercentage?: { value: number };
  }
  const istio = (kube: FakeKube, config: NonNullable<TrafficRouting['istio']>, managed = MANAGED) => new IstioRouter(kube.custom as unknown as CustomApi, config, managed);
  const http = (kube: FakeKube): HttpRoute[] => kube.get<{ spec: { http: HttpRoute[] } }>('virtualservices', 'shop', 'api')?.spec.http ?? [];
  const virtualService = (kube: FakeKube, routes: HttpRoute[]): void =>
    kube.put('virtualservices', { metadata: { name: 'api', namespace: 'shop' }, spec: { hosts: ['api.example.com'], http: routes } });
  const PRIMARY: HttpRoute = {
    name: 'primary',
    route: [
      { destination: { host: 'api-stable', port: { number: 8080 } }, weight: 100 },
      { destination: { host: 'api-canary', port: { number: 8080 } }, weight: 0 },
    ],
  };
  const STATIC: HttpRoute = { name: 'static', match: [{ uri: { prefix: '/static' } }], route: [{ destination: { host: 'cdn' } }] };

  it('host-level: puts header and mirror routes on top in managedRoutes order, in Argo`s shape, and removes them', async () => {
    const kube = new FakeKube();
    virtualService(kube, [STATIC, PRIMARY]);
    const router = istio(kube, { virtualService: { name: 'api', routes: ['primary'] } });
    // The steps set gamma before beta; managedRoutes ranks beta first.
    expect(await router.apply(CONTEXT, target(20, { headerRoutes: [GAMMA, BETA], mirrorRoutes: [SHADOW] }))).toBe(true);
    expect(http(kube).map((route) => route.name)).toEqual(['beta', 'shadow', 'gamma', 'static', 'primary']);
    // Each header is a match of its own: any of them sends the request to the canary (Argo's documented "or").
    expect(http(kube)[0]).toEqual({
      name: 'beta',
      match: [{ headers: { 'x-beta': { exact: 'yes' } } }, { headers: { 'user-agent': { regex: 'firefox(.*)' } } }, { headers: { 'x-user': { prefix: 'qa.' } } }],
      route: [{ destination: { host: 'api-canary', port: { number: 8080 } }, weight: 100 }],
    });
    // The mirror route routes as the primary does, at the same weights, and copies 35% to the canary.
    expect(http(kube)[1]).toEqual({
      name: 'shadow',
      match: [{ method: { exact: 'GET' }, uri: { prefix: '/cart' } }, { headers: { 'x-debug': { exact: '1' } } }],
      route: [
        { destination: { host: 'api-stable', port: { number: 8080 } }, weight: 80 },
        { destination: { host: 'api-canary', port: { number: 8080 } }, weight: 20 },
      ],
      mirror: { host: 'api-canary', port: { number: 8080 } },
      mirrorPercentage: { value: 35 },
    });
    expect(http(kube).slice(3)).toEqual([STATIC, { ...PRIMARY, route: http(kube)[1]?.route }]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 20, headerRoutes: ['beta', 'gamma'], mirrorRoutes: ['shadow'] });

    // Nothing to change: no write.
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(20, { headerRoutes: [GAMMA, BETA], mirrorRoutes: [SHADOW] }))).toBe(false);
    expect(kube.writes.length).toBe(writes);

    // The weight moves: the mirror route's own split follows it.
    await router.apply(CONTEXT, target(50, { headerRoutes: [BETA], mirrorRoutes: [SHADOW] }));
    expect(http(kube).map((route) => route.name)).toEqual(['beta', 'shadow', 'static', 'primary']);
    expect(http(kube)[1]?.route?.map((destination) => destination.weight)).toEqual([50, 50]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 50, headerRoutes: ['beta'], mirrorRoutes: ['shadow'] });

    // The same route with a new match replaces the old one.
    const chrome: HeaderRoute = { name: 'beta', match: [{ headerName: 'user-agent', headerValue: { regex: 'chrome(.*)' } }] };
    await router.apply(CONTEXT, target(50, { headerRoutes: [chrome] }));
    expect(http(kube).map((route) => route.name)).toEqual(['beta', 'static', 'primary']);
    expect(http(kube)[0]?.match).toEqual([{ headers: { 'user-agent': { regex: 'chrome(.*)' } } }]);

    // The end of the rollout: only the user's routes are left.
    await router.apply(CONTEXT, target(0));
    expect(http(kube)).toEqual([STATIC, PRIMARY]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] });
  });

  it('takes a route named in managedRoutes as the Rollout`s, wherever it is: one left by Argo goes, and is never weighted', async () => {
    const kube = new FakeKube();
    const leftover: HttpRoute = { name: 'shadow', route: PRIMARY.route, mirror: { host: 'api-canary' }, mirrorPercentage: { value: 100 } };
    virtualService(kube, [PRIMARY, leftover]);
    // No routes named: every split route is weighted, but not a managed one though it names both Services.
    const router = istio(kube, { virtualService: { name: 'api' } });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: ['shadow'] });
    await router.apply(CONTEXT, target(10));
    expect(http(kube)).toEqual([{ ...PRIMARY, route: [{ ...PRIMARY.route![0]!, weight: 90 }, { ...PRIMARY.route![1]!, weight: 10 }] }]);
    // Without managedRoutes the same route is the user's.
    virtualService(kube, [PRIMARY, { name: 'shadow', route: [{ destination: { host: 'cdn' } }] }]);
    await istio(kube, { virtualService: { name: 'api' } }, []).apply(CONTEXT, target(10));
    expect(http(kube).map((route) => route.name)).toEqual(['primary', 'shadow']);
  });

  it('subset-level: the routes go to the canary subset, and the subsets move before a route sends traffic to them', async () => {
    const kube = new FakeKube();
    const subsetPrimary: HttpRoute = {
      name: 'primary',
      route: [
        { destination: { host: 'api', subset: 'stable' }, weight: 100 },
        { destination: { host: 'api', subset: 'canary' }, weight: 0 },
      ],
    };
    virtualService(kube, [subsetPrimary]);
    kube.put('destinationrules', { metadata: { name: 'api', namespace: 'shop' }, spec: { host: 'api', subsets: [{ name: 'stable' }, { name: 'canary' }] } });
    const router = istio(kube, { virtualService: { name: 'api' }, destinationRule: { name: 'api', canarySubsetName: 'canary', stableSubsetName: 'stable' } });
    const context = { ...CONTEXT, stableService: undefined, canaryService: undefined };
    const from = kube.writes.length;
    await router.apply(context, target(0, { headerRoutes: [GAMMA], mirrorRoutes: [SHADOW] }));
    expect(kube.writesSince(from).map((write) => write.kind)).toEqual(['destinationrules', 'virtualservices']);
    expect(http(kube)[0]).toMatchObject({ name: 'shadow', mirror: { host: 'api', subset: 'canary' }, route: subsetPrimary.route });
    expect(http(kube)[1]).toEqual({ name: 'gamma', match: [{ headers: { 'x-gamma': { exact: '1' } } }], route: [{ destination: { host: 'api', subset: 'canary' }, weight: 100 }] });
    expect(await router.observe(context)).toMatchObject({ canaryWeight: 0, headerRoutes: ['gamma'], mirrorRoutes: ['shadow'] });

    // A new template while the header route is in force: the route goes before the canary subset follows the new revision.
    const next = kube.writes.length;
    await router.apply(context, { ...target(0), canaryRevision: 'newer333' });
    expect(kube.writesSince(next).map((write) => write.kind)).toEqual(['virtualservices', 'destinationrules']);
    expect(http(kube)).toEqual([subsetPrimary]);
  });

  it('refuses managed routes when no HTTP route splits, and says so', async () => {
    const kube = new FakeKube();
    kube.put('virtualservices', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { tcp: [{ match: [{ port: 5432 }], route: [{ destination: { host: 'api-stable' }, weight: 100 }, { destination: { host: 'api-canary' }, weight: 0 }] }] },
    });
    const router = istio(kube, { virtualService: { name: 'api', tcpRoutes: [{ port: 5432 }] } });
    await expect(router.apply(CONTEXT, target(10, { headerRoutes: [GAMMA] }))).rejects.toThrow(/gamma: VirtualService shop\/api has no HTTP route to split/);
    expect(kube.writes).toEqual([]);
    // Without them, a TCP-only VirtualService gets no http list.
    await router.apply(CONTEXT, target(10));
    expect(kube.get<{ spec: Record<string, unknown> }>('virtualservices', 'shop', 'api')?.spec).not.toHaveProperty('http');
  });
});

describe('AlbRouter: header routes', () => {
  const alb = (kube: FakeKube, config: Partial<NonNullable<TrafficRouting['alb']>> = {}) =>
    new AlbRouter(kube.networking as unknown as NetworkingApi, { ingress: 'api', servicePort: 8080, rootService: 'action1', ...config }, MANAGED);
  const ingress = (kube: FakeKube, name = 'api') => kube.get<k8s.V1Ingress>('ingresses', 'shop', name) as k8s.V1Ingress;
  const paths = (kube: FakeKube, name = 'api') => (ingress(kube, name).spec?.rules ?? []).map((rule) => rule.http?.paths.map((path) => `${path.path} ${path.backend.service?.name}`));
  /** An Ingress shaped as Argo's header-routing e2e manifest, with a second rule and a path of the user's. */
  const albIngress = (kube: FakeKube, name = 'api'): void =>
    kube.put('ingresses', {
      metadata: { name, namespace: 'shop', annotations: { 'kubernetes.io/ingress.class': 'alb' } },
      spec: {
        rules: [
          {
            http: {
              paths: [
                { path: '/static', pathType: 'Prefix', backend: { service: { name: 'cdn', port: { number: 80 } } } },
                { path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name: 'action1', port: { name: 'use-annotation' } } } },
              ],
            },
          },
          { host: 'admin.example.com', http: { paths: [{ path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name: 'action1', port: { name: 'use-annotation' } } } }] } },
        ],
      },
    });
  const MOZILLA: HeaderRoute = {
    name: 'beta',
    match: [
      { headerName: 'Custom-Header', headerValue: { exact: 'Mozilla*' } },
      { headerName: 'Custom-Header', headerValue: { exact: 'Chrome*' } },
      { headerName: 'X-Team', headerValue: { exact: 'qa' } },
    ],
  };

  it('writes Argo`s action and conditions annotations and a path to them in every rule, ahead of the rest, and removes them', async () => {
    const kube = new FakeKube();
    albIngress(kube);
    const router = alb(kube);
    expect(await router.apply(CONTEXT, target(20, { headerRoutes: [GAMMA, MOZILLA] }))).toBe(true);
    const annotations = ingress(kube).metadata?.annotations ?? {};
    expect(annotations['alb.ingress.kubernetes.io/actions.beta']).toBe('{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-canary","ServicePort":"8080","Weight":100}]}}');
    // One condition per header (the ALB matches all of them), two values of one header merged (either of them).
    expect(annotations['alb.ingress.kubernetes.io/conditions.beta']).toBe(
      '[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Custom-Header","values":["Mozilla*","Chrome*"]}},{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Team","values":["qa"]}}]',
    );
    expect(annotations['alb.ingress.kubernetes.io/conditions.gamma']).toBe('[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"x-gamma","values":["1"]}}]');
    expect(annotations['alb.ingress.kubernetes.io/actions.action1']).toMatch(/"Weight":20/);
    expect(annotations['kubernetes.io/ingress.class']).toBe('alb');
    expect(paths(kube)).toEqual([
      ['/* beta', '/* gamma', '/static cdn', '/* action1'],
      ['/* beta', '/* gamma', '/* action1'],
    ]);
    expect(ingress(kube).spec?.rules?.[0]?.http?.paths[0]).toEqual({ path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name: 'beta', port: { name: 'use-annotation' } } } });
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 20, headerRoutes: ['beta', 'gamma'], mirrorRoutes: [] });

    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(20, { headerRoutes: [GAMMA, MOZILLA] }))).toBe(false);
    expect(kube.writes.length).toBe(writes);

    // gamma goes: its annotations and paths, nothing else.
    await router.apply(CONTEXT, target(20, { headerRoutes: [MOZILLA] }));
    expect(paths(kube)).toEqual([
      ['/* beta', '/static cdn', '/* action1'],
      ['/* beta', '/* action1'],
    ]);
    expect(Object.keys(ingress(kube).metadata?.annotations ?? {}).filter((key) => key.includes('gamma'))).toEqual([]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 20, headerRoutes: ['beta'], mirrorRoutes: [] });

    await router.apply(CONTEXT, target(0));
    expect(paths(kube)).toEqual([['/static cdn', '/* action1'], ['/* action1']]);
    expect(Object.keys(ingress(kube).metadata?.annotations ?? {}).sort()).toEqual(['alb.ingress.kubernetes.io/actions.action1', 'kubernetes.io/ingress.class']);
  });

  it('with several Ingresses, a header route is in effect only once every one has it', async () => {
    const kube = new FakeKube();
    albIngress(kube, 'public');
    albIngress(kube, 'internal');
    const router = alb(kube, { ingress: undefined, ingresses: ['public', 'internal'] });
    await router.apply(CONTEXT, target(10, { headerRoutes: [GAMMA] }));
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: ['gamma'], mirrorRoutes: [] });
    // A hand edit drops the path from one of them: not in effect, and the next apply puts back only that one.
    const internal = ingress(kube, 'internal');
    internal.spec!.rules![1]!.http!.paths = internal.spec!.rules![1]!.http!.paths.filter((path) => path.backend.service?.name !== 'gamma');
    kube.put('ingresses', internal);
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual([]);
    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(10, { headerRoutes: [GAMMA] }))).toBe(true);
    expect(kube.writesSince(writes).map((write) => write.name)).toEqual(['internal']);
    expect(paths(kube, 'internal')).toEqual(paths(kube, 'public'));
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual(['gamma']);
  });

  it('does not count an action that forwards elsewhere, or conditions that are not a list, as the route in effect', async () => {
    const kube = new FakeKube();
    albIngress(kube);
    const router = alb(kube);
    await router.apply(CONTEXT, target(10, { headerRoutes: [GAMMA] }));
    const edited = ingress(kube);
    edited.metadata!.annotations!['alb.ingress.kubernetes.io/actions.gamma'] = '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-stable","ServicePort":"8080","Weight":100}]}}';
    kube.put('ingresses', edited);
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual([]);
    await router.apply(CONTEXT, target(10, { headerRoutes: [GAMMA] }));
    kube.put('ingresses', { ...ingress(kube), metadata: { ...ingress(kube).metadata, annotations: { ...ingress(kube).metadata?.annotations, 'alb.ingress.kubernetes.io/conditions.gamma': 'not json' } } });
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual([]);
  });
});

describe('ApisixRouter: header routes', () => {
  interface Backend {
    serviceName: string;
    servicePort: number;
    weight?: number;
  }
  interface Rule {
    name: string;
    priority?: number;
    match: { hosts?: string[]; paths: string[]; methods?: string[]; exprs?: unknown[] };
    backends: Backend[];
  }
  interface ApisixRoute {
    metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: Array<Record<string, unknown>> };
    spec: { ingressClassName?: string; http: Rule[]; stream?: unknown[] };
  }
  const apisix = (kube: FakeKube, rules?: string[]) =>
    new ApisixRouter(kube.custom as unknown as CustomApi, { route: { name: 'rollouts-apisix-route', ...(rules !== undefined && { rules }) } }, MANAGED);
  const object = (kube: FakeKube, name: string) => kube.get<ApisixRoute>('apisixroutes', 'shop', name);
  const rule = (name: string, path = '/*'): Rule => ({
    name,
    match: { hosts: ['rollouts-demo.apisix.local'], paths: [path], methods: ['GET', 'POST'] },
    backends: [
      { serviceName: 'api-stable', servicePort: 80, weight: 100 },
      { serviceName: 'api-canary', servicePort: 80, weight: 0 },
    ],
  });
  /** Argo's e2e ApisixRoute, with a rule the Rollout does not weight and a stream route. */
  const baseRoute = (kube: FakeKube): void =>
    kube.put('apisixroutes', {
      apiVersion: 'apisix.apache.org/v2',
      kind: 'ApisixRoute',
      metadata: { name: 'rollouts-apisix-route', namespace: 'shop', labels: { team: 'shop' } },
      spec: { ingressClassName: 'apisix', http: [rule('rollouts-apisix'), { ...rule('admin', '/admin/*'), priority: 3 }], stream: [{ name: 'tcp', protocol: 'TCP' }] },
    });

  it('creates an ApisixRoute per header route, owned by the Rollout, in Argo`s shape, and deletes it when the route goes', async () => {
    const kube = new FakeKube();
    baseRoute(kube);
    const router = apisix(kube, ['rollouts-apisix']);
    expect(await router.apply(CONTEXT, target(5, { headerRoutes: [BETA] }))).toBe(true);
    const beta = object(kube, 'beta');
    expect(beta?.metadata.ownerReferences).toEqual([{ apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    expect(beta?.metadata.labels).toEqual({ team: 'shop' });
    expect(beta?.spec).toEqual({
      ingressClassName: 'apisix',
      http: [
        {
          name: 'rollouts-apisix',
          priority: 1,
          match: {
            hosts: ['rollouts-demo.apisix.local'],
            paths: ['/*'],
            methods: ['GET', 'POST'],
            exprs: [
              { subject: { scope: 'Header', name: 'x-beta' }, op: 'Equal', value: 'yes' },
              { subject: { scope: 'Header', name: 'user-agent' }, op: 'RegexMatch', value: 'firefox(.*)' },
              { subject: { scope: 'Header', name: 'x-user' }, op: 'RegexMatch', value: '^qa\\..*' },
            ],
          },
          backends: [{ serviceName: 'api-canary', servicePort: 80, weight: 100 }],
        },
      ],
    });
    // The route the Rollout weights keeps its rules; only the weights moved.
    expect(object(kube, 'rollouts-apisix-route')?.spec.http.map((entry) => entry.backends.map((backend) => backend.weight))).toEqual([[95, 5], [100, 0]]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 5, headerRoutes: ['beta'], mirrorRoutes: [] });

    const writes = kube.writes.length;
    expect(await router.apply(CONTEXT, target(5, { headerRoutes: [BETA] }))).toBe(false);
    expect(kube.writes.length).toBe(writes);

    // A new match for the same route rewrites it in place.
    await router.apply(CONTEXT, target(5, { headerRoutes: [GAMMA] }));
    expect(object(kube, 'beta')).toBeUndefined();
    await router.apply(CONTEXT, target(5, { headerRoutes: [{ ...GAMMA, match: [{ headerName: 'x-gamma', headerValue: { exact: '2' } }] }] }));
    expect(object(kube, 'gamma')?.spec.http[0]?.match.exprs).toEqual([{ subject: { scope: 'Header', name: 'x-gamma' }, op: 'Equal', value: '2' }]);
    expect(object(kube, 'gamma')?.metadata.annotations?.[ANNOTATION_ROUTE_HASH]).toMatch(/^[0-9a-f]{12}$/);
    expect(kube.writes.filter((write) => write.name === 'gamma').map((write) => write.verb)).toEqual(['create', 'patch']);

    await router.apply(CONTEXT, target(0));
    expect(object(kube, 'gamma')).toBeUndefined();
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] });
  });

  it('refuses an ApisixRoute of the route`s name it does not control, and never deletes one', async () => {
    const kube = new FakeKube();
    baseRoute(kube);
    kube.put('apisixroutes', { metadata: { name: 'gamma', namespace: 'shop' }, spec: { http: [rule('theirs')] } });
    const router = apisix(kube, ['rollouts-apisix']);
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual([]);
    await expect(router.apply(CONTEXT, target(5, { headerRoutes: [GAMMA] }))).rejects.toThrow(/ApisixRoute shop\/gamma \(header route gamma\) exists and is not controlled by this Rollout/);
    await router.apply(CONTEXT, target(0));
    expect(object(kube, 'gamma')?.spec.http[0]?.name).toBe('theirs');
    expect(kube.writes.filter((write) => write.name === 'gamma')).toEqual([]);
  });

  it('routersFor hands each router the managedRoutes names', async () => {
    const kube = new FakeKube();
    baseRoute(kube);
    const apis = { custom: kube.custom as unknown as CustomApi, networking: kube.networking as unknown as NetworkingApi };
    const [router] = routersFor({ apisix: { route: { name: 'rollouts-apisix-route', rules: ['rollouts-apisix'] } }, managedRoutes: [{ name: 'set-header' }] }, apis);
    if (router === undefined) throw new Error('no router');
    await router.apply(CONTEXT, target(0, { headerRoutes: [{ name: 'set-header', match: [{ headerName: 'trace', headerValue: { exact: 'debug' } }] }] }));
    expect((await router.observe(CONTEXT)).headerRoutes).toEqual(['set-header']);
    await router.apply(CONTEXT, target(0));
    expect(object(kube, 'set-header')).toBeUndefined();
  });
});
