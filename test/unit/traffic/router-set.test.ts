import { describe, expect, it } from 'vitest';
import { composeObservations, RouterSet, type RouterServices } from '../../../src/traffic/router-set.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../../../src/traffic/types.js';

const OWNER = { namespace: 'shop', rolloutName: 'api', rolloutUid: 'uid-1' };
const TARGET: TrafficTarget = { canaryWeight: 25, additionalDestinations: [], headerRoutes: [], mirrorRoutes: [], stableRevision: 's', canaryRevision: 'c' };
const at = (canaryWeight: number | undefined, extra: Partial<TrafficObservation> = {}): TrafficObservation => ({ canaryWeight, headerRoutes: [], mirrorRoutes: [], ...extra });

/** A router that records the contexts it was given and answers as told. */
class ScriptedRouter implements TrafficRouter {
  readonly contexts: RouterContext[] = [];
  constructor(
    readonly kind: string,
    private readonly answer: { observed?: TrafficObservation; fails?: Error; writes?: boolean },
  ) {}
  async observe(context: RouterContext): Promise<TrafficObservation> {
    this.contexts.push(context);
    if (this.answer.fails) throw this.answer.fails;
    return this.answer.observed ?? at(0);
  }
  async apply(context: RouterContext): Promise<boolean> {
    this.contexts.push(context);
    if (this.answer.fails) throw this.answer.fails;
    return this.answer.writes ?? false;
  }
}

describe('composeObservations: several routers as one', () => {
  it('reports a weight only where every router reports the same one', () => {
    expect(composeObservations([{ router: 'alb', observation: at(25) }, { router: 'istio', observation: at(25) }]).canaryWeight).toBe(25);
    expect(composeObservations([{ router: 'alb', observation: at(25) }, { router: 'istio', observation: at(0) }]).canaryWeight).toBeUndefined();
    expect(composeObservations([{ router: 'alb', observation: at(25) }, { router: 'istio', observation: at(undefined) }]).canaryWeight).toBeUndefined();
  });

  it('takes managed routes as in effect only when every router has the same ones, and then keeps the weight', () => {
    const both = composeObservations([
      { router: 'gatewayAPI', observation: at(10, { headerRoutes: ['beta', 'qa'] }) },
      { router: 'istio', observation: at(10, { headerRoutes: ['qa', 'beta'] }) },
    ]);
    expect(both).toMatchObject({ canaryWeight: 10, headerRoutes: ['beta', 'qa'] });
    const one = composeObservations([
      { router: 'gatewayAPI', observation: at(10, { headerRoutes: ['beta'] }) },
      { router: 'istio', observation: at(10) },
    ]);
    expect(one).toMatchObject({ canaryWeight: undefined, headerRoutes: [] });
  });

  it('reports an experiment Service’s weight only where every router agrees on it, and keeps it as served otherwise', () => {
    const twenty = { additionalDestinations: [{ serviceName: 'exp', weight: 20 }] };
    const agreed = composeObservations([{ router: 'alb', observation: at(10, twenty) }, { router: 'istio', observation: at(10, twenty) }]);
    expect(agreed.additionalDestinations).toEqual([{ serviceName: 'exp', weight: 20 }]);
    const one = composeObservations([{ router: 'alb', observation: at(10, twenty) }, { router: 'istio', observation: at(10) }]);
    expect(one.additionalDestinations).toEqual([{ serviceName: 'exp', weight: undefined }]);
    expect(composeObservations([{ router: 'alb', observation: at(10) }, { router: 'istio', observation: at(10) }]).additionalDestinations).toBeUndefined();
  });

  it('names the router of every problem, and keeps what the routers that report selections agree on', () => {
    const observed = composeObservations([
      { router: 'alb', observation: at(0, { problem: 'Ingress shop/web not found' }) },
      { router: 'istio', observation: at(0, { stableSelects: 'abc', canarySelects: 'def' }) },
      { router: 'smi', observation: at(0, { problem: 'TrafficSplit refused' }) },
    ]);
    expect(observed.problem).toBe('alb: Ingress shop/web not found; smi: TrafficSplit refused');
    expect(observed).toMatchObject({ stableSelects: 'abc', canarySelects: 'def' });
  });
});

describe('RouterSet', () => {
  const SERVICES: RouterServices[] = [
    { router: 'alb', stableService: 'api-ping', canaryService: 'api-pong' },
    { router: 'istio', stableService: 'api-stable', canaryService: 'api-canary' },
  ];

  it('gives each router its own Services, and reads every one', async () => {
    const alb = new ScriptedRouter('alb', { observed: at(25) });
    const istio = new ScriptedRouter('istio', { observed: at(25) });
    expect((await new RouterSet([istio, alb]).observe(OWNER, SERVICES)).canaryWeight).toBe(25);
    expect(alb.contexts).toEqual([{ ...OWNER, stableService: 'api-ping', canaryService: 'api-pong' }]);
    expect(istio.contexts).toEqual([{ ...OWNER, stableService: 'api-stable', canaryService: 'api-canary' }]);
  });

  it('turns a read that fails into that router’s problem', async () => {
    const routers = new RouterSet([new ScriptedRouter('istio', { observed: at(25) }), new ScriptedRouter('alb', { fails: new Error('connection refused') })]);
    expect(await routers.observe(OWNER, SERVICES)).toMatchObject({ canaryWeight: undefined, problem: 'alb: connection refused' });
  });

  it('applies every router even when one refuses, and says which refused', async () => {
    const nginx = new ScriptedRouter('nginx', { fails: new Error('admission webhook denied the request') });
    const smi = new ScriptedRouter('smi', { writes: true });
    const outcome = await new RouterSet([nginx, smi]).apply(OWNER, [], TARGET);
    expect(outcome).toEqual({ kind: 'refused', problem: 'nginx: admission webhook denied the request', routers: ['smi'] });
    expect(smi.contexts).toHaveLength(1);
  });

  it('says written when any router wrote, unchanged when none did', async () => {
    expect(await new RouterSet([new ScriptedRouter('alb', {}), new ScriptedRouter('istio', { writes: true })]).apply(OWNER, SERVICES, TARGET)).toEqual({ kind: 'written', routers: ['istio'] });
    expect(await new RouterSet([new ScriptedRouter('alb', {})]).apply(OWNER, SERVICES, TARGET)).toEqual({ kind: 'unchanged' });
  });

  it('lets a conflict stop the reconcile', async () => {
    const conflict = Object.assign(new Error('the object has been modified'), { code: 409 });
    await expect(new RouterSet([new ScriptedRouter('istio', { fails: conflict })]).apply(OWNER, SERVICES, TARGET)).rejects.toThrow(/modified/);
  });
});
