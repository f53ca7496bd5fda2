import type { PingPongSide, ReplicaSetFacts, ServiceSelects } from './facts.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';
import { routersNamed, type CanaryStrategy, type RolloutStatus, type RouterName } from '../../api/rollout.js';
import type { RouterServices } from '../../traffic/router-set.js';
import type { TrafficObservation } from '../../traffic/types.js';

/** What a Service named by the Rollout should select. */
export interface ServiceTarget {
  name: string;
  role: 'stable' | 'canary';
  /**
   * The pod-template hash it selects, or null for every pod of the Rollout (the hash left out of
   * its selector): while pods move from the old stable revision to the new one, that keeps every
   * available pod behind the stable Service, so its endpoints never drop during a promotion.
   */
  revision: string | null;
  /** The merge patch of its spec.selector that makes it select `revision`. */
  selector: Record<string, string | null>;
}

export interface ServiceInput {
  stableService: string | undefined;
  canaryService: string | undefined;
  replicas: number;
  /** status.stableRevision after this reconcile. */
  stableRevision: string | undefined;
  /** The template's revision. */
  currentRevision: string;
  aborted: boolean;
  replicaSets: readonly ReplicaSetFacts[];
}

/**
 * The stable Service selects the stable revision; once a promotion makes the template's revision
 * stable, it selects every pod of the Rollout until that revision alone is fully available (Argo
 * switches only then, but lets the old pods behind the Service go meanwhile). The canary Service
 * selects the canary, and the stable revision whenever there is none or it was aborted, so it never
 * routes to an aborted version.
 */
export function desiredServices(input: ServiceInput): Array<Omit<ServiceTarget, 'selector'>> {
  const stable = input.stableRevision;
  if (stable === undefined) return [];
  const availableOf = (revision: string): number => input.replicaSets.find((rs) => rs.revision === revision)?.availableReplicas ?? 0;
  const othersAvailable = input.replicaSets.reduce((sum, rs) => sum + (rs.revision === stable ? 0 : rs.availableReplicas), 0);
  const promoting = input.currentRevision === stable && availableOf(stable) < input.replicas && othersAvailable > 0;
  const targets: Array<Omit<ServiceTarget, 'selector'>> = [];
  if (input.stableService !== undefined) targets.push({ name: input.stableService, role: 'stable', revision: promoting ? null : stable });
  if (input.canaryService !== undefined) {
    targets.push({ name: input.canaryService, role: 'canary', revision: input.aborted || input.currentRevision === stable ? stable : input.currentRevision });
  }
  return targets;
}

/**
 * The selector patch for one revision's pods, or for every pod of the Rollout (null): then the Rollout's own labels
 * stay in the selector, so nothing else is ever selected.
 */
export function serviceSelector(revision: string | null, rolloutLabels: Readonly<Record<string, string>>): Record<string, string | null> {
  return revision === null ? { ...rolloutLabels, [LABEL_POD_TEMPLATE_HASH]: null } : { [LABEL_POD_TEMPLATE_HASH]: revision };
}

/**
 * Two Rollouts steering one Service would repoint it on every reconcile: the second one to come is refused. Returns
 * why, for the first Service named by the Rollout that another Rollout has claimed.
 */
export function claimConflict(names: ReadonlyArray<string | undefined>, owners: Readonly<Record<string, string | undefined>>, owner: string): string | undefined {
  for (const name of names) {
    if (name === undefined) continue;
    const claimedBy = owners[name];
    if (claimedBy !== undefined && claimedBy !== owner) return `Service ${name} is already steered by Rollout ${claimedBy}; a Service can serve one Rollout only`;
  }
  return undefined;
}

export type PingPong = NonNullable<CanaryStrategy['pingPong']>;

/** The stable side status recorded; ping before any (Argo's first promotion makes ping stable). */
export const recordedStableSide = (status: RolloutStatus | undefined): PingPongSide => status?.canary?.stablePingPong ?? 'ping';

const otherSide = (side: PingPongSide): PingPongSide => (side === 'ping' ? 'pong' : 'ping');

/** pingPong's Services by role while `stableSide` is the stable one. */
export function pingPongServices(pingPong: PingPong, stableSide: PingPongSide): { stable: string; canary: string } {
  const stable = stableSide === 'ping' ? pingPong.pingService : pingPong.pongService;
  return { stable, canary: stable === pingPong.pingService ? pingPong.pongService : pingPong.pingService };
}

/**
 * As Argo's GetStableAndCanaryServices: ALB splits between pingPong's Services whenever they are given; host-level
 * Istio only when stableService and canaryService are not both given; every other router between those two.
 */
function usesPingPong(router: RouterName, canary: Pick<CanaryStrategy, 'pingPong' | 'stableService' | 'canaryService'>): boolean {
  if (canary.pingPong === undefined) return false;
  return router === 'alb' || (router === 'istio' && (canary.stableService === undefined || canary.canaryService === undefined));
}

/** Every router the Rollout names, with the Services it splits between while `stableSide` is pingPong's stable one. */
export function routerServices(canary: CanaryStrategy, stableSide: PingPongSide): RouterServices[] {
  if (canary.trafficRouting === undefined) return [];
  return routersNamed(canary.trafficRouting).map((router) => {
    if (canary.pingPong === undefined || !usesPingPong(router, canary)) return { router, stableService: canary.stableService, canaryService: canary.canaryService };
    const sides = pingPongServices(canary.pingPong, stableSide);
    return { router, stableService: sides.stable, canaryService: sides.canary };
  });
}

