import { describe, expect, it } from 'vitest';
import type { CanaryStep, Rollout, TrafficRouting } from '../../../src/api/rollout.js';
import { COUNTS_STALENESS_MS } from '../../../src/rollout/decide/status-writes.js';
import { ANNOTATION_MANAGED_RULES } from '../../../src/traffic/routers/gateway-api.js';
import { makeRollout } from '../rollout/fake-cluster.js';
import { reconcilerOn } from '../rollout/fake-reconciler.js';

interface Rule {
  matches?: Array<{ headers?: Array<{ name: string; value: string; type: string }> }>;
  filters?: Array<{ type: string; requestMirror?: { percent?: number } }>;
  backendRefs: Array<{ name: string; weight?: number }>;
}
interface Route {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { rules: Rule[] };
  status: { parents: Array<{ conditions: Array<{ type: string; status: string; observedGeneration: number }> }> };
}

/** A Gateway controller that has accepted `generation` of the route, or none: its status says which. */
const accepted = (generation: number) => ({ parents: [{ controllerName: 'test', conditions: [{ type: 'Accepted', status: 'True', observedGeneration: generation }] }] });

function world(steps: CanaryStep[], routing: TrafficRouting, routes: string[] = ['api']) {
  const env = reconcilerOn(makeRollout({ replicas: 4, steps, canary: { stableService: 'api-stable', canaryService: 'api-canary', trafficRouting: routing } }));
  for (const name of ['api-stable', 'api-canary']) env.kube.put('services', { metadata: { name, namespace: 'shop' }, spec: { selector: { app: 'api' } } });
  for (const name of routes) {
    env.kube.put('httproutes', {
      metadata: { name, namespace: 'shop', generation: 1 },
      spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'api-stable', port: 80, weight: 100 }, { name: 'api-canary', port: 80, weight: 0 }] }] },
      status: accepted(1),
    });
  }
  const route = (name = 'api'): Route => env.kube.get<Route>('httproutes', 'shop', name) as Route;
  /** The Gateway takes up whatever the route says now. */
  const accept = (name = 'api'): void => env.kube.put('httproutes', { ...route(name), status: accepted(route(name).metadata.generation) });
  /** Reconciles `times` times, the Gateway taking up each route after each. */
  const run = async (times: number): Promise<void> => {
    for (let i = 0; i < times; i++) {
      await env.step();
      for (const name of routes) accept(name);
    }
  };
  /** Reconciles with the Gateway keeping up, until the Rollout pauses. */
  const untilPaused = async (): Promise<void> => {
    for (let i = 0; i < 20 && env.status().phase !== 'Paused'; i++) await run(1);
    expect(env.status().phase).toBe('Paused');
  };
  const promote = (how: 'step' | 'full'): void => {
    const current = env.kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
    env.kube.put('rollouts', { ...current, status: { ...current.status, promote: how } });
  };
  const trafficCondition = () => env.status().conditions?.find((condition) => condition.type === 'TrafficRouting');
  /** What each rule is: the user's split, a header rule (its header names) or a mirror rule. */
  const shape = (name = 'api'): string[] =>
    route(name).spec.rules.map((rule) =>
      rule.filters?.[0]?.type === 'RequestMirror'
        ? `mirror ${rule.filters[0].requestMirror?.percent ?? 100}%`
        : rule.backendRefs.length === 2
          ? `split ${rule.backendRefs[1]?.weight}`
          : `header ${(rule.matches?.[0]?.headers ?? []).map((header) => header.name).join()}`,
    );
  return { ...env, route, accept, run, untilPaused, promote, trafficCondition, shape };
}

async function healthy(env: ReturnType<typeof world>): Promise<void> {
  await env.run(4);
  expect(env.status().phase).toBe('Healthy');
}

