import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, holdsFor, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/**
 * The Traefik, Istio, NGINX, ALB and Ambassador routers against the real apiserver with the real CRDs (installed by
 * the harness: Emissary's Mapping among them) and the real Ingress API: the apiserver accepts every object Fledge
 * writes, and the weights are right at every step of a promotion, an abort, a retry and after a hand edit; and the
 * Istio and ALB header and mirror routes, from set to removed. Gateway API with real traffic is in traffic-gateway.test.ts.
 */

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';
const REPLICAS = 4;
const STEPS = [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }];

type Router = 'traefik' | 'istio-host' | 'istio-subset' | 'nginx' | 'alb' | 'ambassador';
const ROUTERS: Router[] = ['traefik', 'istio-host', 'istio-subset', 'nginx', 'alb', 'ambassador'];
/** The API version the tests read each router group at. */
const VERSIONS: Record<string, string> = { 'traefik.io': 'v1alpha1', 'networking.istio.io': 'v1', 'getambassador.io': 'v2' };

interface Weights {
  stable: number | undefined;
  canary: number | undefined;
}

function service(name: string, app: string): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } };
}

/** The router's own object(s), as a team would have them in Git before adopting Fledge. */
function routerObjects(router: Router, name: string, namespace: string): object[] {
  const stable = `${name}-stable`;
  const canary = `${name}-canary`;
  switch (router) {
    case 'traefik':
      return [
        {
          apiVersion: 'traefik.io/v1alpha1',
          kind: 'TraefikService',
          metadata: { name },
          spec: { weighted: { services: [{ name: stable, port: 80, weight: 100 }, { name: canary, port: 80, weight: 0 }] } },
        },
      ];
    case 'istio-host':
      return [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name },
          spec: {
            hosts: [`${name}.example.com`],
            http: [
              { name: 'primary', route: [{ destination: { host: stable }, weight: 100 }, { destination: { host: `${canary}.${namespace}.svc.cluster.local` }, weight: 0 }] },
              { name: 'untouched', match: [{ uri: { prefix: '/static' } }], route: [{ destination: { host: 'cdn' }, weight: 100 }] },
            ],
          },
        },
      ];
    case 'istio-subset':
      return [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name },
          spec: { hosts: [name], http: [{ name: 'primary', route: [{ destination: { host: name, subset: 'stable' }, weight: 100 }, { destination: { host: name, subset: 'canary' }, weight: 0 }] }] },
        },
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name },
          spec: { host: name, subsets: [{ name: 'stable', labels: { app: name } }, { name: 'canary', labels: { app: name } }] },
        },
      ];
    case 'nginx':
      return [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name, annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '8m' } },
          spec: {
            ingressClassName: 'nginx',
            rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: stable, port: { number: 80 } } } }] } }],
          },
        },
      ];
    case 'alb':
      // As in Argo's header-routing e2e manifests: the rule's backend is the root action, by annotation.
      return [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name, annotations: { 'kubernetes.io/ingress.class': 'alb' } },
          spec: {
            rules: [
              {
                host: `${name}.example.com`,
                http: {
                  paths: [
                    { path: '/static', pathType: 'Prefix', backend: { service: { name: 'cdn', port: { number: 80 } } } },
                    { path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name: `${name}-root`, port: { name: 'use-annotation' } } } },
                  ],
                },
              },
            ],
          },
        },
      ];
    case 'ambassador':
      // As Argo's examples/ambassador/echo-mapping.yaml.
      return [{ apiVersion: 'getambassador.io/v2', kind: 'Mapping', metadata: { name }, spec: { resolver: 'endpoint', prefix: `/${name}/`, rewrite: '/', service: `${stable}:80` } }];
  }
}

function trafficRouting(router: Router, name: string): object {
  switch (router) {
    case 'traefik':
      return { traefik: { weightedTraefikServiceName: name } };
    case 'istio-host':
      return { istio: { virtualService: { name, routes: ['primary'] } } };
    case 'istio-subset':
      return { istio: { virtualService: { name }, destinationRule: { name, canarySubsetName: 'canary', stableSubsetName: 'stable' } } };
    case 'nginx':
      return { nginx: { stableIngress: name, additionalIngressAnnotations: { 'canary-by-header': 'X-Canary' } } };
    case 'alb':
      return { alb: { ingress: name, rootService: `${name}-root`, servicePort: 80 } };
    case 'ambassador':
      return { ambassador: { mappings: [name] } };
  }
}

