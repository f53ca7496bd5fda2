import type { HeaderRoute, MirrorRoute } from '../api/rollout.js';

/** A Service beside the canary and stable ones with a share of traffic: an experiment template's. */
export interface WeightedDestination {
  serviceName: string;
  /** The pod-template hash its Service selects. */
  podTemplateHash: string;
  weight: number;
  /** Its Service's port, for routers whose backends name one (Gateway API). */
  port: number;
}

/** What the routers should make true: the canary's weight and the managed routes in force. */
export interface TrafficTarget {
  /** Percent of traffic for canaryService (or the canary subset); the rest goes to the stable one. */
  canaryWeight: number;
  /** Percent of traffic for each of these Services, taken from the stable's share (Argo's experiment weights). */
  additionalDestinations: WeightedDestination[];
  /** Header routes in force, in managedRoutes order; only those with a match. */
  headerRoutes: HeaderRoute[];
  mirrorRoutes: MirrorRoute[];
  /** Pod-template hashes the subsets select, for a subset-level split (Istio destinationRule). */
  stableRevision: string | undefined;
  canaryRevision: string | undefined;
}

/** What a router read back from its objects. */
export interface TrafficObservation {
  /**
   * The canary weight every routed object agrees on and that the data plane has taken up (Gateway API: the route's
   * parents accepted this generation); undefined when they disagree, are not taken up yet, or could not be read.
   */
  canaryWeight: number | undefined;
  /**
   * The Services besides canary and stable the router sends traffic to, with their percent (undefined when the
   * routed objects disagree). Left out by routers that cannot route to them (none is asked of them).
   */
  additionalDestinations?: Array<{ serviceName: string; weight: number | undefined }>;
  /** Names of the managed routes in effect. */
  headerRoutes: string[];
  mirrorRoutes: string[];
  /** Which revision the stable side selects (the stable Service, or the stable subset): promotion waits for it. */
  stableSelects?: string | null | undefined;
  /** Which revision the canary side selects (the canary Service, or the canary subset): a superseded canary keeps it until its weight is off. */
  canarySelects?: string | null | undefined;
  /** Why the routing cannot work as configured (the object is missing, no rule names both Services, ...). */
  problem?: string;
}

/** Where a router finds its objects, and whom they route to. */
export interface RouterContext {
  namespace: string;
  rolloutName: string;
  rolloutUid: string | undefined;
  stableService: string | undefined;
  canaryService: string | undefined;
}

/**
 * One implementation per data plane. `observe` reads only; `apply` makes the objects say `target` (idempotent, and
 * a no-op when they already do) and returns whether it wrote anything.
 */
export interface TrafficRouter {
  readonly kind: string;
  observe(context: RouterContext): Promise<TrafficObservation>;
  apply(context: RouterContext, target: TrafficTarget): Promise<boolean>;
}