describe('RolloutReconciler with the Gateway API router: acceptance and managed rules', () => {
  it('holds a step until every Gateway has accepted the route generation carrying its weight', async () => {
    const env = world([{ setWeight: 25 }, { pause: {} }], { gatewayAPI: { httpRoute: 'api' } });
    await healthy(env);
    env.setImage('api:2');
    for (let i = 0; i < 4; i++) await env.step();
    expect(env.route().spec.rules[0]?.backendRefs.map((ref) => ref.weight)).toEqual([75, 25]);
    expect(env.route().metadata.generation).toBeGreaterThan(env.route().status.parents[0]!.conditions[0]!.observedGeneration);
    expect(env.status()).toMatchObject({ phase: 'Progressing', currentStepIndex: 0, actualWeight: 0 });
    expect(env.trafficCondition()).toMatchObject({ status: 'False', reason: 'TrafficPending' });
    // Its message follows what the router reports: words that change alone are written within the staleness bound.
    env.clock.now += COUNTS_STALENESS_MS;
    await env.step();
    expect(env.trafficCondition()).toMatchObject({ status: 'False', reason: 'TrafficPending', message: expect.stringMatching(/not yet taken up/) });

    env.accept();
    await env.step();
    expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: 1, actualWeight: 25 });
  });

  it('adds header and mirror rules at their steps, removes a header route set without match, and every rule at promotion', async () => {
    const env = world(
      [
        { setWeight: 10 },
        { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { prefix: 'on' } }] } },
        { setMirrorRoute: { name: 'shadow', percentage: 30, match: [{ path: { prefix: '/cart' } }] } },
        { pause: {} },
        { setHeaderRoute: { name: 'beta' } },
        { pause: {} },
      ],
      { gatewayAPI: { httpRoute: 'api' }, managedRoutes: [{ name: 'beta' }, { name: 'shadow' }] },
    );
    await healthy(env);
    env.setImage('api:2');
    await env.untilPaused();
    expect(env.shape()).toEqual(['split 10', 'header x-beta', 'mirror 30%']);
    expect(env.route().spec.rules[1]?.matches?.[0]?.headers).toEqual([{ type: 'RegularExpression', name: 'x-beta', value: '^on.*' }]);
    expect(JSON.parse(env.route().metadata.annotations?.[ANNOTATION_MANAGED_RULES] ?? '[]')).toMatchObject([{ name: 'beta' }, { name: 'shadow' }]);

    env.promote('step');
    await env.step();
    await env.untilPaused();
    expect(env.status().currentStepIndex).toBe(5);
    expect(env.shape()).toEqual(['split 10', 'mirror 30%']);

    env.promote('full');
    await env.run(8);
    expect(env.status()).toMatchObject({ phase: 'Healthy', actualWeight: 0 });
    expect(env.shape()).toEqual(['split 0']);
    expect(env.route().metadata.annotations?.[ANNOTATION_MANAGED_RULES]).toBeUndefined();
  });

  it('orders the managed rules as managedRoutes lists them, whatever order the steps set them in', async () => {
    const env = world(
      [
        { setWeight: 10 },
        { setHeaderRoute: { name: 'second', match: [{ headerName: 'x-second', headerValue: { exact: '1' } }] } },
        { setHeaderRoute: { name: 'first', match: [{ headerName: 'x-first', headerValue: { exact: '1' } }] } },
        { pause: {} },
      ],
      { gatewayAPI: { httpRoute: 'api' }, managedRoutes: [{ name: 'first' }, { name: 'second' }] },
    );
    await healthy(env);
    env.setImage('api:2');
    await env.untilPaused();
    // Gateway API breaks ties between equally specific matches by rule order: managedRoutes is the precedence order.
    expect(env.shape()).toEqual(['split 10', 'header x-first', 'header x-second']);
  });

  it('says why a header route cannot be in effect when no HTTPRoute takes header routes', async () => {
    const env = world(
      [{ setWeight: 10 }, { setHeaderRoute: { name: 'beta', match: [{ headerName: 'x-beta', headerValue: { exact: '1' } }] } }, { pause: {} }],
      { gatewayAPI: { httpRoutes: [{ name: 'web' }, { name: 'grpc' }] }, managedRoutes: [{ name: 'beta' }] },
      ['web', 'grpc'],
    );
    await healthy(env);
    env.setImage('api:2');
    await env.run(8);
    expect(env.status()).toMatchObject({ currentStepIndex: 1, actualWeight: 10 });
    expect(env.trafficCondition()).toMatchObject({ status: 'False', reason: 'TrafficRoutingError', message: expect.stringMatching(/useHeaderRoutes/) });
  });
});
