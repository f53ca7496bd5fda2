import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { lowestWeightServed, managedRoutesAt, stableShareOf } from '../../../src/traffic/plan.js';

describe('lowestWeightServed', () => {
  it('is the lowest canary weight whose stable share the available stable pods cover, for every size', () => {
    for (let replicas = 1; replicas <= 40; replicas++) {
      for (let available = 0; available <= replicas + 1; available++) {
        const served = Array.from({ length: 101 }, (_, weight) => weight).filter((weight) => stableShareOf(replicas, weight) <= available);
        expect(lowestWeightServed(replicas, available), `${available} of ${replicas} stable pods`).toBe(Math.min(...served));
      }
    }
  });
});

describe('managedRoutesAt', () => {
  const header = (name: string, value?: string): CanaryStep => ({
    setHeaderRoute: { name, ...(value !== undefined && { match: [{ headerName: 'x-user', headerValue: { exact: value } }] }) },
  });
  const mirror = (name: string): CanaryStep => ({ setMirrorRoute: { name, match: [{ path: { prefix: '/' } }] } });
  const steps: CanaryStep[] = [header('b', '1'), mirror('m'), header('a', '1'), { pause: {} }, header('b'), header('a', '2')];
  const names = (at: number) => {
    const routes = managedRoutesAt(steps, at, [{ name: 'a' }, { name: 'm' }, { name: 'b' }]);
    return { headers: routes.headerRoutes.map((route) => `${route.name}=${route.match?.[0]?.headerValue.exact}`), mirrors: routes.mirrorRoutes.map((route) => route.name) };
  };

  it('sets a route at its step, in precedence order, removes it at a step without match, and takes the latest match', () => {
    expect(names(0)).toEqual({ headers: ['b=1'], mirrors: [] });
    expect(names(3)).toEqual({ headers: ['a=1', 'b=1'], mirrors: ['m'] });
    expect(names(4)).toEqual({ headers: ['a=1'], mirrors: ['m'] });
    expect(names(5)).toEqual({ headers: ['a=2'], mirrors: ['m'] });
    // Past the last step (a promotion) every route is still listed: the stage, not this function, ends them.
    expect(names(6)).toEqual(names(5));
  });
});
