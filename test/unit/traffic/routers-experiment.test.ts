import type * as k8s from '@kubernetes/client-node';
import type { CustomApi, NetworkingApi } from '../../../src/kube/api.js';
import { describe, expect, it } from 'vitest';
import { AlbRouter } from '../../../src/traffic/routers/alb.js';
import { ANNOTATION_ADDITIONAL_BACKENDS, GatewayApiRouter } from '../../../src/traffic/routers/gateway-api.js';
import { ANNOTATION_ADDITIONAL_HOSTS, IstioRouter } from '../../../src/traffic/routers/istio.js';
import { SmiRouter } from '../../../src/traffic/routers/smi.js';
import type { TrafficTarget } from '../../../src/traffic/types.js';
import { FakeKube } from '../fake-kube.js';
import { CONTEXT, target } from './router-target.js';

/** Argo's weighted experiment: 10% on the canary, 5% on each of the experiment's baseline and canary Services. */
const EXPERIMENT: TrafficTarget['additionalDestinations'] = [
  { serviceName: 'exp-baseline', podTemplateHash: 'xb', weight: 5, port: 8080 },
  { serviceName: 'exp-canary', podTemplateHash: 'xc', weight: 5, port: 8080 },
];
const REPORTED = [
  { serviceName: 'exp-baseline', weight: 5 },
  { serviceName: 'exp-canary', weight: 5 },
];

