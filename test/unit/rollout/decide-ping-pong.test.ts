import { describe, expect, it } from 'vitest';
import type { CanaryStrategy } from '../../../src/api/rollout.js';
import { rolloutViolations } from '../../../src/rollout/decide/invariants.js';
import type { RolloutPlan } from '../../../src/rollout/decide/plan.js';
import { FakeCluster, makeRollout, revisionOf } from './fake-cluster.js';

const PING_PONG: Partial<CanaryStrategy> = {
  pingPong: { pingService: 'api-ping', pongService: 'api-pong' },
  trafficRouting: { alb: { ingress: 'api', servicePort: 80, rootService: 'api-root' } },
};

/**
 * Ticks until nothing changes, checking every invariant, and records every selector change of ping and pong with the
 * weight the data plane had on that Service when it was made.
 */
class PingPongWorld {
  readonly cluster: FakeCluster;
  /** Service, from, to, and the share of traffic it carried (by what the routers reported) when it was re-pointed. */
  readonly moves: Array<{ service: string; from: string | null | undefined; to: string | null; traffic: number | undefined }> = [];

  constructor(canary: Partial<CanaryStrategy> = {}, steps: CanaryStrategy['steps'] = [{ setWeight: 25 }, { pause: {} }], replicas = 4) {
    this.cluster = new FakeCluster(makeRollout({ replicas, steps, canary: { ...PING_PONG, ...canary } }));
    this.cluster.hasTrafficRouter = true;
  }

  /** One reconcile, applied; the pods and the data plane are left as they are. */
  reconcile(): RolloutPlan {
    const facts = this.cluster.facts();
    const plan = this.cluster.decide();
    expect(rolloutViolations(facts, plan)).toEqual([]);
    const carried = (service: string): number | undefined => {
      const router = plan.trafficRouters?.find((candidate) => candidate.stableService === service || candidate.canaryService === service);
      const weight = facts.traffic?.canaryWeight;
      if (router === undefined || weight === undefined) return undefined;
      return router.canaryService === service ? weight : 100 - weight;
    };
    for (const target of plan.services) {
      const from = facts.serviceSelects?.[target.name];
      if (from !== target.revision) this.moves.push({ service: target.name, from, to: target.revision, traffic: carried(target.name) });
    }
    this.cluster.apply(plan);
    return plan;
  }

  tick(): RolloutPlan {
    const plan = this.reconcile();
    this.cluster.settle();
    return plan;
  }

  converge(): RolloutPlan {
    for (let i = 0; i < 40; i++) {
      const before = JSON.stringify([this.cluster.status, this.cluster.replicaSets, [...this.cluster.serviceSelects]]);
      const plan = this.tick();
      if (JSON.stringify([this.cluster.status, this.cluster.replicaSets, [...this.cluster.serviceSelects]]) === before && plan.events.length === 0) return plan;
    }
    throw new Error(`no steady state: ${JSON.stringify(this.cluster.status)}`);
  }

  selects(service: string): string | null | undefined {
    return this.cluster.serviceSelects.get(service);
  }

  get side(): string | undefined {
    return this.cluster.status.canary?.stablePingPong;
  }
}

