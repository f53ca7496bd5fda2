import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../../../src/api/labels.js';
import { validateAgainstCrd } from '../../../src/cli/crd-schema.js';
import { baselineRevision } from '../../../src/rollout/decide/baseline.js';
import type { RolloutPlan } from '../../../src/rollout/decide/plan.js';
import { stableWeightOf } from '../../../src/traffic/plan.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf } from './fake-cluster.js';

const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }];
const BASELINE = { metadata: { labels: { role: 'baseline' }, annotations: { team: 'payments' } } };

function cluster(): FakeCluster {
  const world = new FakeCluster(
    makeRollout({ replicas: 10, steps: STEPS, canary: { baseline: BASELINE, stableMetadata: { labels: { role: 'stable', tier: 'web' } }, canaryMetadata: { labels: { role: 'canary' } } } }),
  );
  world.converge();
  return world;
}

describe('decide: the baseline beside the canary', () => {
  it('starts a baseline of the stable template with the canary, the same size at every step, and labels it apart', () => {
    const world = cluster();
    expect(world.baselines).toEqual([]);
    world.setImage('api:2');
    const started = world.decide();
    const create = started.baseline.changes.find((change) => change.kind === 'create');
    expect(create?.kind).toBe('create');
    if (create?.kind !== 'create') return;
    const stable = revisionOf('api:1');
    const { metadata, spec } = create.replicaSet;
    expect(metadata?.name).toBe(`api-${baselineRevision(stable)}`);
    expect(metadata?.labels).toMatchObject({ [LABEL_ROLE]: 'baseline', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable) });
    expect(metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true });
    // The stable's template, not the canary's; its own selector, so no Service of the Rollout picks its pods.
    expect(spec?.template?.spec?.containers[0]?.image).toBe('api:1');
    expect(spec?.selector.matchLabels).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable) });
    // Its metadata wins over the stable template's; stableMetadata's keys are left off (it is not the stable).
    expect(spec?.template?.metadata?.labels).toEqual({ app: 'api', role: 'baseline', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable), [LABEL_ROLE]: 'baseline' });
    expect(spec?.template?.metadata?.annotations).toEqual({ team: 'payments' });

    world.apply(started);
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(world.countOf('api:2')?.replicas).toBe(2);
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([2]);
    world.advance(5 * MINUTE);
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3 });
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([5]);
  });

  it('removes the baseline when the canary is promoted', () => {
    const world = cluster();
    world.setImage('api:2');
    world.converge();
    world.advance(5 * MINUTE);
    world.converge();
    expect(world.baselines).toHaveLength(1);
    world.patchStatus({ promote: 'full' });
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    expect(world.baselines).toEqual([]);
  });

  it('removes the baseline at once on abort, in the reconcile that aborts', () => {
    const world = cluster();
    world.setImage('api:2');
    world.converge();
    expect(world.baselines).toHaveLength(1);
    world.checkBudgets = false;
    world.patchStatus({ abort: true });
    const aborted = world.decide();
    expect(aborted.baseline.delete).toEqual([world.baselines[0]?.name]);
    world.apply(aborted);
    expect(world.baselines).toEqual([]);
  });
});

