import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { CanaryStrategy, Rollout, TrafficRouting } from '../../../src/api/rollout.js';
import { ANNOTATION_SCALE_DOWN_AT, LABEL_POD_TEMPLATE_HASH } from '../../../src/api/labels.js';
import { TRAFFIC_RESYNC_MS } from '../../../src/rollout/decide/plan.js';
import { canaryIngressName } from '../../../src/traffic/routers/nginx.js';
import type { FakeKube } from '../fake-kube.js';
import { KEY, reconcilerOn } from '../rollout/fake-reconciler.js';
import { makeRollout, revisionOf } from '../rollout/fake-cluster.js';

type Kind = Parameters<FakeKube['put']>[0];

/** How one router's objects look, and how a test reads and edits the canary's weight in them. */
interface Driver {
  name: string;
  routing: TrafficRouting;
  /** The kind Fledge writes, for refusing its patches. */
  kind: Kind;
  setup(kube: FakeKube): void;
  /** The canary's weight as the objects say it. */
  weight(kube: FakeKube): number | undefined;
  /** A person sets the canary's weight by hand. */
  edit(kube: FakeKube, weight: number): void;
  /** The object the routing depends on disappears. */
  remove(kube: FakeKube): void;
}

interface Named {
  metadata: { name: string };
  spec: Record<string, unknown>;
}
const edited = <T extends Named>(kube: FakeKube, kind: Kind, name: string, change: (object: T) => void): void => {
  const object = kube.get<T>(kind, 'shop', name) as T;
  change(object);
  kube.put(kind, object);
};

interface Weighted {
  name?: string;
  weight?: number;
  destination?: { host?: string; subset?: string };
}
const canaryEntry = (entries: Weighted[] | undefined): Weighted | undefined =>
  entries?.find((entry) => entry.name === 'api-canary' || entry.destination?.host === 'api-canary' || entry.destination?.subset === 'canary');
const stableEntry = (entries: Weighted[] | undefined): Weighted | undefined =>
  entries?.find((entry) => entry.name === 'api-stable' || entry.destination?.host === 'api-stable' || entry.destination?.subset === 'stable');
const setWeights = (entries: Weighted[] | undefined, weight: number): void => {
  const canary = canaryEntry(entries);
  const stable = stableEntry(entries);
  if (canary) canary.weight = weight;
  if (stable) stable.weight = 100 - weight;
};

type RouteSpec = { rules: Array<{ backendRefs: Weighted[] }> };
type TraefikSpec = { weighted: { services: Weighted[] } };
type VirtualServiceSpec = { http: Array<{ route: Weighted[] }> };

const gateway: Driver = {
  name: 'gatewayAPI',
  routing: { gatewayAPI: { httpRoute: 'api' } },
  kind: 'httproutes',
  setup: (kube) =>
    kube.put('httproutes', {
      metadata: { name: 'api', namespace: 'shop', generation: 1 },
      spec: { rules: [{ backendRefs: [{ name: 'api-stable', port: 80 }, { name: 'api-canary', port: 80, weight: 0 }] }] },
      status: { parents: [{ controllerName: 'test', conditions: [{ type: 'Accepted', status: 'True' }] }] },
    }),
  weight: (kube) => canaryEntry(kube.get<{ spec: RouteSpec }>('httproutes', 'shop', 'api')?.spec.rules[0]?.backendRefs)?.weight,
  edit: (kube, weight) => edited<Named & { spec: RouteSpec }>(kube, 'httproutes', 'api', (route) => setWeights(route.spec.rules[0]?.backendRefs, weight)),
  remove: (kube) => kube.remove('httproutes', 'shop', 'api'),
};

const traefik: Driver = {
  name: 'traefik',
  routing: { traefik: { weightedTraefikServiceName: 'api' } },
  kind: 'traefikservices',
  setup: (kube) =>
    kube.put('traefikservices', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { weighted: { services: [{ name: 'api-stable', port: 80, weight: 100 }, { name: 'api-canary', port: 80, weight: 0 }] } },
    }),
  weight: (kube) => canaryEntry(kube.get<{ spec: TraefikSpec }>('traefikservices', 'shop', 'api')?.spec.weighted.services)?.weight,
  edit: (kube, weight) => edited<Named & { spec: TraefikSpec }>(kube, 'traefikservices', 'api', (service) => setWeights(service.spec.weighted.services, weight)),
  remove: (kube) => kube.remove('traefikservices', 'shop', 'api'),
};

