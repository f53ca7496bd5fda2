import type { RouterContext, TrafficTarget } from '../../../src/traffic/types.js';

/** The Rollout a router works for in these tests: api in shop, with its stable and canary Services. */
export const CONTEXT: RouterContext = { namespace: 'shop', rolloutName: 'api', rolloutUid: 'uid-1', stableService: 'api-stable', canaryService: 'api-canary' };

/** What a router is asked to make true: the canary's weight, and an experiment's Services' when given. */
export const target = (canaryWeight: number, additionalDestinations: TrafficTarget['additionalDestinations'] = []): TrafficTarget => ({
  canaryWeight,
  additionalDestinations,
  headerRoutes: [],
  mirrorRoutes: [],
  stableRevision: 'stable111',
  canaryRevision: 'canary222',
});