describe('decide: the baseline behind a router, a three-way split', () => {
  const ROUTED: CanaryStep[] = [{ setWeight: 20 }, { pause: {} }, { setWeight: 70 }, { pause: {} }];
  function routed(): FakeCluster {
    const world = new FakeCluster(
      makeRollout({
        replicas: 10,
        steps: ROUTED,
        canary: { baseline: {}, stableService: 'api-stable', canaryService: 'api-canary', trafficRouting: { gatewayAPI: { httpRoute: 'api' } } },
      }),
    );
    world.hasTrafficRouter = true;
    world.converge();
    return world;
  }
  /** [canary, baseline, stable] percent, as the plan asks the router. */
  const split = (plan: RolloutPlan): number[] => {
    const traffic = plan.traffic;
    if (traffic === undefined) throw new Error('a routed Rollout always has a traffic target');
    const baseline = traffic.additionalDestinations.filter((destination) => destination.serviceName === 'api-baseline');
    return [traffic.canaryWeight, baseline.reduce((sum, destination) => sum + destination.weight, 0), stableWeightOf(traffic)];
  };
  const baselineHash = baselineRevision(revisionOf('api:1'));

  it('makes a Service for the baseline alone, gives it the canary’s weight once its pods are available, and what is left past 50%', () => {
    const world = routed();
    world.setImage('api:2');
    const started = world.decide();
    expect(started.baseline.services.create).toHaveLength(1);
    const service = started.baseline.services.create[0];
    expect(service?.metadata).toMatchObject({ name: 'api-baseline', labels: { [LABEL_ROLE]: 'baseline', [LABEL_POD_TEMPLATE_HASH]: baselineHash } });
    expect(service?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name: 'api', controller: true });
    expect(service?.spec?.selector).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: baselineHash, [LABEL_ROLE]: 'baseline' });
    // The stable Service's ports, so a route reaches the baseline as it reaches the stable.
    expect(service?.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080 }]);
    expect(split(started)).toEqual([0, 0, 100]);
    world.apply(started);

    // Pods not yet available: neither the canary nor the baseline takes any weight.
    expect(split(world.decide())).toEqual([0, 0, 100]);
    world.settlePods();
    const weighted = world.decide();
    expect(split(weighted)).toEqual([20, 20, 60]);
    expect(weighted.traffic?.additionalDestinations).toEqual([{ serviceName: 'api-baseline', podTemplateHash: baselineHash, weight: 20, port: 80 }]);
    world.apply(weighted);
    world.settle();
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([2]);

    world.patchStatus({ promote: 'step' });
    const last = world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3 });
    expect(split(last), 'past 50%: the baseline gets what the canary leaves').toEqual([70, 30, 0]);
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([7]);
  });

  it('takes the baseline’s weight off while one of its pods is unavailable, and the canary keeps its own', () => {
    const world = routed();
    world.setImage('api:2');
    world.converge();
    const baseline = world.baselines[0];
    if (baseline === undefined) throw new Error('the baseline runs');
    baseline.availableReplicas = 1;
    expect(split(world.decide())).toEqual([20, 0, 80]);
  });

  it('raises the canary’s weight only once the baseline’s pods are available too, so both are judged under the same share', () => {
    const world = routed();
    world.setImage('api:2');
    world.apply(world.decide());
    for (const rs of world.replicaSets) rs.availableReplicas = rs.replicas;
    expect(world.countOf('api:2')?.available).toBe(2);
    expect(split(world.decide())).toEqual([0, 0, 100]);
  });

  it('leaves a weighting step only once the canary took its weight, not while its baseline coming up holds it at what it has', () => {
    const world = routed();
    world.setImage('api:2');
    world.apply(world.decide());
    // The canary's pods are available, the baseline's not yet: the canary keeps the 0% it has, and so does the step.
    for (const rs of world.replicaSets) rs.availableReplicas = rs.replicas;
    const holding = world.decide();
    expect(split(holding)).toEqual([0, 0, 100]);
    expect(holding.status, 'the router reports 0%: the hold, not the step’s 20%').toMatchObject({ phase: 'Progressing', currentStepIndex: 0 });
    world.apply(holding);
    world.settle();
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, actualWeight: 20 });
  });

  /** The canary at its pause with 20% on it and on the baseline, in effect. */
  function paused(): FakeCluster {
    const world = routed();
    world.setImage('api:2');
    world.converge();
    expect(world.traffic.additionalDestinations).toEqual([{ serviceName: 'api-baseline', weight: 20 }]);
    return world;
  }

  it('at promotion, takes the baseline’s weight off first and removes its pods and Service once the router reports none', () => {
    const world = paused();
    world.patchStatus({ promote: 'full' });
    world.checkBudgets = false;
    const promoting = world.decide();
    expect(promoting.traffic?.additionalDestinations).toEqual([]);
    expect(promoting.baseline.delete).toEqual([]);
    expect(promoting.baseline.services.delete).toEqual([]);
    world.apply(promoting);
    world.takeUpTraffic();
    const released = world.decide();
    expect(released.baseline.delete).toEqual([`api-${baselineHash}`]);
    expect(released.baseline.services.delete).toEqual(['api-baseline']);
    world.apply(released);
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    expect([world.baselines, world.baselineServices]).toEqual([[], []]);
  });

  it('at abort, sends everything back to the stable at once and keeps the baseline until the router reports no traffic on it', () => {
    const world = paused();
    world.checkBudgets = false;
    world.patchStatus({ abort: true });
    const aborted = world.decide();
    expect(split(aborted)).toEqual([0, 0, 100]);
    expect([aborted.baseline.delete, aborted.baseline.services.delete]).toEqual([[], []]);
    world.apply(aborted);
    expect(world.decide().baseline.delete, 'the router has not taken the abort up').toEqual([]);
    world.takeUpTraffic();
    const released = world.decide();
    expect([released.baseline.delete, released.baseline.services.delete]).toEqual([[`api-${baselineHash}`], ['api-baseline']]);
  });

  it('at a new revision mid-canary, takes the baseline’s weight off before its pods shrink to the new canary’s', () => {
    const world = paused();
    world.patchStatus({ promote: 'step' });
    world.converge();
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([7]);
    world.setImage('api:3');
    const superseded = world.decide();
    expect(superseded.traffic?.additionalDestinations).toEqual([]);
    expect(superseded.baseline.changes, 'the router still sends 30% to its 7 pods').toEqual([]);
    world.apply(superseded);
    world.takeUpTraffic();
    const released = world.decide();
    expect(released.baseline.changes).toEqual([{ kind: 'update', name: `api-${baselineHash}`, revision: baselineHash, role: undefined, patch: { spec: { replicas: 2 } } }]);
    world.apply(released);
    world.converge();
    expect(world.status).toMatchObject({ currentRevision: revisionOf('api:3'), currentStepIndex: 1 });
    expect(split(world.plans.at(-1) as RolloutPlan)).toEqual([20, 20, 60]);
  });
});

