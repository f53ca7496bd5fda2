import { describe, expect, it } from 'vitest';
import type { CanaryStep, CanaryStrategy } from '../../../src/api/rollout.js';
import { stableShareOf } from '../../../src/traffic/plan.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf } from './fake-cluster.js';

const ROUTING: Partial<CanaryStrategy> = {
  stableService: 'api-stable',
  canaryService: 'api-canary',
  trafficRouting: { gatewayAPI: { httpRoute: 'api' } },
};

/** A Healthy api:1 behind a router, 10 replicas. */
function routedCluster(steps: CanaryStep[], canary: Partial<CanaryStrategy> = {}): FakeCluster {
  const cluster = new FakeCluster(makeRollout({ replicas: 10, steps, canary: { ...ROUTING, ...canary } }));
  cluster.hasTrafficRouter = true;
  cluster.converge();
  expect(cluster.status).toMatchObject({ phase: 'Healthy', actualWeight: 0 });
  return cluster;
}

/** One reconcile whose plan is applied and whose pods become available, while the data plane takes nothing up. */
function tickWithoutRouter(cluster: FakeCluster): ReturnType<FakeCluster['decide']> {
  const plan = cluster.decide();
  cluster.apply(plan);
  cluster.settlePods();
  return plan;
}

/** api:2 with 20% in effect, at a step asking for 50%: its 5 canary pods are asked for, 2 of them available. */
function waitingForPods(): FakeCluster {
  const cluster = routedCluster([{ setWeight: 20 }, { setWeight: 50 }, { pause: {} }]);
  cluster.setImage('api:2');
  cluster.tick();
  cluster.tick();
  cluster.apply(cluster.decide());
  cluster.takeUpTraffic();
  expect(cluster.status).toMatchObject({ currentStepIndex: 1, actualWeight: 20 });
  expect(cluster.countOf('api:2')).toEqual({ replicas: 5, available: 2 });
  return cluster;
}

const canaryPods = (cluster: FakeCluster, image = 'api:2'): number | undefined => cluster.countOf(image)?.replicas;
const targetOf = (cluster: FakeCluster, image: string) => cluster.plans.at(-1)?.replicaSets.find((target) => target.revision === revisionOf(image));

describe('decide with a traffic router: steps wait for the traffic', () => {
  it('completes a weighting step only once the router reports its weight in effect', () => {
    const cluster = routedCluster([{ setWeight: 20 }, { pause: {} }]);
    cluster.setImage('api:2');
    for (let i = 0; i < 5; i++) tickWithoutRouter(cluster);
    expect(cluster.plans.at(-1)?.traffic?.canaryWeight).toBe(20);
    expect(cluster.status).toMatchObject({ currentStepIndex: 0, phase: 'Progressing', actualWeight: 0 });
    expect(cluster.condition('TrafficRouting')).toEqual({ status: 'False', reason: 'TrafficPending' });
    // Not yet taken up: the router is asked again soon, not at the 30 s resync.
    expect(cluster.plans.at(-1)?.requeueAfterMs).toBe(500);

    cluster.takeUpTraffic();
    cluster.tick();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, phase: 'Paused', actualWeight: 20 });
    expect(cluster.condition('TrafficRouting')).toEqual({ status: 'True', reason: 'TrafficInEffect' });
    expect(cluster.reasons()).toContain('TrafficShifted');
  });

  it('raises the weight only onto available canary pods, and holds what is in effect while they come up', () => {
    const cluster = routedCluster([{ setWeight: 20 }, { setWeight: 50 }, { pause: {} }]);
    cluster.setImage('api:2');
    // The canary's first pods are asked for but not available: no weight on them yet.
    const first = cluster.decide();
    expect(first.traffic?.canaryWeight).toBe(0);
    cluster.apply(first);
    cluster.settle();
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 2, actualWeight: 50 });

    const lagging = waitingForPods();
    const scaling = lagging.decide();
    expect(scaling.traffic?.canaryWeight, 'the weight in effect holds while the pods come up').toBe(20);
    lagging.apply(scaling);
    lagging.settlePods();
    expect(lagging.decide().traffic?.canaryWeight).toBe(50);
  });

  it('does not pull the weight off the canary while the router cannot say what is in effect', () => {
    const cluster = waitingForPods();
    // The Gateway is taking up another change to the route: no weight is agreed for a moment.
    cluster.editTraffic(undefined);
    const plan = cluster.decide();
    expect(plan.status.actualWeight).toBe(20);
    expect(plan.traffic?.canaryWeight, 'the canary keeps the weight last in effect, not 0').toBe(20);
  });
  it('gives no weight to a canary revision that has no available pod, even when the route still carries weight', () => {
    const cluster = routedCluster([{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }]);
    cluster.setImage('api:2');
    cluster.converge();
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 3, actualWeight: 50 });

    // A new template mid-canary: api:3 has no pod yet, so the weight comes off api:2 first, and the canary Service
    // and api:2's pods stay until the router reports it off.
    cluster.setImage('api:3');
    const plan = cluster.decide();
    expect(plan.services.find((service) => service.role === 'canary')?.revision).toBe(revisionOf('api:2'));
    expect(plan.replicaSets.find((target) => target.revision === revisionOf('api:2'))?.replicas).toBe(5);
    expect(plan.traffic?.canaryWeight).toBe(0);
    cluster.apply(plan);
    cluster.settle();
    const moved = cluster.decide();
    expect(moved.services.find((service) => service.role === 'canary')?.revision).toBe(revisionOf('api:3'));
    cluster.apply(moved);
    cluster.settle();
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, actualWeight: 20, currentRevision: revisionOf('api:3') });
  });

  it('sends no traffic to a canary that setCanaryScale sized at no pods', () => {
    const cluster = routedCluster([{ setCanaryScale: { replicas: 0 } }, { setWeight: 50 }, { pause: {} }]);
    cluster.setImage('api:2');
    cluster.converge();
    expect(canaryPods(cluster)).toBe(0);
    expect(cluster.plans.every((plan) => (plan.traffic?.canaryWeight ?? 0) === 0)).toBe(true);
    expect(cluster.status).toMatchObject({ currentStepIndex: 2, canaryWeight: 50, actualWeight: 0 });
  });
});