const virtualService = (destinations: Weighted[]) => ({ metadata: { name: 'api', namespace: 'shop' }, spec: { hosts: ['api'], http: [{ name: 'primary', route: destinations }] } });
const istioWeight = (kube: FakeKube) => canaryEntry(kube.get<{ spec: VirtualServiceSpec }>('virtualservices', 'shop', 'api')?.spec.http[0]?.route)?.weight;
const istioEdit = (kube: FakeKube, weight: number) =>
  edited<Named & { spec: VirtualServiceSpec }>(kube, 'virtualservices', 'api', (vs) => setWeights(vs.spec.http[0]?.route, weight));

const istioHosts: Driver = {
  name: 'istio (hosts)',
  routing: { istio: { virtualService: { name: 'api', routes: ['primary'] } } },
  kind: 'virtualservices',
  setup: (kube) =>
    kube.put(
      'virtualservices',
      virtualService([
        { destination: { host: 'api-stable.shop.svc.cluster.local' }, weight: 100 },
        { destination: { host: 'api-canary.shop.svc.cluster.local' }, weight: 0 },
      ]),
    ),
  weight: (kube) => kube.get<{ spec: VirtualServiceSpec }>('virtualservices', 'shop', 'api')?.spec.http[0]?.route.find((entry) => entry.destination?.host?.startsWith('api-canary'))?.weight,
  edit: (kube, weight) =>
    edited<Named & { spec: VirtualServiceSpec }>(kube, 'virtualservices', 'api', (vs) => {
      for (const entry of vs.spec.http[0]?.route ?? []) entry.weight = entry.destination?.host?.startsWith('api-canary') ? weight : 100 - weight;
    }),
  remove: (kube) => kube.remove('virtualservices', 'shop', 'api'),
};

type Subsets = { subsets: Array<{ name: string; labels?: Record<string, string> }> };
const subsetHash = (kube: FakeKube, subset: string): string | undefined =>
  kube.get<{ spec: Subsets }>('destinationrules', 'shop', 'api')?.spec.subsets.find((candidate) => candidate.name === subset)?.labels?.[LABEL_POD_TEMPLATE_HASH];

const istioSubsets: Driver = {
  name: 'istio (subsets)',
  routing: { istio: { virtualService: { name: 'api' }, destinationRule: { name: 'api', stableSubsetName: 'stable', canarySubsetName: 'canary' } } },
  kind: 'virtualservices',
  setup: (kube) => {
    kube.put('virtualservices', virtualService([{ destination: { host: 'api', subset: 'stable' }, weight: 100 }, { destination: { host: 'api', subset: 'canary' }, weight: 0 }]));
    kube.put('destinationrules', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { host: 'api', subsets: [{ name: 'stable', labels: { app: 'api' } }, { name: 'canary', labels: { app: 'api' } }] },
    });
  },
  weight: istioWeight,
  edit: istioEdit,
  remove: (kube) => kube.remove('destinationrules', 'shop', 'api'),
};

const CANARY_INGRESS = canaryIngressName('api', 'api');
const nginx: Driver = {
  name: 'nginx',
  routing: { nginx: { stableIngress: 'api' } },
  kind: 'ingresses',
  setup: (kube) =>
    kube.put('ingresses', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { ingressClassName: 'nginx', rules: [{ host: 'api.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api-stable', port: { number: 80 } } } }] } }] },
    }),
  weight: (kube) => {
    const weight = kube.get<k8s.V1Ingress>('ingresses', 'shop', CANARY_INGRESS)?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
    return weight === undefined ? undefined : Number(weight);
  },
  edit: (kube, weight) =>
    edited<Named & k8s.V1Ingress>(kube, 'ingresses', CANARY_INGRESS, (ingress) => {
      ingress.metadata = { ...ingress.metadata, annotations: { ...ingress.metadata?.annotations, 'nginx.ingress.kubernetes.io/canary-weight': String(weight) } } as Named['metadata'];
    }),
  remove: (kube) => kube.remove('ingresses', 'shop', 'api'),
};

