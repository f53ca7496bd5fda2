import { apiErrorMessage, isConflict } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import type { TrafficRouter, TrafficTarget } from '../../traffic/types.js';
import type { Rollout } from '../../api/rollout.js';
import { routerContext } from '../observe.js';
import type { RolloutRef } from '../ref.js';

/** What asking the router gave: nothing to change, a change written, or why it was refused. */
export type TrafficOutcome = { kind: 'unchanged' } | { kind: 'written' } | { kind: 'refused'; problem: string };

/**
 * Makes the router say what the plan asks. A refusal does not stop the reconcile: every pod move that depends on
 * traffic waits for the router to report it in effect, so the failure shows in the TrafficRouting condition instead.
 */
export async function routeTraffic(ref: RolloutRef, rollout: Rollout, router: TrafficRouter, target: TrafficTarget, log: Logger): Promise<TrafficOutcome> {
  try {
    if (!(await router.apply(routerContext(ref, rollout), target))) return { kind: 'unchanged' };
    log.info('traffic routed', { router: router.kind, canaryWeight: target.canaryWeight, headerRoutes: target.headerRoutes.length, mirrorRoutes: target.mirrorRoutes.length });
    return { kind: 'written' };
  } catch (err) {
    if (isConflict(err)) throw err;
    const problem = `${router.kind}: ${apiErrorMessage(err)}`;
    log.warn('routing traffic failed', { router: router.kind, error: problem });
    return { kind: 'refused', problem };
  }
}