describe('pingPong: two Services take turns being stable', () => {
  it('claims ping as the stable side at first, and leaves pong alone until there is a canary', () => {
    const world = new PingPongWorld();
    const plan = world.converge();
    expect(world.side).toBe('ping');
    expect(world.selects('api-ping')).toBe(revisionOf('api:1'));
    expect(world.selects('api-pong')).toBeUndefined();
    expect(plan.traffic?.canaryWeight).toBe(0);
    expect(plan.trafficRouters).toEqual([{ router: 'alb', stableService: 'api-ping', canaryService: 'api-pong' }]);
  });

  it('gives the canary to the other side, swaps the roles at promotion, and never re-points a Service that carries traffic', () => {
    const world = new PingPongWorld();
    world.converge();
    world.cluster.setImage('api:2');
    world.converge();
    expect(world.cluster.status).toMatchObject({ phase: 'Paused', actualWeight: 25 });
    expect(world.selects('api-pong')).toBe(revisionOf('api:2'));
    expect(world.selects('api-ping')).toBe(revisionOf('api:1'));

    world.cluster.patchStatus({ promote: 'full' });
    const promoted = world.converge();
    expect(world.side).toBe('pong');
    expect(world.cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2'), actualWeight: 0 });
    // The roles swapped, the selectors did not: pong keeps api:2 as the stable side, ping still names api:1's hash.
    expect(world.selects('api-pong')).toBe(revisionOf('api:2'));
    expect(world.selects('api-ping')).toBe(revisionOf('api:1'));
    expect(promoted.trafficRouters).toEqual([{ router: 'alb', stableService: 'api-pong', canaryService: 'api-ping' }]);
    // The old stable side's pods outlive the swap by scaleDownDelaySeconds (30 s by default), as without pingPong.
    expect(world.cluster.countOf('api:1')?.replicas).toBe(4);
    world.cluster.advance(31_000);
    world.converge();
    expect(world.cluster.countOf('api:1')?.replicas ?? 0).toBe(0);

    world.cluster.setImage('api:3');
    world.converge();
    expect(world.selects('api-ping')).toBe(revisionOf('api:3'));
    expect(world.selects('api-pong')).toBe(revisionOf('api:2'));

    // The first claim of ping aside, every selector change happened with no traffic on that Service.
    const underTraffic = world.moves.filter((move) => move.from !== undefined && move.traffic !== 0);
    expect(underTraffic).toEqual([]);
    expect(world.moves.map((move) => [move.service, move.to])).toEqual([
      ['api-ping', revisionOf('api:1')],
      ['api-pong', revisionOf('api:2')],
      ['api-ping', revisionOf('api:3')],
    ]);
  });

  it('puts all traffic on the canary side before the swap, and swaps only once the router reports it', () => {
    const world = new PingPongWorld();
    world.converge();
    world.cluster.setImage('api:2');
    world.converge();
    world.cluster.patchStatus({ promote: 'full' });
    // The router takes nothing up: the canary side is asked for everything, and the roles stay as they are.
    for (let i = 0; i < 4; i++) {
      const plan = world.cluster.decide();
      world.cluster.apply(plan);
      world.cluster.settlePods();
    }
    expect(world.cluster.plans.at(-1)?.traffic?.canaryWeight).toBe(100);
    expect(world.side).toBe('ping');
    expect(world.cluster.countOf('api:1')?.replicas, 'the stable side keeps its pods while it carries traffic').toBe(4);
    world.cluster.takeUpTraffic();
    world.tick();
    expect(world.side).toBe('pong');
  });

  it('takes an aborted canary’s weight off and leaves its side selecting it: all traffic on the side that selects stable', () => {
    const world = new PingPongWorld();
    world.converge();
    world.cluster.setImage('api:2');
    world.converge();
    world.cluster.patchStatus({ abort: true });
    const plan = world.converge();
    expect(plan.traffic?.canaryWeight).toBe(0);
    expect(world.cluster.status).toMatchObject({ abort: true, actualWeight: 0, stableRevision: revisionOf('api:1') });
    expect(world.side).toBe('ping');
    expect(world.selects('api-ping')).toBe(revisionOf('api:1'));
    expect(world.selects('api-pong'), 'no selector moves under an abort').toBe(revisionOf('api:2'));
  });

  it('does not leave a step while the swap of an earlier promotion is under way: the routers report the swap, not the step', () => {
    // The property world that found it: one pod, one setWeight 0 step, and the template changed back to api:1 after
    // api:2 was promoted but before ping and pong swapped.
    const world = new PingPongWorld({}, [{ setWeight: 0 }], 1);
    world.reconcile();
    world.cluster.setImage('api:2');
    world.reconcile();
    world.cluster.patchStatus({ promote: 'step' });
    world.reconcile();
    expect(world.cluster.status).toMatchObject({ stableRevision: revisionOf('api:2'), canary: { stablePingPong: 'ping' } });
    world.cluster.setImage('api:1');
    world.reconcile();
    world.cluster.settlePods();
    // api:2 is whole: all traffic to pong, which selects it, before the roles swap.
    expect(world.reconcile().traffic?.canaryWeight).toBe(100);
    world.cluster.settle();
    const swapped = world.reconcile();
    expect(swapped.status, 'the canary of api:1 stays at its step while the router reports the swap').toMatchObject({
      stableRevision: revisionOf('api:2'),
      currentRevision: revisionOf('api:1'),
      currentStepIndex: 0,
      canary: { stablePingPong: 'pong' },
    });
    world.cluster.settle();
    world.converge();
    expect(world.cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:1'), canary: { stablePingPong: 'ping' } });
    expect(world.selects('api-ping')).toBe(revisionOf('api:1'));
  });

  it('keeps the stable side’s pods until the swap when a new template comes before it, the one the side serves or another', () => {
    for (const image of ['api:1', 'api:3']) {
      const world = new PingPongWorld();
      world.converge();
      world.cluster.setImage('api:2');
      world.converge();
      world.cluster.patchStatus({ promote: 'full' });
      world.reconcile();
      expect(world.cluster.status).toMatchObject({ stableRevision: revisionOf('api:2'), canary: { stablePingPong: 'ping' } });
      world.cluster.setImage(image);
      // The router lags: ping carries what pong does not, from api:1's pods, reconcile after reconcile.
      for (let i = 0; i < 3; i++) {
        world.reconcile();
        world.cluster.settlePods();
      }
      expect(world.cluster.status.message).toBe(`canary waits at step 0/2 for ping and pong to swap after revision ${revisionOf('api:2')} was promoted: all traffic first goes to the side that selects it`);
      expect(world.cluster.countOf('api:1'), `${image}: ping still serves from api:1`).toEqual({ replicas: 4, available: 4 });
      expect(world.side).toBe('ping');
      world.cluster.takeUpTraffic();
      world.reconcile();
      expect(world.side).toBe('pong');
      world.cluster.settle();
      world.converge();
      expect(world.cluster.status).toMatchObject({ phase: 'Paused', stableRevision: revisionOf('api:2'), currentRevision: revisionOf(image), currentStepIndex: 1, actualWeight: 25 });
      expect([world.selects('api-ping'), world.selects('api-pong')]).toEqual([revisionOf(image), revisionOf('api:2')]);
    }
  });

  it('beside Istio on stableService and canaryService (Argo’s albmesh), ALB swaps ping and pong while Istio keeps its Services', () => {
    const world = new PingPongWorld({
      stableService: 'api-stable',
      canaryService: 'api-canary',
      trafficRouting: { ...PING_PONG.trafficRouting, istio: { virtualService: { name: 'api' } } },
    });
    world.converge();
    world.cluster.setImage('api:2');
    world.converge();
    world.cluster.patchStatus({ promote: 'full' });
    const plan = world.converge();
    expect(world.side).toBe('pong');
    expect(plan.trafficRouters).toEqual([
      { router: 'istio', stableService: 'api-stable', canaryService: 'api-canary' },
      { router: 'alb', stableService: 'api-pong', canaryService: 'api-ping' },
    ]);
    expect(world.cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2'), actualWeight: 0 });
  });
});
