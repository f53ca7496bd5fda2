import type * as k8s from '@kubernetes/client-node';
import type { TrafficRouting } from '../../api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { agreed, patchObject, percentOf, readObject, type CustomObject, type Kind } from './objects.js';

export const VIRTUAL_SERVICE: Kind = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', kind: 'VirtualService' };
export const DESTINATION_RULE: Kind = { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', kind: 'DestinationRule' };

type IstioConfig = NonNullable<TrafficRouting['istio']>;

interface Destination {
  destination?: { host?: string; subset?: string; [key: string]: unknown };
  weight?: number;
  [key: string]: unknown;
}
interface HttpRoute {
  name?: string;
  route?: Destination[];
  [key: string]: unknown;
}
interface Subset {
  name: string;
  labels?: Record<string, string>;
  [key: string]: unknown;
}

/** `svc`, `svc.ns`, `svc.ns.svc` and `svc.ns.svc.cluster.local` all name the Service svc of namespace ns. */
function hostNames(host: string | undefined, service: string | undefined, namespace: string): boolean {
  if (host === undefined || service === undefined) return false;
  return host === service || host === `${service}.${namespace}` || host === `${service}.${namespace}.svc` || host.startsWith(`${service}.${namespace}.svc.`);
}

/**
 * Istio: host-level (destinations naming canaryService and stableService) or subset-level (destinations naming the
 * DestinationRule's canary and stable subsets, whose pod-template-hash labels follow the revisions) weights in
 * the VirtualService's HTTP routes.
 */
export class IstioRouter implements TrafficRouter {
  readonly kind = 'istio';

  constructor(
    private readonly api: k8s.CustomObjectsApi,
    private readonly config: IstioConfig,
  ) {}

  /** Which side a destination is: canary, stable, or neither. */
  private sideOf(destination: Destination, context: RouterContext): 'canary' | 'stable' | undefined {
    const rule = this.config.destinationRule;
    if (rule !== undefined) {
      if (destination.destination?.subset === rule.canarySubsetName) return 'canary';
      if (destination.destination?.subset === rule.stableSubsetName) return 'stable';
      return undefined;
    }
    if (hostNames(destination.destination?.host, context.canaryService, context.namespace)) return 'canary';
    if (hostNames(destination.destination?.host, context.stableService, context.namespace)) return 'stable';
    return undefined;
  }

  private async read(context: RouterContext): Promise<{ vs?: CustomObject; routes: HttpRoute[]; dr?: CustomObject; problem?: string }> {
    const name = this.config.virtualService.name;
    const vs = await readObject(this.api, VIRTUAL_SERVICE, context.namespace, name);
    if (vs === undefined) return { routes: [], problem: `VirtualService ${context.namespace}/${name} not found` };
    const all = (vs.spec?.http as HttpRoute[] | undefined) ?? [];
    const wanted = this.config.virtualService.routes;
    const missing = (wanted ?? []).filter((route) => !all.some((candidate) => candidate.name === route));
    if (missing.length > 0) return { vs, routes: all, problem: `VirtualService ${context.namespace}/${name} has no HTTP route named ${missing.join(', ')}` };
    const oneSided = (wanted ?? []).filter((route) => !all.some((candidate) => candidate.name === route && this.isSplit(candidate, context)));
    if (oneSided.length > 0) {
      return { vs, routes: all, problem: `VirtualService ${context.namespace}/${name}: HTTP route ${oneSided.join(', ')} has no canary and stable destination to split between` };
    }
    const split = all.filter((route) => this.isSplit(route, context));
    if (split.length === 0) return { vs, routes: all, problem: `VirtualService ${context.namespace}/${name} has no HTTP route with both a canary and a stable destination` };
    let dr: CustomObject | undefined;
    const rule = this.config.destinationRule;
    if (rule !== undefined) {
      dr = await readObject(this.api, DESTINATION_RULE, context.namespace, rule.name);
      if (dr === undefined) return { vs, routes: all, problem: `DestinationRule ${context.namespace}/${rule.name} not found` };
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const absent = [rule.canarySubsetName, rule.stableSubsetName].filter((subset) => !subsets.some((candidate) => candidate.name === subset));
      if (absent.length > 0) return { vs, routes: all, dr, problem: `DestinationRule ${context.namespace}/${rule.name} has no subset ${absent.join(', ')}` };
    }
    return { vs, routes: all, ...(dr !== undefined && { dr }) };
  }

  /**
   * A route whose weights Fledge sets: one of the named routes (every route when none is named) with both a canary and
   * a stable destination. Any other route (to another host, say) is neither read nor written.
   */
  private isSplit(route: HttpRoute, context: RouterContext): boolean {
    const wanted = this.config.virtualService.routes;
    if (wanted !== undefined && (route.name === undefined || !wanted.includes(route.name))) return false;
    const sides = (route.route ?? []).map((destination) => this.sideOf(destination, context));
    return sides.includes('canary') && sides.includes('stable');
  }

  /** The canary's percent in each split route. */
  private weightsOf(routes: HttpRoute[], context: RouterContext): Array<number | undefined> {
    return routes
      .filter((route) => this.isSplit(route, context))
      .map((route) => {
        const sum = (side: 'canary' | 'stable'): number =>
          (route.route ?? []).filter((destination) => this.sideOf(destination, context) === side).reduce((total, destination) => total + (destination.weight ?? 0), 0);
        return percentOf(sum('canary'), sum('stable'));
      });
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { routes, dr, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const observation: TrafficObservation = { canaryWeight: agreed(this.weightsOf(routes, context)), headerRoutes: [], mirrorRoutes: [] };
    if (dr !== undefined && this.config.destinationRule !== undefined) {
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const selects = (name: string | undefined): string | null => subsets.find((subset) => subset.name === name)?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? null;
      observation.stableSelects = selects(this.config.destinationRule.stableSubsetName);
      observation.canarySelects = selects(this.config.destinationRule.canarySubsetName);
    }
    return observation;
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { vs, routes, dr, problem } = await this.read(context);
    if (problem !== undefined || vs === undefined) throw new Error(problem ?? 'VirtualService not found');
    const rule = this.config.destinationRule;
    const writeSubsets = async (): Promise<boolean> => {
      if (dr === undefined || rule === undefined) return false;
      let changed = false;
      const subsets = ((dr.spec?.subsets as Subset[] | undefined) ?? []).map((subset) => {
        const revision = subset.name === rule.canarySubsetName ? target.canaryRevision : subset.name === rule.stableSubsetName ? target.stableRevision : false;
        if (revision === false || (subset.labels?.[LABEL_POD_TEMPLATE_HASH] ?? undefined) === revision) return subset;
        changed = true;
        const labels = { ...(subset.labels ?? {}) };
        if (revision === undefined) delete labels[LABEL_POD_TEMPLATE_HASH];
        else labels[LABEL_POD_TEMPLATE_HASH] = revision;
        return { ...subset, labels };
      });
      if (changed) await patchObject(this.api, DESTINATION_RULE, dr, { spec: { ...dr.spec, subsets } });
      return changed;
    };
    const writeWeights = async (): Promise<boolean> => {
      let changed = false;
      const http = routes.map((route) => {
        if (!this.isSplit(route, context)) return route;
        return {
          ...route,
          route: (route.route ?? []).map((destination) => {
            const side = this.sideOf(destination, context);
            const weight = side === 'canary' ? target.canaryWeight : side === 'stable' ? 100 - target.canaryWeight : destination.weight;
            if (weight === destination.weight) return destination;
            changed = true;
            return { ...destination, weight };
          }),
        };
      });
      if (changed) await patchObject(this.api, VIRTUAL_SERVICE, vs, { spec: { ...vs.spec, http } });
      return changed;
    };
    // No weight may reach a subset while it selects a revision that should not have it: weight coming off the canary
    // (an abort, a new template whose pods do not exist yet) goes before the subsets move, weight going on after.
    const lowering = this.weightsOf(routes, context).some((weight) => weight === undefined || target.canaryWeight < weight);
    const [first, second] = lowering ? [writeWeights, writeSubsets] : [writeSubsets, writeWeights];
    const wroteFirst = await first();
    const wroteSecond = await second();
    return wroteFirst || wroteSecond;
  }
}