/** The Services on each side of the split: stableService and canaryService, and pingPong's in `stableSide`'s roles. */
export function servicesBySide(canary: Pick<CanaryStrategy, 'pingPong' | 'stableService' | 'canaryService'>, stableSide: PingPongSide): { stable: string[]; canary: string[] } {
  const sides = canary.pingPong === undefined ? undefined : pingPongServices(canary.pingPong, stableSide);
  const present = (...names: Array<string | undefined>): string[] => names.filter((name): name is string => name !== undefined);
  return { stable: present(canary.stableService, sides?.stable), canary: present(canary.canaryService, sides?.canary) };
}

/** The one value every item has; undefined when they differ (or there are none). */
function agreed<T>(values: readonly T[]): T | undefined {
  return values.length > 0 && values.every((value) => value === values[0]) ? values[0] : undefined;
}

/**
 * The observation with what each side selects: the value every Service of that side agrees on (the stable side has
 * switched only when all of them have); what the router reported (an Istio subset) where the side has no Service.
 */
export function withSideSelects(observed: TrafficObservation, bySide: { stable: string[]; canary: string[] }, selects: ServiceSelects): TrafficObservation {
  const sideSelects = (names: string[], reported: string | null | undefined): string | null | undefined =>
    names.length === 0 ? reported : agreed(names.map((name) => selects[name]));
  return { ...observed, stableSelects: sideSelects(bySide.stable, observed.stableSelects), canarySelects: sideSelects(bySide.canary, observed.canarySelects) };
}

/**
 * The stable revision is on the canary side, not yet on the stable side: a promotion (or the first revision) waits
 * for the roles to swap. Until they do, the canary side keeps it and takes all traffic once it is whole.
 */
export function awaitingSwap(pingPong: PingPong, routedWith: PingPongSide, stableRevision: string | undefined, selects: ServiceSelects): boolean {
  const sides = pingPongServices(pingPong, routedWith);
  return stableRevision !== undefined && selects[sides.stable] !== stableRevision && selects[sides.canary] === stableRevision;
}

/**
 * Which pingPong Service is stable after this reconcile. The roles swap once the routers report all traffic on the
 * canary side while it awaits the swap: the data plane then already sends everything where the swapped roles say,
 * so the swap moves no traffic and changes no selector. It takes effect on the routers at the next reconcile.
 */
export function stableSideAfter(input: {
  pingPong: PingPong;
  /** The side the routers were observed (and are applied) as stable this reconcile. */
  routedWith: PingPongSide;
  stableRevision: string | undefined;
  selects: ServiceSelects;
  /** The canary side's weight every router reports in effect; undefined when they cannot say. */
  observedWeight: number | undefined;
}): PingPongSide {
  const swap = input.observedWeight === 100 && awaitingSwap(input.pingPong, input.routedWith, input.stableRevision, input.selects);
  return swap ? otherSide(input.routedWith) : input.routedWith;
}

/**
 * What pingPong's Services should select, in this reconcile's roles. The stable side is pointed only when the
 * Rollout first records a stable side, and kept where it is otherwise: it changes hands by the swap above. The
 * canary side selects the canary (a superseded one while it keeps weight, an aborted one too: no Service under
 * traffic changes its selector), and keeps the stable revision while it awaits the swap. When the template's
 * revision is stable and neither side selects it, the canary side takes it once no traffic is on it.
 */
export function desiredPingPongServices(input: {
  pingPong: PingPong;
  routedWith: PingPongSide;
  /** No stable side recorded yet (status.canary.stablePingPong absent): the stable side is claimed as it is. */
  claimStable: boolean;
  stableRevision: string | undefined;
  currentRevision: string;
  heldCanary: string | undefined;
  selects: ServiceSelects;
  observedWeight: number | undefined;
}): Array<Omit<ServiceTarget, 'selector'>> {
  const stable = input.stableRevision;
  if (stable === undefined) return [];
  const sides = pingPongServices(input.pingPong, input.routedWith);
  if (!input.claimStable && awaitingSwap(input.pingPong, input.routedWith, stable, input.selects)) return [{ name: sides.canary, role: 'canary', revision: stable }];
  const stableSelected = input.selects[sides.stable] === stable;
  const targets: Array<Omit<ServiceTarget, 'selector'>> = [];
  if (stableSelected || input.claimStable) targets.push({ name: sides.stable, role: 'stable', revision: stable });
  if (input.currentRevision !== stable) {
    const selected = input.selects[sides.canary];
    const wanted = input.heldCanary ?? input.currentRevision;
    // Whatever else is decided (a new canary, an abort), the canary side's selector moves only once its weight reads 0.
    const revision = typeof selected === 'string' && selected !== wanted && input.observedWeight !== 0 ? selected : wanted;
    targets.push({ name: sides.canary, role: 'canary', revision });
  } else if (!stableSelected && !input.claimStable && input.observedWeight === 0) {
    targets.push({ name: sides.canary, role: 'canary', revision: stable });
  }
  return targets;
}