const ALB_ACTION = 'alb.ingress.kubernetes.io/actions.api-stable';
type AlbAction = { ForwardConfig: { TargetGroups: Array<{ ServiceName: string; Weight: number }> } };
const albAction = (kube: FakeKube): AlbAction | undefined => {
  const text = kube.get<k8s.V1Ingress>('ingresses', 'shop', 'api')?.metadata?.annotations?.[ALB_ACTION];
  return text === undefined ? undefined : (JSON.parse(text) as AlbAction);
};
const alb: Driver = {
  name: 'alb',
  routing: { alb: { ingress: 'api', servicePort: 80 } },
  kind: 'ingresses',
  setup: (kube) =>
    kube.put('ingresses', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { ingressClassName: 'alb', rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api-stable', port: { name: 'use-annotation' } } } }] } }] },
    }),
  weight: (kube) => albAction(kube)?.ForwardConfig.TargetGroups.find((group) => group.ServiceName === 'api-canary')?.Weight,
  edit: (kube, weight) =>
    edited<Named & k8s.V1Ingress>(kube, 'ingresses', 'api', (ingress) => {
      const action = albAction(kube) as AlbAction;
      for (const group of action.ForwardConfig.TargetGroups) group.Weight = group.ServiceName === 'api-canary' ? weight : 100 - weight;
      ingress.metadata = { ...ingress.metadata, annotations: { ...ingress.metadata?.annotations, [ALB_ACTION]: JSON.stringify(action) } } as Named['metadata'];
    }),
  remove: (kube) => kube.remove('ingresses', 'shop', 'api'),
};

const STEPS: CanaryStrategy['steps'] = [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];

