import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Rollout } from '../../../src/api/rollout.js';
import { makeRollout, revisionOf } from '../rollout/fake-cluster.js';
import { reconcilerOn } from '../rollout/fake-reconciler.js';

interface Route {
  spec: { rules: Array<{ backendRefs: Array<{ name: string; port: number; weight?: number }>; matches?: unknown[] }> };
}

function routedRollout(): Rollout {
  return makeRollout({
    replicas: 10,
    steps: [{ setWeight: 5 }, { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: 'yes' } }] } }, { pause: {} }],
    canary: {
      stableService: 'api-stable',
      canaryService: 'api-canary',
      trafficRouting: { gatewayAPI: { httpRoute: 'api' }, managedRoutes: [{ name: 'beta' }] },
    },
  });
}

function world() {
  const env = reconcilerOn(routedRollout());
  for (const name of ['api-stable', 'api-canary']) env.kube.put('services', { metadata: { name, namespace: 'shop' }, spec: { selector: { app: 'api' } } });
  env.kube.put('httproutes', {
    metadata: { name: 'api', namespace: 'shop', generation: 1 },
    spec: { rules: [{ backendRefs: [{ name: 'api-stable', port: 80 }, { name: 'api-canary', port: 80, weight: 0 }] }] },
    // A gateway controller that accepts every generation.
    status: { parents: [{ controllerName: 'test', conditions: [{ type: 'Accepted', status: 'True' }] }] },
  });
  const route = (): Route => env.kube.get<Route>('httproutes', 'shop', 'api') as Route;
  const weights = (): Array<number | undefined> => route().spec.rules[0]!.backendRefs.map((ref) => ref.weight);
  return { ...env, route, weights };
}

describe('RolloutReconciler with the Gateway API router', () => {
  it('moves weight only onto available canary pods, adds the header route, and takes all traffic off on abort before scaling', async () => {
    const env = world();
    for (let i = 0; i < 4; i++) await env.step();
    expect(env.status().phase).toBe('Healthy');
    expect(env.weights()).toEqual([100, 0]);

    env.setImage('api:2');
    await env.step();
    // The canary's pod was asked for, not yet available when the route was written: no weight on it yet.
    expect(env.replicasOf('api:2')).toBe(1);
    expect(env.replicasOf('api:1')).toBe(10);
    expect(env.weights()).toEqual([100, 0]);
    for (let i = 0; i < 6; i++) await env.step();
    expect(env.weights()).toEqual([95, 5]);
    expect(env.route().spec.rules).toHaveLength(2);
    expect(env.status()).toMatchObject({ phase: 'Paused', actualWeight: 5, currentStepIndex: 2 });
    expect(env.kube.get<k8s.V1Service>('services', 'shop', 'api-canary')?.spec?.selector?.['fledge.dev/pod-template-hash']).toBe(revisionOf('api:2'));

    const current = env.kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    env.kube.put('rollouts', { ...current, status: { ...current.status, abort: true } });
    await env.step();
    expect(env.weights()).toEqual([100, 0]);
    expect(env.route().spec.rules).toHaveLength(1);
    // The pods stay until the router reports the traffic gone, then for abortScaleDownDelaySeconds.
    expect(env.replicasOf('api:2')).toBe(1);
    await env.step();
    expect(env.replicasOf('api:2')).toBe(1);
    env.clock.now += 31_000;
    await env.step();
    expect(env.replicasOf('api:2')).toBe(0);
    expect(env.status()).toMatchObject({ phase: 'Degraded', actualWeight: 0 });
  });
});