describe('the baseline in the CRD', () => {
  const issues = (canary: Record<string, unknown>): string[] => {
    const rollout = {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'api' },
      spec: { selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:1' }] } }, strategy: { canary } },
    };
    return (validateAgainstCrd(rollout) ?? []).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };
  const services = { stableService: 's', canaryService: 'c' };

  it('takes a baseline behind the routers that carry a third destination, and refuses it behind the others', () => {
    for (const trafficRouting of [{ gatewayAPI: { httpRoute: 'r' } }, { istio: { virtualService: { name: 'v' } } }, { alb: { ingress: 'i', servicePort: 80 } }, { smi: {} }]) {
      expect(issues({ baseline: { service: { name: 'api-judged' } }, ...services, trafficRouting })).toEqual([]);
    }
    const refused = 'spec.strategy.canary: a baseline behind a router is routed by gatewayAPI, istio, alb and smi only: leave baseline out with traefik, nginx, apisix or ambassador (alone or beside another router)';
    expect(issues({ baseline: {}, ...services, trafficRouting: { nginx: { stableIngress: 'web' } } })).toEqual([refused]);
    expect(issues({ baseline: {}, ...services, trafficRouting: { gatewayAPI: { httpRoute: 'r' }, traefik: { weightedTraefikServiceName: 't' } } })).toEqual([refused]);
    expect(issues({ baseline: {} })).toEqual([]);
  });

  it('refuses a baseline behind a router with no stable Service whose ports its own Service could take', () => {
    expect(issues({ baseline: {}, trafficRouting: { istio: { virtualService: { name: 'v' }, destinationRule: { name: 'd', canarySubsetName: 'canary', stableSubsetName: 'stable' } } } })).toEqual([
      "spec.strategy.canary: a baseline behind a router needs stableService (or pingPong's Services): its own Service takes the stable Service's ports",
    ]);
  });
});