function world(driver: Driver, canary: Partial<CanaryStrategy> = {}) {
  const env = reconcilerOn(
    makeRollout({ replicas: 10, steps: STEPS, canary: { stableService: 'api-stable', canaryService: 'api-canary', trafficRouting: driver.routing, ...canary } }),
  );
  for (const name of ['api-stable', 'api-canary']) env.kube.put('services', { metadata: { name, namespace: 'shop' }, spec: { selector: { app: 'api' } } });
  driver.setup(env.kube);
  /** One reconcile on caught-up caches; the pods it asked for become available only when `settle` says so. */
  const reconcile = async ({ settle = true } = {}) => {
    env.kube.sync();
    const result = await env.reconciler.reconcile(KEY);
    if (settle) env.kube.settleReplicaSets();
    env.clock.now += 1_000;
    return result;
  };
  const weight = (): number | undefined => driver.weight(env.kube);
  const selects = (service: string): string | undefined => env.kube.get<k8s.V1Service>('services', 'shop', service)?.spec?.selector?.[LABEL_POD_TEMPLATE_HASH];
  const scaleDownAt = (image: string): string | undefined =>
    env.kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revisionOf(image)}`)?.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
  const patchStatus = (status: Rollout['status']): void => {
    const current = env.kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    env.kube.put('rollouts', { ...current, status: { ...current.status, ...status } });
  };
  const condition = () => {
    const found = env.status().conditions?.find((candidate) => candidate.type === 'TrafficRouting');
    return found && { status: found.status, reason: found.reason };
  };
  const warnings = () => env.kube.events.filter((event) => event.reason === 'TrafficRoutingError');
  return { ...env, driver, reconcile, weight, selects, scaleDownAt, patchStatus, condition, warnings };
}
type World = ReturnType<typeof world>;

/** Reconciles (pods settling) until the Rollout pauses at `stepIndex`. */
async function untilPausedAt(env: World, stepIndex: number): Promise<void> {
  for (let i = 0; i < 20 && !(env.status().phase === 'Paused' && env.status().currentStepIndex === stepIndex); i++) await env.reconcile();
  expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: stepIndex });
}

/** A Healthy api:1, then api:2 paused at 20% (step 1). */
async function canaryAtTwenty(driver: Driver, canary: Partial<CanaryStrategy> = {}): Promise<World> {
  const env = world(driver, canary);
  for (let i = 0; i < 4; i++) await env.reconcile();
  expect(env.status().phase).toBe('Healthy');
  expect(env.weight()).toBe(0);
  env.setImage('api:2');
  await env.reconcile({ settle: false });
  // The canary's pods are asked for, not available when the weights were written: no weight on them yet.
  expect(env.replicasOf('api:2')).toBe(2);
  expect(env.replicasOf('api:1')).toBe(10);
  expect(env.weight()).toBe(0);
  await untilPausedAt(env, 1);
  expect(env.weight()).toBe(20);
  expect(env.status()).toMatchObject({ actualWeight: 20 });
  expect(env.condition()).toEqual({ status: 'True', reason: 'TrafficInEffect' });
  expect(env.selects('api-canary')).toBe(revisionOf('api:2'));
  expect(env.selects('api-stable')).toBe(revisionOf('api:1'));
  return env;
}

describe.each([gateway, traefik, istioHosts, istioSubsets, nginx, alb])('RolloutReconciler with the $name router', (driver) => {
  it('steps the weight, then promotes: 100% once the new revision is whole, stable switched, back to 0, the old pods gone after scaleDownDelaySeconds', async () => {
    const env = await canaryAtTwenty(driver);
    if (driver === istioSubsets) {
      expect(subsetHash(env.kube, 'canary')).toBe(revisionOf('api:2'));
      expect(subsetHash(env.kube, 'stable')).toBe(revisionOf('api:1'));
    }
    env.patchStatus({ promote: 'step' });
    await untilPausedAt(env, 3);
    expect(env.weight()).toBe(50);

    env.patchStatus({ promote: 'full' });
    await env.reconcile({ settle: false });
    expect(env.replicasOf('api:2')).toBe(10);
    expect(env.weight(), 'the traffic holds while the promoted revision grows').toBe(50);
    expect(env.selects('api-stable'), 'the stable Service selects every pod meanwhile').toBeUndefined();
    env.kube.settleReplicaSets();
    await env.reconcile();
    expect(env.weight()).toBe(100);
    expect(env.selects('api-stable')).toBe(revisionOf('api:2'));
    expect(env.replicasOf('api:1')).toBe(10);
    await env.reconcile();
    expect(env.weight()).toBe(0);
    expect(env.replicasOf('api:1')).toBe(10);
    expect(env.scaleDownAt('api:1')).toBeUndefined();
    await env.reconcile();
    const at = env.scaleDownAt('api:1');
    expect(Date.parse(at ?? '')).toBe(env.clock.now - 1_000 + 30_000);
    expect(env.replicasOf('api:1')).toBe(10);
    // reconcile() moves the clock 1 s on: this one runs 1 s before the delay is up, the next one at it.
    env.clock.now += 28_000;
    await env.reconcile();
    expect(env.replicasOf('api:1'), 'still inside scaleDownDelaySeconds').toBe(10);
    await env.reconcile();
    await env.reconcile();
    expect(env.replicasOf('api:1')).toBe(0);
    expect(env.status()).toMatchObject({ phase: 'Healthy', actualWeight: 0, stableRevision: revisionOf('api:2') });
    if (driver === istioSubsets) {
      expect(subsetHash(env.kube, 'stable')).toBe(revisionOf('api:2'));
      expect(subsetHash(env.kube, 'canary')).toBe(revisionOf('api:2'));
    }
  });

  it('takes the weight off in the reconcile that aborts, before any ReplicaSet moves; keeps the canary until the router reports 0, then abortScaleDownDelaySeconds; retries', async () => {
    const env = await canaryAtTwenty(driver, { abortScaleDownDelaySeconds: 10 });
    env.patchStatus({ abort: true });
    const from = env.kube.writes.length;
    await env.reconcile();
    expect(env.weight()).toBe(0);
    expect(env.replicasOf('api:2')).toBe(2);
    const writes = env.kube.writesSince(from);
    const routed = writes.findIndex((write) => write.kind === driver.kind || write.kind === 'destinationrules' || write.kind === 'ingresses');
    expect(routed).toBeGreaterThanOrEqual(0);
    expect(writes.slice(0, routed).filter((write) => write.kind === 'replicasets')).toEqual([]);
    expect(env.selects('api-canary'), 'the canary Service leaves the aborted revision').toBe(revisionOf('api:1'));
    if (driver === istioSubsets) expect(subsetHash(env.kube, 'canary')).toBe(revisionOf('api:1'));

    // The next reconcile reads 0 back: the delay starts.
    await env.reconcile();
    expect(env.replicasOf('api:2')).toBe(2);
    expect(Date.parse(env.scaleDownAt('api:2') ?? '')).toBe(env.clock.now - 1_000 + 10_000);
    env.clock.now += 10_000;
    await env.reconcile();
    expect(env.replicasOf('api:2')).toBe(0);
    expect(env.status()).toMatchObject({ phase: 'Degraded', actualWeight: 0 });

    env.patchStatus({ abort: false });
    await env.reconcile({ settle: false });
    expect(env.replicasOf('api:2')).toBe(2);
    expect(env.weight(), 'no weight on the retried canary before its pods are back').toBe(0);
    env.kube.settleReplicaSets();
    await untilPausedAt(env, 1);
    expect(env.weight()).toBe(20);
    expect(env.selects('api-canary')).toBe(revisionOf('api:2'));
  });

  it('takes the weight off a superseded canary in the reconcile that sees the new template, before its pods exist', async () => {
    const env = await canaryAtTwenty(driver);
    env.setImage('api:3');
    const from = env.kube.writes.length;
    await env.reconcile({ settle: false });
    expect(env.weight()).toBe(0);
    expect(env.replicasOf('api:3')).toBe(2);
    // Until the router reports the weight gone, the superseded canary keeps the canary side and its pods.
    expect(env.replicasOf('api:2')).toBe(2);
    if (driver === istioSubsets) {
      const kinds = env.kube.writesSince(from).map((write) => write.kind);
      expect(kinds).toContain('virtualservices');
      expect(kinds, 'the canary subset does not move while the superseded canary still has weight').not.toContain('destinationrules');
      expect(subsetHash(env.kube, 'canary')).toBe(revisionOf('api:2'));
    } else {
      expect(env.selects('api-canary')).toBe(revisionOf('api:2'));
    }
    // The next reconcile reads 0% in effect: the canary side moves to the new revision, and the old canary may go.
    await env.reconcile({ settle: false });
    if (driver === istioSubsets) expect(subsetHash(env.kube, 'canary')).toBe(revisionOf('api:3'));
    else expect(env.selects('api-canary')).toBe(revisionOf('api:3'));
    env.kube.settleReplicaSets();
    await untilPausedAt(env, 1);
    expect(env.weight()).toBe(20);
    expect(env.selects('api-canary')).toBe(revisionOf('api:3'));
  });

  it('restores a weight edited by hand on the next reconcile, and re-reads the routes within the resync period', async () => {
    const env = await canaryAtTwenty(driver);
    const steady = await env.reconcile();
    expect(steady).toEqual({ requeueAfterMs: TRAFFIC_RESYNC_MS });
    expect(TRAFFIC_RESYNC_MS).toBeLessThanOrEqual(30_000);
    driver.edit(env.kube, 70);
    await env.reconcile();
    expect(env.weight()).toBe(20);
    expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
  });

  it('reports a missing object in the TrafficRouting condition with one Warning Event, holds the step, and recovers', async () => {
    const env = await canaryAtTwenty(driver);
    env.patchStatus({ promote: 'step' });
    driver.remove(env.kube);
    for (let i = 0; i < 5; i++) {
      await env.reconcile();
      env.clock.now += 10_000;
    }
    expect(env.condition()).toEqual({ status: 'False', reason: 'TrafficRoutingError' });
    expect(env.warnings()).toHaveLength(1);
    expect(env.status()).toMatchObject({ currentStepIndex: 2, actualWeight: 20 });
    expect(env.replicasOf('api:2'), 'the canary pods for the next step may come; the weight may not').toBe(5);

    driver.setup(env.kube);
    await untilPausedAt(env, 3);
    expect(env.weight()).toBe(50);
    expect(env.condition()).toEqual({ status: 'True', reason: 'TrafficInEffect' });
    expect(env.warnings()).toHaveLength(1);
  });

  it('when the apiserver refuses the write: a TrafficRoutingError condition, written once, and no pod moved that waits for the traffic', async () => {
    const env = await canaryAtTwenty(driver);
    env.kube.refusePatches.set(driver.kind, 'denied by the mesh admission webhook');
    env.kube.refusePatches.set('destinationrules', 'denied by the mesh admission webhook');
    env.patchStatus({ abort: true });
    await env.reconcile();
    expect(env.condition()).toEqual({ status: 'False', reason: 'TrafficRoutingError' });
    expect(env.status().conditions?.find((condition) => condition.type === 'TrafficRouting')?.message).toMatch(/denied by the mesh admission webhook/);
    const statusWrites = () => env.kube.writes.filter((write) => write.kind === 'rollouts/status').length;
    const written = statusWrites();
    for (let i = 0; i < 4; i++) {
      env.clock.now += 60_000;
      await env.reconcile();
    }
    expect(env.weight()).toBe(20);
    expect(env.replicasOf('api:2'), 'the aborted canary still has the traffic: its pods stay').toBe(2);
    expect(env.scaleDownAt('api:2')).toBeUndefined();
    expect(statusWrites(), 'a refusal that does not change is not written again and again').toBe(written);

    env.kube.refusePatches.clear();
    await env.reconcile();
    expect(env.weight()).toBe(0);
    await env.reconcile();
    expect(env.scaleDownAt('api:2')).toBeDefined();
    expect(env.condition()).toEqual({ status: 'True', reason: 'TrafficInEffect' });
  });
});
