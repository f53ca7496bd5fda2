import type { CanaryStep, HeaderRoute, MirrorRoute } from '../api/rollout.js';
import type { TrafficObservation, TrafficTarget } from './types.js';

/**
 * The managed routes in force at `stepIndex`: each setHeaderRoute / setMirrorRoute step up to and including it sets
 * its route, or removes it when it has no match. All of them end with the canary (promotion or abort). They come in
 * `precedence` order (trafficRouting.managedRoutes), whatever order the steps set them in.
 */
export function managedRoutesAt(
  steps: readonly CanaryStep[],
  stepIndex: number,
  precedence: ReadonlyArray<{ name: string }> = [],
): { headerRoutes: HeaderRoute[]; mirrorRoutes: MirrorRoute[] } {
  const headers = new Map<string, HeaderRoute>();
  const mirrors = new Map<string, MirrorRoute>();
  for (const step of steps.slice(0, Math.min(stepIndex + 1, steps.length))) {
    if ('setHeaderRoute' in step) {
      const route = step.setHeaderRoute;
      if (route.match !== undefined && route.match.length > 0) headers.set(route.name, route);
      else headers.delete(route.name);
    }
    if ('setMirrorRoute' in step) {
      const route = step.setMirrorRoute;
      if (route.match !== undefined && route.match.length > 0) mirrors.set(route.name, route);
      else mirrors.delete(route.name);
    }
  }
  const rank = (route: { name: string }): number => {
    const index = precedence.findIndex((candidate) => candidate.name === route.name);
    return index === -1 ? precedence.length : index;
  };
  const ordered = <T extends { name: string }>(routes: Map<string, T>): T[] => [...routes.values()].sort((a, b) => rank(a) - rank(b));
  return { headerRoutes: ordered(headers), mirrorRoutes: ordered(mirrors) };
}

const sameNames = (wanted: ReadonlyArray<{ name: string }>, seen: readonly string[]): boolean =>
  wanted.length === seen.length && wanted.every((route) => seen.includes(route.name));

/** The same Services with the same weights, those with none left out on both sides. */
function sameDestinations(wanted: TrafficTarget['additionalDestinations'], seen: TrafficObservation['additionalDestinations'] = []): boolean {
  const weighted = wanted.filter((destination) => destination.weight > 0);
  const carrying = seen.filter((destination) => destination.weight !== 0);
  return weighted.length === carrying.length && weighted.every((destination) => carrying.some((other) => other.serviceName === destination.serviceName && other.weight === destination.weight));
}

/** True when the router reports exactly the target in effect: the weights, and the same managed routes. */
export function trafficInEffect(observed: TrafficObservation | undefined, target: TrafficTarget): boolean {
  if (observed === undefined || observed.problem !== undefined) return false;
  return (
    observed.canaryWeight === target.canaryWeight &&
    sameDestinations(target.additionalDestinations, observed.additionalDestinations) &&
    sameNames(target.headerRoutes, observed.headerRoutes) &&
    sameNames(target.mirrorRoutes, observed.mirrorRoutes)
  );
}

/** The stable's percent: what the canary and the other destinations leave (never below 0). */
export function stableWeightOf(target: Pick<TrafficTarget, 'canaryWeight' | 'additionalDestinations'>): number {
  return Math.max(0, 100 - target.canaryWeight - target.additionalDestinations.reduce((sum, destination) => sum + destination.weight, 0));
}

/** Services a router reports traffic on (or cannot say how much) besides canary and stable. */
export function servingDestinations(observed: TrafficObservation | undefined): string[] {
  return (observed?.additionalDestinations ?? []).filter((destination) => destination.weight !== 0).map((destination) => destination.serviceName);
}

/** Pods the stable side needs to serve `100 - weight`% of the traffic, rounded up. */
export function stableShareOf(replicas: number, canaryWeight: number): number {
  return Math.min(replicas, Math.ceil(((100 - canaryWeight) * replicas) / 100));
}

/** The lowest canary weight whose stable share `stableAvailable` pods serve: 100 - weight of the traffic needs no more pods than that. */
export function lowestWeightServed(replicas: number, stableAvailable: number): number {
  if (replicas <= 0 || stableAvailable >= replicas) return 0;
  return Math.min(100, Math.ceil((100 * (replicas - Math.max(0, stableAvailable))) / replicas));
}