describe('decide with a traffic router: pods and weight', () => {
  it('setCanaryScale decouples the canary pods from the weight; matchTrafficWeight couples them again', () => {
    const cluster = routedCluster([
      { setCanaryScale: { replicas: 2 } },
      { setWeight: 50 },
      { pause: {} },
      { setCanaryScale: { weight: 80 } },
      { setWeight: 10 },
      { pause: {} },
      { setCanaryScale: { matchTrafficWeight: true } },
      { pause: {} },
    ]);
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 2, actualWeight: 50 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    // A router splits the traffic: the stable keeps every pod.
    expect(cluster.countOf('api:1')).toEqual({ replicas: 10, available: 10 });

    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 5, actualWeight: 10 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 8, available: 8 });

    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 7, actualWeight: 10 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 1, available: 1 });
  });

  it('dynamicStableScale never leaves the stable side fewer available pods than the share of traffic it serves', () => {
    const cluster = routedCluster([{ setWeight: 80 }, { pause: {} }, { setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }], {
      dynamicStableScale: true,
    });
    cluster.setImage('api:2');
    const stableServes = (): void => {
      const weight = cluster.traffic.canaryWeight ?? 0;
      const stable = cluster.countOf('api:1')?.available ?? 0;
      expect(stable, `the stable serves ${100 - weight}% with ${stable} pods`).toBeGreaterThanOrEqual(stableShareOf(10, weight));
    };
    // Pessimistic order: the data plane takes up the weight before any pod the same reconcile asked for is available.
    const tick = (): void => {
      cluster.apply(cluster.decide());
      cluster.takeUpTraffic();
      stableServes();
      cluster.settlePods();
    };
    // Up to 80%, back down to 20% (the stable must grow before it takes the traffic back), up to 60%.
    for (const [pause, weight] of [[1, 80], [3, 20], [5, 60]] as const) {
      if (pause > 1) cluster.patchStatus({ promote: 'step' });
      for (let i = 0; i < 12; i++) tick();
      expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: pause, actualWeight: weight });
    }
    expect(cluster.countOf('api:1')).toEqual({ replicas: 4, available: 4 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 6, available: 6 });
  });

  it('dynamicStableScale takes all weight off at once from a superseded canary with no available pod: it serves none of it', () => {
    const cluster = routedCluster([{ setWeight: 20 }, { pause: {} }], { dynamicStableScale: true });
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, actualWeight: 20 });
    const superseded = cluster.replicaSets.find((rs) => rs.revision === revisionOf('api:2'));
    if (superseded === undefined) throw new Error('api:2 runs');
    superseded.availableReplicas = superseded.readyReplicas = 0;
    cluster.setImage('api:3');
    const plan = cluster.decide();
    expect(plan.traffic).toMatchObject({ canaryRevision: revisionOf('api:2'), canaryWeight: 0 });
    expect(targetOf(cluster, 'api:2')?.replicas, 'its pods stay until the router reports the weight off').toBe(2);
  });

  it('dynamicStableScale keeps the stable at full size while the router cannot say what is in effect', () => {
    const cluster = routedCluster([{ setWeight: 50 }, { pause: {} }], { dynamicStableScale: true });
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.countOf('api:1')).toEqual({ replicas: 5, available: 5 });
    cluster.trafficProblem = 'HTTPRoute shop/api not found';
    const plan = cluster.tick();
    expect(plan.replicaSets.find((target) => target.revision === revisionOf('api:1'))?.replicas).toBe(10);
  });
});

