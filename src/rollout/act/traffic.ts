import type { Logger } from '../../observability/logger.js';
import type { RouterServices, RouterSet, RoutingOutcome } from '../../traffic/router-set.js';
import type { TrafficTarget } from '../../traffic/types.js';
import { routerOwner } from '../observe.js';
import type { RolloutRef } from '../ref.js';

/**
 * Makes every router say what the plan asks. A refusal does not stop the reconcile: every pod move that depends on
 * traffic waits for the routers to report it in effect, so the failure shows in the TrafficRouting condition instead.
 */
export async function routeTraffic(ref: RolloutRef, routers: RouterSet, services: readonly RouterServices[], target: TrafficTarget, log: Logger): Promise<RoutingOutcome> {
  const outcome = await routers.apply(routerOwner(ref), services, target);
  const fields = { canaryWeight: target.canaryWeight, headerRoutes: target.headerRoutes.length, mirrorRoutes: target.mirrorRoutes.length };
  if (outcome.kind !== 'unchanged' && outcome.routers.length > 0) log.info('traffic routed', { routers: outcome.routers.join(','), ...fields });
  if (outcome.kind === 'refused') log.warn('routing traffic failed', { error: outcome.problem });
  return outcome;
}