function rollout(router: Router, name: string, image: string, steps: object[] = STEPS, managedRoutes?: string[]): object {
  const services = router === 'istio-subset' ? {} : { stableService: `${name}-stable`, canaryService: `${name}-canary` };
  const routing = { ...trafficRouting(router, name), ...(managedRoutes !== undefined && { managedRoutes: managedRoutes.map((route) => ({ name: route })) }) };
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: {
        canary: { ...services, steps, trafficRouting: routing, abortScaleDownDelaySeconds: 3, scaleDownDelaySeconds: 3 },
      },
    },
  };
}

describe('Traefik, Istio, NGINX, ALB and Ambassador routers on the real apiserver', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let networking: k8s.NetworkingV1Api;
  let apps: k8s.AppsV1Api;
  let statuses: ReturnType<typeof rolloutStatuses>;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('routers');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    networking = kc.makeApiClient(k8s.NetworkingV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    statuses = rolloutStatuses(custom, ns.name);
    controller = await startController(ns.name);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    await ns?.remove();
  });

  const apply = async (objects: object[]): Promise<void> => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const patchStatus = async (name: string, patch: object): Promise<void> => {
    const patched = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: patch })]);
    expect(patched.code, patched.stderr).toBe(0);
  };
  const get = async (group: string, plural: string, name: string): Promise<{ spec: Record<string, unknown>; metadata: k8s.V1ObjectMeta }> =>
    (await custom.getNamespacedCustomObject({ group, version: VERSIONS[group] ?? 'v1', namespace: ns.name, plural, name })) as {
      spec: Record<string, unknown>;
      metadata: k8s.V1ObjectMeta;
    };
  const ingress = (name: string): Promise<k8s.V1Ingress> => networking.readNamespacedIngress({ name, namespace: ns.name });
  const albAction = async (name: string, action: string): Promise<{ ForwardConfig: { TargetGroups: Array<{ ServiceName: string; Weight: number }> } } | undefined> => {
    const text = (await ingress(name)).metadata?.annotations?.[`alb.ingress.kubernetes.io/actions.${action}`];
    return text === undefined ? undefined : JSON.parse(text);
  };
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

  /** The weights each router's object says, read as a person would with kubectl. */
  const weightsOf = async (router: Router, name: string): Promise<Weights> => {
    switch (router) {
      case 'traefik': {
        const services = ((await get('traefik.io', 'traefikservices', name)).spec.weighted as { services: Array<{ name: string; weight?: number }> }).services;
        return { stable: services.find((s) => s.name === `${name}-stable`)?.weight, canary: services.find((s) => s.name === `${name}-canary`)?.weight };
      }
      case 'istio-host':
      case 'istio-subset': {
        const http = (await get('networking.istio.io', 'virtualservices', name)).spec.http as Array<{ name: string; route: Array<{ destination: { host: string; subset?: string }; weight?: number }> }>;
        const route = http.find((r) => r.name === 'primary')?.route ?? [];
        const side = (s: 'stable' | 'canary') =>
          route.find((d) => (router === 'istio-subset' ? d.destination.subset === s : d.destination.host.startsWith(`${name}-${s}`)))?.weight;
        if (router === 'istio-host') expect(http.find((r) => r.name === 'untouched')?.route[0]?.weight, 'a route the Rollout does not name is left alone').toBe(100);
        return { stable: side('stable'), canary: side('canary') };
      }
      case 'nginx': {
        const canary = await networking.readNamespacedIngress({ name: `${name}-${name}-canary`, namespace: ns.name }).catch(() => undefined);
        if (canary === undefined) return { stable: 100, canary: undefined };
        const annotations = canary.metadata?.annotations ?? {};
        expect(annotations['nginx.ingress.kubernetes.io/canary']).toBe('true');
        expect(annotations['nginx.ingress.kubernetes.io/canary-by-header']).toBe('X-Canary');
        expect(canary.spec?.rules?.[0]?.http?.paths[0]?.backend.service?.name).toBe(`${name}-canary`);
        expect(canary.spec?.ingressClassName).toBe('nginx');
        const weight = Number(annotations['nginx.ingress.kubernetes.io/canary-weight']);
        return { stable: 100 - weight, canary: weight };
      }
      case 'alb': {
        const groups = (await albAction(name, `${name}-root`))?.ForwardConfig.TargetGroups ?? [];
        return { stable: groups.find((g) => g.ServiceName === `${name}-stable`)?.Weight, canary: groups.find((g) => g.ServiceName === `${name}-canary`)?.Weight };
      }
      case 'ambassador': {
        // No canary Mapping: the base Mapping takes everything.
        const canary = await get('getambassador.io', 'mappings', `${name}-canary`).catch(() => undefined);
        if (canary === undefined) return { stable: 100, canary: 0 };
        expect(canary.spec).toMatchObject({ prefix: `/${name}/`, rewrite: '/', resolver: 'endpoint', service: `${name}-canary:80` });
        expect(canary.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name, controller: true });
        const weight = canary.spec.weight as number;
        return { stable: 100 - weight, canary: weight };
      }
    }
  };
  const waitWeights = (router: Router, name: string, canary: number, timeoutMs = 60_000): Promise<Weights> =>
    eventually(`${name}: ${canary}% on the canary`, async () => {
      const weights = await weightsOf(router, name);
      return weights.canary === canary && weights.stable === 100 - canary ? weights : undefined;
    }, { timeoutMs, intervalMs: 200 });
  const replicasOf = async (name: string, revision: string | undefined): Promise<number | undefined> => {
    const list = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${name}` });
    return list.items.find((rs) => rs.metadata?.labels?.['fledge.dev/pod-template-hash'] === revision)?.spec?.replicas;
  };
  const subsetRevision = async (name: string, subset: string): Promise<string | undefined> => {
    const subsets = (await get('networking.istio.io', 'destinationrules', name)).spec.subsets as Array<{ name: string; labels?: Record<string, string> }>;
    return subsets.find((s) => s.name === subset)?.labels?.['fledge.dev/pod-template-hash'];
  };
  /** A person edits the weights by hand, as if to send half the traffic to the canary. */
  const handEdit = async (router: Router, name: string): Promise<void> => {
    if (router === 'traefik') {
      const ts = await get('traefik.io', 'traefikservices', name);
      const services = ((ts.spec.weighted as { services: Array<{ weight?: number }> }).services ?? []).map((s) => ({ ...s, weight: 50 }));
      await custom.patchNamespacedCustomObject({ group: 'traefik.io', version: 'v1alpha1', namespace: ns.name, plural: 'traefikservices', name, body: { spec: { weighted: { services } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    } else if (router === 'nginx') {
      await networking.patchNamespacedIngress({ name: `${name}-${name}-canary`, namespace: ns.name, body: { metadata: { annotations: { 'nginx.ingress.kubernetes.io/canary-weight': '50' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    } else if (router === 'alb') {
      const action = await albAction(name, `${name}-root`);
      const halved = { ...action, ForwardConfig: { ...action?.ForwardConfig, TargetGroups: action?.ForwardConfig.TargetGroups.map((g) => ({ ...g, Weight: 50 })) } };
      await networking.patchNamespacedIngress({ name, namespace: ns.name, body: { metadata: { annotations: { [`alb.ingress.kubernetes.io/actions.${name}-root`]: JSON.stringify(halved) } } } }, mergePatch);
    } else if (router === 'ambassador') {
      await custom.patchNamespacedCustomObject({ group: 'getambassador.io', version: 'v2', namespace: ns.name, plural: 'mappings', name: `${name}-canary`, body: { spec: { weight: 50 } } }, mergePatch);
    } else {
      const vs = await get('networking.istio.io', 'virtualservices', name);
      const http = (vs.spec.http as Array<{ name: string; route: Array<{ weight?: number }> }>).map((r) => (r.name === 'primary' ? { ...r, route: r.route.map((d) => ({ ...d, weight: 50 })) } : r));
      await custom.patchNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns.name, plural: 'virtualservices', name, body: { spec: { http } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    }
  };

  const journey = async (router: Router): Promise<void> => {
    const name = `r-${router}`;
    await apply([service(`${name}-stable`, name), service(`${name}-canary`, name), service(name, name), ...routerObjects(router, name, ns.name), rollout(router, name, V1)]);
    const first = await statuses.waitFor(name, 'Healthy', (s) => s.phase === 'Healthy');
    await waitWeights(router, name, 0);
    if (router === 'istio-subset') expect(await subsetRevision(name, 'stable')).toBe(first.stableRevision);

    await apply([rollout(router, name, V2)]);
    const paused = await statuses.waitFor(name, 'paused at 20%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    expect(paused).toMatchObject({ actualWeight: 20, canaryWeight: 20 });
    await waitWeights(router, name, 20);
    // The router splits traffic: the stable side keeps every pod, the canary gets ceil(20% of 4).
    expect(await replicasOf(name, paused.stableRevision)).toBe(REPLICAS);
    expect(await replicasOf(name, paused.currentRevision)).toBe(1);
    if (router === 'istio-subset') {
      expect(await subsetRevision(name, 'canary')).toBe(paused.currentRevision);
      expect(await subsetRevision(name, 'stable')).toBe(paused.stableRevision);
    }

    // Nothing else happens to this Rollout now: only the periodic re-read of the route can undo the edit.
    await handEdit(router, name);
    await waitWeights(router, name, 20, 45_000);

    await patchStatus(name, { promote: 'step' });
    await statuses.waitFor(name, 'paused at 60%', (s) => s.phase === 'Paused' && s.currentStepIndex === 3);
    await waitWeights(router, name, 60);
    expect(await replicasOf(name, paused.currentRevision)).toBe(3);

    const abortAt = Date.now();
    await patchStatus(name, { abort: true });
    await waitWeights(router, name, 0, 10_000);
    const trafficOffMs = Date.now() - abortAt;
    // The canary's pods outlive the traffic by abortScaleDownDelaySeconds (3 s).
    expect(await replicasOf(name, paused.currentRevision)).toBe(3);
    await eventually(`${name}: aborted canary scaled down`, async () => ((await replicasOf(name, paused.currentRevision)) === 0 ? true : undefined), { timeoutMs: 30_000 });
    const aborted: RolloutStatus = await statuses.status(name);
    expect(aborted).toMatchObject({ phase: 'Degraded', actualWeight: 0 });
    if (router === 'istio-subset') expect(await subsetRevision(name, 'canary')).toBe(paused.stableRevision);

    await patchStatus(name, { abort: false });
    await statuses.waitFor(name, 'retried to 20%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1 && s.abort === undefined);
    await waitWeights(router, name, 20);

    await patchStatus(name, { promote: 'full' });
    const promoted = await statuses.waitFor(name, 'promoted and Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === paused.currentRevision, 90_000);
    await waitWeights(router, name, 0);
    if (router === 'istio-subset') expect(await subsetRevision(name, 'stable')).toBe(promoted.stableRevision);
    await eventually(`${name}: old revision scaled down after scaleDownDelaySeconds`, async () => ((await replicasOf(name, paused.stableRevision)) === 0 ? true : undefined), { timeoutMs: 30_000 });
    process.stderr.write(`traffic routers e2e: ${router}: 100% stable ${trafficOffMs} ms after the abort request\n`);
  };

  it('promote, abort, retry and a hand edit: every router object says the right weight at every step', { timeout: 300_000 }, async () => {
    // One Rollout per router, side by side: each waits mostly on the others' clocks.
    const results = await Promise.allSettled(ROUTERS.map((router) => journey(router)));
    const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [`${ROUTERS[index]}: ${String(result.reason)}`] : []));
    expect(failures).toEqual([]);
  });

  /** The header and mirror routes of Argo's header-routing and mirror-route e2e manifests. */
  const BETA = { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: 'yes' } }] };
  const SHADOW = { name: 'shadow', percentage: 50, match: [{ method: { exact: 'POST' }, path: { prefix: '/color' } }] };
  type Managed = 'istio-host' | 'istio-subset' | 'alb';
  const managedSteps = (router: Managed): object[] => [
    { setWeight: 20 },
    { setHeaderRoute: BETA },
    ...(router === 'alb' ? [] : [{ setMirrorRoute: SHADOW }]),
    { pause: {} },
    { setHeaderRoute: { name: 'beta' } },
    { pause: {} },
  ];

  /** The managed routes a router's objects hold, in the order the data plane tries them, after checking their shape. */
  const managedOf = async (router: Managed, name: string): Promise<string[]> => {
    if (router === 'alb') {
      const found = await ingress(name);
      const annotations = found.metadata?.annotations ?? {};
      const paths = found.spec?.rules?.[0]?.http?.paths.map((path) => path.backend.service?.name) ?? [];
      const routed = paths.filter((service) => service === 'beta');
      if (routed.length > 0) {
        expect(paths).toEqual(['beta', 'cdn', `${name}-root`]);
        expect(JSON.parse(annotations['alb.ingress.kubernetes.io/actions.beta'] ?? '{}')).toEqual({ Type: 'forward', ForwardConfig: { TargetGroups: [{ ServiceName: `${name}-canary`, ServicePort: '80', Weight: 100 }] } });
        expect(JSON.parse(annotations['alb.ingress.kubernetes.io/conditions.beta'] ?? '[]')).toEqual([{ field: 'http-header', httpHeaderConfig: { httpHeaderName: 'x-beta', values: ['yes'] } }]);
      } else {
        expect(Object.keys(annotations).filter((key) => key.endsWith('.beta'))).toEqual([]);
      }
      return routed;
    }
    const http = (await get('networking.istio.io', 'virtualservices', name)).spec.http as Array<{ name: string; route: Array<{ destination: { host: string; subset?: string } }>; mirror?: object }>;
    const canary = router === 'istio-subset' ? { host: name, subset: 'canary' } : { host: `${name}-canary.${ns.name}.svc.cluster.local` };
    for (const route of http) {
      if (route.name === 'beta') expect(route.route).toEqual([{ destination: canary, weight: 100 }]);
      if (route.name === 'shadow') expect(route).toMatchObject({ mirror: canary, mirrorPercentage: { value: 50 }, match: [{ method: { exact: 'POST' }, uri: { prefix: '/color' } }] });
    }
    return http.map((route) => route.name).filter((route) => route === 'beta' || route === 'shadow');
  };
  const waitManaged = (router: Managed, name: string, routes: string[]): Promise<string[]> =>
    eventually(`${name}: managed routes ${routes.join(', ') || 'none'}`, async () => {
      const found = await managedOf(router, name);
      return JSON.stringify(found) === JSON.stringify(routes) ? found : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
  const resourceVersionOf = async (router: Managed, name: string): Promise<string | undefined> =>
    router === 'alb' ? (await ingress(name)).metadata?.resourceVersion : (await get('networking.istio.io', 'virtualservices', name)).metadata.resourceVersion;

  const managedJourney = async (router: Managed): Promise<void> => {
    const name = `m-${router}`;
    const routes = router === 'alb' ? ['beta'] : ['beta', 'shadow'];
    const firstPause = router === 'alb' ? 2 : 3;
    const steps = managedSteps(router);
    await apply([service(`${name}-stable`, name), service(`${name}-canary`, name), service(name, name), ...routerObjects(router, name, ns.name), rollout(router, name, V1, steps, routes)]);
    await statuses.waitFor(name, 'Healthy', (s) => s.phase === 'Healthy');
    await waitManaged(router, name, []);

    await apply([rollout(router, name, V2, steps, routes)]);
    await statuses.waitFor(name, 'paused with the routes set', (s) => s.phase === 'Paused' && s.currentStepIndex === firstPause);
    await waitManaged(router, name, routes);
    await waitWeights(router, name, 20);
    // In effect, the router writes nothing more: what it reads back is what it would write, whatever key order the
    // apiserver gives it. A change to the Rollout makes it reconcile.
    const written = await resourceVersionOf(router, name);
    const poked = await kubectl(['annotate', 'rollout', name, '-n', ns.name, '--overwrite', `fledge.test/poke=${Date.now()}`]);
    expect(poked.code, poked.stderr).toBe(0);
    await holdsFor(3_000, async () => expect(await resourceVersionOf(router, name)).toBe(written), { every: 500, what: `${name}: no write while the routes are in effect` });

    await patchStatus(name, { abort: true });
    await waitManaged(router, name, []);
    await waitWeights(router, name, 0);
    await statuses.waitFor(name, 'aborted', (s) => s.phase === 'Degraded');

    await patchStatus(name, { abort: false });
    await statuses.waitFor(name, 'retried to the first pause', (s) => s.phase === 'Paused' && s.currentStepIndex === firstPause && s.abort === undefined);
    await waitManaged(router, name, routes);

    await patchStatus(name, { promote: 'step' });
    await statuses.waitFor(name, 'paused with the header route removed', (s) => s.phase === 'Paused' && s.currentStepIndex === firstPause + 2);
    await waitManaged(router, name, routes.filter((route) => route !== 'beta'));

    await patchStatus(name, { promote: 'full' });
    await statuses.waitFor(name, 'promoted and Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision, 90_000);
    await waitManaged(router, name, []);
    await waitWeights(router, name, 0);
  };

  it('Istio (host and subset) and ALB header and mirror routes: set, in effect, gone at abort, back on retry, removed step by step and at promotion', { timeout: 300_000 }, async () => {
    const managed: Managed[] = ['istio-host', 'istio-subset', 'alb'];
    const results = await Promise.allSettled(managed.map((router) => managedJourney(router)));
    const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [`${managed[index]}: ${String(result.reason)}`] : []));
    expect(failures).toEqual([]);
  });

  it('a missing router object is a TrafficRoutingError condition and one Warning Event, and the canary does not move', { timeout: 120_000 }, async () => {
    const name = 'r-missing';
    await apply([service(`${name}-stable`, name), service(`${name}-canary`, name), rollout('traefik', name, V1)]);
    const waiting = await statuses.waitFor(name, 'TrafficRoutingError', (s) => s.conditions?.some((c) => c.type === 'TrafficRouting' && c.reason === 'TrafficRoutingError') === true);
    expect(waiting.conditions?.find((c) => c.type === 'TrafficRouting')?.message).toContain(`TraefikService ${ns.name}/${name} not found`);
    // Events are recorded after the status write that the condition came with.
    const items = await eventually('the TrafficRoutingError Event', async () => {
      const events = await kubectl(['get', 'events', '-n', ns.name, '--field-selector', `involvedObject.name=${name},reason=TrafficRoutingError`, '-o', 'json']);
      const found = (JSON.parse(events.stdout) as { items: Array<{ count?: number }> }).items;
      return found.length > 0 ? found : undefined;
    });
    // A few more reconciles (the problem is retried every 5 s) must not add Events.
    await holdsFor(
      6_000,
      async () => {
        const later = await kubectl(['get', 'events', '-n', ns.name, '--field-selector', `involvedObject.name=${name},reason=TrafficRoutingError`, '-o', 'json']);
        expect((JSON.parse(later.stdout) as { items: Array<{ count?: number }> }).items).toEqual(items);
      },
      { every: 1_000, what: 'the one TrafficRoutingError Event, unchanged' },
    );
    expect(items).toHaveLength(1);
    expect(items[0]?.count ?? 1).toBe(1);
    expect(waiting.phase).toBe('Progressing');
    // Once the object appears, the Rollout goes on by itself.
    await apply(routerObjects('traefik', name, ns.name));
    await statuses.waitFor(name, 'Healthy once the TraefikService exists', (s) => s.phase === 'Healthy' && s.conditions?.some((c) => c.type === 'TrafficRouting' && c.status === 'True') === true, 30_000);
  });

  it('two routers at once (NGINX and Istio): a problem in one names it, and each carries every step', { timeout: 180_000 }, async () => {
    const name = 'r-two';
    const twoRouters = (image: string): object => {
      const base = rollout('nginx', name, image) as { spec: { strategy: { canary: Record<string, unknown> } } };
      base.spec.strategy.canary.trafficRouting = { ...trafficRouting('nginx', name), ...trafficRouting('istio-host', name) };
      return base;
    };
    await apply([service(`${name}-stable`, name), service(`${name}-canary`, name), ...routerObjects('nginx', name, ns.name), twoRouters(V1)]);
    const waiting = await statuses.waitFor(name, 'TrafficRoutingError', (s) => s.conditions?.some((c) => c.type === 'TrafficRouting' && c.reason === 'TrafficRoutingError') === true);
    expect(waiting.conditions?.find((c) => c.type === 'TrafficRouting')?.message).toMatch(new RegExp(`^istio: VirtualService ${ns.name}/${name} not found`));
    await apply(routerObjects('istio-host', name, ns.name));
    await statuses.waitFor(name, 'Healthy once the VirtualService exists', (s) => s.phase === 'Healthy');

    await apply([twoRouters(V2)]);
    const paused = await statuses.waitFor(name, 'paused at 20%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    expect(paused.actualWeight).toBe(20);
    await Promise.all([waitWeights('nginx', name, 20), waitWeights('istio-host', name, 20)]);
    await patchStatus(name, { promote: 'full' });
    await statuses.waitFor(name, 'promoted and Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === paused.currentRevision, 90_000);
    await Promise.all([waitWeights('nginx', name, 0), waitWeights('istio-host', name, 0)]);
  });

  it('pingPong behind ALB and Istio: the canary takes the other Service, and promotion swaps the roles, not the selectors', { timeout: 180_000 }, async () => {
    const name = 'r-pingpong';
    const [ping, pong] = [`${name}-ping`, `${name}-pong`];
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, annotations: { 'kubernetes.io/ingress.class': 'alb' } },
      spec: { rules: [{ http: { paths: [{ path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name: `${name}-root`, port: { name: 'use-annotation' } } } }] } }] },
    };
    const virtualService = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name },
      spec: { hosts: [name], http: [{ name: 'primary', route: [{ destination: { host: ping }, weight: 100 }, { destination: { host: pong }, weight: 0 }] }] },
    };
    const pingPongRollout = (image: string): object => ({
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: {
          canary: {
            scaleDownDelaySeconds: 3,
            pingPong: { pingService: ping, pongService: pong },
            trafficRouting: { alb: { ingress: name, rootService: `${name}-root`, servicePort: 80 }, istio: { virtualService: { name, routes: ['primary'] } } },
            steps: [{ setWeight: 25 }, { pause: {} }],
          },
        },
      },
    });
    const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    const selects = async (service: string): Promise<string | undefined> => (await core.readNamespacedService({ name: service, namespace: ns.name })).spec?.selector?.['fledge.dev/pod-template-hash'];
    /** The weights on ping and pong in the ALB action and in the VirtualService: they must agree. */
    const weights = async (): Promise<{ ping: number | undefined; pong: number | undefined }> => {
      const annotation = (await networking.readNamespacedIngress({ name, namespace: ns.name })).metadata?.annotations?.[`alb.ingress.kubernetes.io/actions.${name}-root`];
      const groups = annotation === undefined ? [] : (JSON.parse(annotation) as { ForwardConfig: { TargetGroups: Array<{ ServiceName: string; Weight: number }> } }).ForwardConfig.TargetGroups;
      const route = ((await get('networking.istio.io', 'virtualservices', name)).spec.http as Array<{ route: Array<{ destination: { host: string }; weight?: number }> }>)[0]?.route ?? [];
      const alb = (service: string) => groups.find((group) => group.ServiceName === service)?.Weight;
      const istio = (service: string) => route.find((destination) => destination.destination.host === service)?.weight;
      return alb(ping) === istio(ping) && alb(pong) === istio(pong) ? { ping: alb(ping), pong: alb(pong) } : { ping: undefined, pong: undefined };
    };
    const waitPingPong = (wanted: { ping: number; pong: number }) =>
      eventually(`${name}: ping ${wanted.ping}%, pong ${wanted.pong}%`, async () => {
        const now = await weights();
        return now.ping === wanted.ping && now.pong === wanted.pong ? now : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200 });

    await apply([service(ping, name), service(pong, name), ingress, virtualService, pingPongRollout(V1)]);
    const first = await statuses.waitFor(name, 'Healthy', (s) => s.phase === 'Healthy' && s.canary?.stablePingPong === 'ping');
    await waitPingPong({ ping: 100, pong: 0 });
    expect(await selects(ping)).toBe(first.stableRevision);

    await apply([pingPongRollout(V2)]);
    const paused = await statuses.waitFor(name, 'paused at 25%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    await waitPingPong({ ping: 75, pong: 25 });
    expect(await selects(pong)).toBe(paused.currentRevision);
    const pingVersion = (await core.readNamespacedService({ name: ping, namespace: ns.name })).metadata?.resourceVersion;

    await patchStatus(name, { promote: 'full' });
    const promoted = await statuses.waitFor(
      name,
      'promoted, pong stable',
      (s) => s.phase === 'Healthy' && s.stableRevision === paused.currentRevision && s.canary?.stablePingPong === 'pong',
      90_000,
    );
    expect(promoted.actualWeight).toBe(0);
    await waitPingPong({ ping: 0, pong: 100 });
    // Roles swapped, selectors did not: pong still selects the promoted revision, ping was never written to.
    expect(await selects(pong)).toBe(paused.currentRevision);
    expect(await selects(ping)).toBe(first.stableRevision);
    expect((await core.readNamespacedService({ name: ping, namespace: ns.name })).metadata?.resourceVersion).toBe(pingVersion);
    await eventually(`${name}: old revision scaled down`, async () => ((await replicasOf(name, first.stableRevision)) === 0 ? true : undefined), { timeoutMs: 30_000 });
  });
});