describe('experiment weights: the template Services get their share, taken from the stable, and lose it after', () => {
  it('Gateway API: adds a backendRef per experiment Service beside the user’s own, reads the shares back, then removes only its own', async () => {
    interface Ref {
      name: string;
      namespace?: string;
      port?: number;
      weight?: number;
    }
    const kube = new FakeKube();
    const user: Ref = { name: 'mirror-sink', port: 80, weight: 0 };
    kube.put('httproutes', {
      metadata: { name: 'api', namespace: 'shop', generation: 1 },
      spec: { rules: [{ backendRefs: [{ name: 'api-stable', port: 80 }, { name: 'api-canary', port: 80, weight: 0 }, user] }] },
      status: { parents: [{ controllerName: 'test', conditions: [{ type: 'Accepted', status: 'True' }] }] },
    });
    const router = new GatewayApiRouter(kube.custom as unknown as CustomApi, { httpRoute: 'api' });
    const refs = (): Ref[] => kube.get<{ spec: { rules: Array<{ backendRefs: Ref[] }> } }>('httproutes', 'shop', 'api')?.spec.rules[0]?.backendRefs ?? [];

    expect(await router.apply(CONTEXT, target(10, EXPERIMENT))).toBe(true);
    expect(refs()).toEqual([
      { name: 'api-stable', port: 80, weight: 80 },
      { name: 'api-canary', port: 80, weight: 10 },
      user,
      { name: 'exp-baseline', port: 8080, weight: 5 },
      { name: 'exp-canary', port: 8080, weight: 5 },
    ]);
    expect(kube.get<{ metadata: { annotations: Record<string, string> } }>('httproutes', 'shop', 'api')?.metadata.annotations[ANNOTATION_ADDITIONAL_BACKENDS]).toBe('["exp-baseline","exp-canary"]');
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, additionalDestinations: REPORTED, headerRoutes: [], mirrorRoutes: [] });
    expect(await router.apply(CONTEXT, target(10, EXPERIMENT)), 'already so').toBe(false);

    expect(await router.apply(CONTEXT, target(10))).toBe(true);
    expect(refs()).toEqual([{ name: 'api-stable', port: 80, weight: 90 }, { name: 'api-canary', port: 80, weight: 10 }, user]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: [], mirrorRoutes: [] });
  });

  it('Istio: appends a destination per experiment host in every weighted route, subset-level split included, and removes them after', async () => {
    interface Destination {
      destination: { host: string; subset?: string };
      weight?: number;
    }
    const kube = new FakeKube();
    kube.put('virtualservices', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { hosts: ['api'], http: [{ name: 'primary', route: [{ destination: { host: 'api', subset: 'stable' }, weight: 100 }, { destination: { host: 'api', subset: 'canary' }, weight: 0 }] }] },
    });
    kube.put('destinationrules', { metadata: { name: 'api', namespace: 'shop' }, spec: { host: 'api', subsets: [{ name: 'stable' }, { name: 'canary' }] } });
    const router = new IstioRouter(kube.custom as unknown as CustomApi, {
      virtualService: { name: 'api', routes: ['primary'] },
      destinationRule: { name: 'api', canarySubsetName: 'canary', stableSubsetName: 'stable' },
    });
    const route = (): Destination[] => kube.get<{ spec: { http: Array<{ route: Destination[] }> } }>('virtualservices', 'shop', 'api')?.spec.http[0]?.route ?? [];

    await router.apply(CONTEXT, target(10, EXPERIMENT));
    expect(route()).toEqual([
      { destination: { host: 'api', subset: 'stable' }, weight: 80 },
      { destination: { host: 'api', subset: 'canary' }, weight: 10 },
      { destination: { host: 'exp-baseline' }, weight: 5 },
      { destination: { host: 'exp-canary' }, weight: 5 },
    ]);
    expect(kube.get<{ metadata: { annotations: Record<string, string> } }>('virtualservices', 'shop', 'api')?.metadata.annotations[ANNOTATION_ADDITIONAL_HOSTS]).toBe('["exp-baseline","exp-canary"]');
    expect(await router.observe(CONTEXT)).toMatchObject({ canaryWeight: 10, additionalDestinations: REPORTED });
    expect(await router.apply(CONTEXT, target(10, EXPERIMENT)), 'already so').toBe(false);

    await router.apply(CONTEXT, target(0));
    expect(route()).toEqual([
      { destination: { host: 'api', subset: 'stable' }, weight: 100 },
      { destination: { host: 'api', subset: 'canary' }, weight: 0 },
    ]);
    const observed = await router.observe(CONTEXT);
    expect(observed.canaryWeight).toBe(0);
    expect(observed.additionalDestinations).toBeUndefined();
  });

  it('ALB: Argo’s action with the experiment’s target groups on servicePort between the canary’s and the stable’s', async () => {
    const kube = new FakeKube();
    kube.put('ingresses', {
      metadata: { name: 'api', namespace: 'shop' },
      spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api-stable', port: { name: 'use-annotation' } } } }] } }] },
    });
    const router = new AlbRouter(kube.networking as unknown as NetworkingApi, { ingress: 'api', servicePort: 80 });
    const action = (): string | undefined => kube.get<k8s.V1Ingress>('ingresses', 'shop', 'api')?.metadata?.annotations?.['alb.ingress.kubernetes.io/actions.api-stable'];

    await router.apply(CONTEXT, target(10, EXPERIMENT));
    expect(action()).toBe(
      '{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"api-canary","ServicePort":"80","Weight":10},{"ServiceName":"exp-baseline","ServicePort":"80","Weight":5},{"ServiceName":"exp-canary","ServicePort":"80","Weight":5},{"ServiceName":"api-stable","ServicePort":"80","Weight":80}]}}',
    );
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, additionalDestinations: REPORTED, headerRoutes: [], mirrorRoutes: [] });
    await router.apply(CONTEXT, target(10));
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: [], mirrorRoutes: [] });
  });

  it('SMI: Argo’s backends, the canary first, the experiment’s, the stable last', async () => {
    const kube = new FakeKube();
    const router = new SmiRouter(kube.custom as unknown as CustomApi, {});
    await router.apply(CONTEXT, target(10, EXPERIMENT));
    expect(kube.get<{ spec: { backends: unknown[] } }>('trafficsplits', 'shop', 'api')?.spec.backends).toEqual([
      { service: 'api-canary', weight: '10' },
      { service: 'exp-baseline', weight: '5' },
      { service: 'exp-canary', weight: '5' },
      { service: 'api-stable', weight: '80' },
    ]);
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, additionalDestinations: REPORTED, headerRoutes: [], mirrorRoutes: [] });
    await router.apply(CONTEXT, target(10));
    expect(await router.observe(CONTEXT)).toEqual({ canaryWeight: 10, headerRoutes: [], mirrorRoutes: [] });
  });
});
