import type { RouterName } from '../api/rollout.js';
import { apiErrorMessage, isConflict } from '../kube/patch.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from './types.js';

/** The Services one router splits traffic between this reconcile (decided: pingPong's change roles). */
export interface RouterServices {
  router: RouterName;
  stableService: string | undefined;
  canaryService: string | undefined;
}

/** Whose routers these are. */
export type RouterOwner = Omit<RouterContext, 'stableService' | 'canaryService'>;

/** What applying the target to every router gave: nothing to change, a change written, or why any refused. */
export type RoutingOutcome = { kind: 'unchanged' } | { kind: 'written'; routers: string[] } | { kind: 'refused'; problem: string; routers: string[] };

const sameNames = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((name) => b.includes(name));

/** The one value every router that reports it agrees on; undefined when none reports it or they differ. */
function agreed<T>(values: ReadonlyArray<T | undefined>): T | undefined {
  const reported = values.filter((value): value is T => value !== undefined);
  return reported.length > 0 && reported.every((value) => value === reported[0]) ? reported[0] : undefined;
}

/**
 * The Services besides canary and stable any router sends traffic to, each with the percent they all agree on (a
 * router that names none sends it none); undefined where they differ, so the target is not in effect and the
 * Service's pods are kept while any router may still send them traffic.
 */
function composedDestinations(observed: ReadonlyArray<{ observation: TrafficObservation }>): TrafficObservation['additionalDestinations'] {
  const names = [...new Set(observed.flatMap(({ observation }) => (observation.additionalDestinations ?? []).map((destination) => destination.serviceName)))];
  return names.map((serviceName) => {
    const weights = observed.map(({ observation }) => (observation.additionalDestinations ?? []).find((destination) => destination.serviceName === serviceName)?.weight ?? 0);
    return { serviceName, weight: weights.every((weight) => weight === weights[0]) ? weights[0] : undefined };
  });
}

/**
 * Several routers' observations as one (Argo applies every router a Rollout names): a weight and managed routes only
 * where every router reports the same ones, so the traffic is in effect only when it is in effect at each; every
 * router's problem, each with the router's name.
 */
export function composeObservations(observed: ReadonlyArray<{ router: string; observation: TrafficObservation }>): TrafficObservation {
  const first = observed[0]?.observation;
  const agree =
    first !== undefined &&
    observed.every(
      ({ observation }) =>
        observation.canaryWeight === first.canaryWeight &&
        sameNames(observation.headerRoutes, first.headerRoutes) &&
        sameNames(observation.mirrorRoutes, first.mirrorRoutes),
    );
  const problems = observed.filter(({ observation }) => observation.problem !== undefined).map(({ router, observation }) => `${router}: ${observation.problem}`);
  const stableSelects = agreed(observed.map(({ observation }) => observation.stableSelects));
  const canarySelects = agreed(observed.map(({ observation }) => observation.canarySelects));
  const additionalDestinations = composedDestinations(observed);
  return {
    canaryWeight: agree ? first.canaryWeight : undefined,
    headerRoutes: agree ? first.headerRoutes : [],
    mirrorRoutes: agree ? first.mirrorRoutes : [],
    ...(additionalDestinations !== undefined && additionalDestinations.length > 0 && { additionalDestinations }),
    ...(stableSelects !== undefined && { stableSelects }),
    ...(canarySelects !== undefined && { canarySelects }),
    ...(problems.length > 0 && { problem: problems.join('; ') }),
  };
}

/** Every router a Rollout names, observed and applied together, each with the Services it splits between. */
export class RouterSet {
  constructor(readonly routers: readonly TrafficRouter[]) {}

  /** Reads every router; a read that fails is that router's problem, never a weight. */
  async observe(owner: RouterOwner, services: readonly RouterServices[]): Promise<TrafficObservation> {
    const observed: Array<{ router: string; observation: TrafficObservation }> = [];
    for (const router of this.routers) {
      let observation: TrafficObservation;
      try {
        observation = await router.observe(this.context(owner, services, router));
      } catch (err) {
        observation = { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem: apiErrorMessage(err) };
      }
      observed.push({ router: router.kind, observation });
    }
    return composeObservations(observed);
  }

  /**
   * Makes every router say `target`. One that refuses does not keep the others from being applied; a conflict
   * stops the reconcile (it is retried on the object's newer version).
   */
  async apply(owner: RouterOwner, services: readonly RouterServices[], target: TrafficTarget): Promise<RoutingOutcome> {
    const written: string[] = [];
    const refused: string[] = [];
    for (const router of this.routers) {
      try {
        if (await router.apply(this.context(owner, services, router), target)) written.push(router.kind);
      } catch (err) {
        if (isConflict(err)) throw err;
        refused.push(`${router.kind}: ${apiErrorMessage(err)}`);
      }
    }
    if (refused.length > 0) return { kind: 'refused', problem: refused.join('; '), routers: written };
    return written.length > 0 ? { kind: 'written', routers: written } : { kind: 'unchanged' };
  }

  private context(owner: RouterOwner, services: readonly RouterServices[], router: TrafficRouter): RouterContext {
    const assigned = services.find((candidate) => candidate.router === router.kind);
    return { ...owner, stableService: assigned?.stableService, canaryService: assigned?.canaryService };
  }
}