describe('decide with a traffic router: abort, retry and promotion', () => {
  /** api:2 at the indefinite pause with 50% in effect. */
  function atFifty(canary: Partial<CanaryStrategy> = {}): FakeCluster {
    const cluster = routedCluster([{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }], canary);
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, actualWeight: 50 });
    return cluster;
  }

  it('an aborted canary keeps its pods for as long as the router does not report its weight gone', () => {
    const cluster = atFifty();
    cluster.patchStatus({ abort: true });
    for (let i = 0; i < 4; i++) {
      const plan = tickWithoutRouter(cluster);
      expect(plan.traffic?.canaryWeight).toBe(0);
      expect(targetOf(cluster, 'api:2')).toEqual({ revision: revisionOf('api:2'), replicas: 5 });
      cluster.advance(60 * MINUTE);
    }
    expect(cluster.status).toMatchObject({ phase: 'Degraded', actualWeight: 50 });
    expect(cluster.condition('TrafficRouting')).toEqual({ status: 'False', reason: 'TrafficPending' });

    cluster.takeUpTraffic();
    const off = cluster.tick();
    expect(off.replicaSets.find((target) => target.revision === revisionOf('api:2'))).toEqual({
      revision: revisionOf('api:2'),
      replicas: 5,
      scaleDownAt: cluster.now + 30_000,
    });
    cluster.advance(29_000);
    cluster.tick();
    expect(canaryPods(cluster)).toBe(5);
    cluster.advance(2_000);
    cluster.tick();
    expect(canaryPods(cluster)).toBe(0);
  });

  it('an aborted canary keeps its pods while the router reports a problem', () => {
    const cluster = atFifty();
    cluster.trafficProblem = 'HTTPRoute shop/api not found';
    cluster.patchStatus({ abort: true });
    for (let i = 0; i < 3; i++) {
      cluster.tick();
      cluster.advance(10 * MINUTE);
    }
    expect(canaryPods(cluster)).toBe(5);
    expect(cluster.condition('TrafficRouting')).toEqual({ status: 'False', reason: 'TrafficRoutingError' });
    expect(cluster.reasons().filter((reason) => reason === 'TrafficRoutingError')).toHaveLength(1);
  });

  it('an abort with dynamicStableScale asks for the whole stable at once, with the traffic', () => {
    const cluster = atFifty({ dynamicStableScale: true });
    expect(cluster.countOf('api:1')).toEqual({ replicas: 5, available: 5 });
    cluster.patchStatus({ abort: true });
    const plan = cluster.decide();
    expect(plan.traffic?.canaryWeight).toBe(0);
    expect(plan.replicaSets.find((target) => target.revision === revisionOf('api:1'))?.replicas).toBe(10);
  });

  it('a retry after an abort gives the canary its weight again only once its pods are back', () => {
    const cluster = atFifty();
    cluster.patchStatus({ abort: true });
    cluster.converge();
    cluster.advance(31_000);
    cluster.converge();
    expect(canaryPods(cluster)).toBe(0);
    expect(cluster.status.actualWeight).toBe(0);

    cluster.patchStatus({ abort: false });
    const retry = cluster.decide();
    expect(retry.traffic?.canaryWeight).toBe(0);
    expect(retry.replicaSets.find((target) => target.revision === revisionOf('api:2'))?.replicas).toBe(5);
    cluster.apply(retry);
    cluster.settle();
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, actualWeight: 50 });
  });

  it('a promotion behind a lagging router: 100% on the new revision once whole, stable switched, then back to 0, then the old pods go after scaleDownDelaySeconds', () => {
    const cluster = atFifty();
    cluster.patchStatus({ promote: 'full' });
    // The promoted revision grows; the traffic holds where it is meanwhile.
    const growing = cluster.decide();
    cluster.apply(growing);
    expect(growing.traffic?.canaryWeight).toBe(50);
    expect(growing.services.find((service) => service.role === 'stable')?.revision, 'every pod of the Rollout while it grows').toBeNull();
    expect(canaryPods(cluster)).toBe(10);
    expect(cluster.countOf('api:1')?.replicas).toBe(10);

    cluster.settlePods();
    const whole = tickWithoutRouter(cluster);
    expect(whole.traffic?.canaryWeight).toBe(100);
    expect(whole.services.find((service) => service.role === 'stable')?.revision).toBe(revisionOf('api:2'));
    for (let i = 0; i < 3; i++) {
      cluster.advance(MINUTE);
      tickWithoutRouter(cluster);
      expect(cluster.countOf('api:1')?.replicas, 'the old revision serves until the router has switched').toBe(10);
    }
    expect(cluster.status.phase).toBe('Progressing');

    cluster.takeUpTraffic();
    const back = tickWithoutRouter(cluster);
    expect(back.traffic?.canaryWeight, 'the stable Service selects the new revision: all traffic back to it').toBe(0);
    expect(targetOf(cluster, 'api:1')).toEqual({ revision: revisionOf('api:1'), replicas: 10 });

    cluster.takeUpTraffic();
    cluster.tick();
    expect(targetOf(cluster, 'api:1')).toEqual({ revision: revisionOf('api:1'), replicas: 10, scaleDownAt: cluster.now + 30_000 });
    cluster.advance(29_000);
    cluster.tick();
    expect(cluster.countOf('api:1')?.replicas).toBe(10);
    cluster.advance(2_000);
    cluster.converge();
    expect(cluster.countOf('api:1')?.replicas).toBe(0);
    expect(cluster.status).toMatchObject({ phase: 'Healthy', actualWeight: 0, stableRevision: revisionOf('api:2') });
  });
});
