import type { CustomApi } from '../../kube/api.js';
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
/** An entry of the VirtualService's `http`, `tls` or `tcp` list. */
interface Route {
  name?: string;
  match?: Array<{ port?: number; sniHosts?: string[]; [key: string]: unknown }>;
  route?: Destination[];
  [key: string]: unknown;
}
type Section = 'http' | 'tls' | 'tcp';
const SECTIONS: readonly Section[] = ['http', 'tls', 'tcp'];
type Sections = Record<Section, Route[]>;
/** Which entries of each list Fledge weights, by index. */
type Chosen = Record<Section, number[]>;
type L4Route = { port?: number; sniHosts?: string[] };
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
 * Whether a tls or tcp entry is one a tlsRoutes or tcpRoutes item names, as Argo matches them: every one of the
 * entry's matches is on the port, and the SNI hosts of all its matches are the hosts given. A field left out does not
 * constrain (Argo would match only entries without a port or without SNI hosts).
 */
function matchesL4(wanted: L4Route, route: Route): boolean {
  const matches = route.match ?? [];
  if (wanted.port !== undefined && (matches.length === 0 || !matches.every((match) => match.port === wanted.port))) return false;
  if (wanted.sniHosts !== undefined) {
    const hosts = new Set(matches.flatMap((match) => match.sniHosts ?? []));
    const given = new Set(wanted.sniHosts);
    if (hosts.size !== given.size || ![...given].every((host) => hosts.has(host))) return false;
  }
  return true;
}

function describeL4(wanted: L4Route): string {
  const parts = [
    ...(wanted.port !== undefined ? [`port ${wanted.port}`] : []),
    ...(wanted.sniHosts !== undefined ? [`sniHosts ${wanted.sniHosts.join(', ')}`] : []),
  ];
  return parts.length > 0 ? `matching ${parts.join(' and ')}` : 'at all';
}

/**
 * Istio: host-level (destinations naming canaryService and stableService) or subset-level (destinations naming the
 * DestinationRule's canary and stable subsets, whose pod-template-hash labels follow the revisions) weights in
 * the VirtualService's HTTP routes, and in the TLS and TCP routes that tlsRoutes and tcpRoutes match.
 */
export class IstioRouter implements TrafficRouter {
  readonly kind = 'istio';

  constructor(
    private readonly api: CustomApi,
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

  private async read(context: RouterContext): Promise<{ vs?: CustomObject; sections: Sections; chosen: Chosen; dr?: CustomObject; problem?: string }> {
    const { name, routes: wanted, tlsRoutes, tcpRoutes } = this.config.virtualService;
    const vs = await readObject(this.api, VIRTUAL_SERVICE, context.namespace, name);
    const sections: Sections = {
      http: (vs?.spec?.http as Route[] | undefined) ?? [],
      tls: (vs?.spec?.tls as Route[] | undefined) ?? [],
      tcp: (vs?.spec?.tcp as Route[] | undefined) ?? [],
    };
    const chosen: Chosen = { http: [], tls: [], tcp: [] };
    if (vs === undefined) return { sections, chosen, problem: `VirtualService ${context.namespace}/${name} not found` };
    const failed = (problem: string) => ({ vs, sections, chosen, problem: `VirtualService ${context.namespace}/${name}${problem}` });
    const all = sections.http;
    const missing = (wanted ?? []).filter((route) => !all.some((candidate) => candidate.name === route));
    if (missing.length > 0) return failed(` has no HTTP route named ${missing.join(', ')}`);
    const oneSided = (wanted ?? []).filter((route) => !all.some((candidate) => candidate.name === route && this.isSplit(candidate, context)));
    if (oneSided.length > 0) return failed(`: HTTP route ${oneSided.join(', ')} has no canary and stable destination to split between`);
    chosen.http = all.flatMap((route, index) => (this.isSplit(route, context) ? [index] : []));
    for (const [section, label, items] of [['tls', 'TLS', tlsRoutes], ['tcp', 'TCP', tcpRoutes]] as const) {
      const indexes = new Set<number>();
      for (const item of items ?? []) {
        const matching = sections[section].flatMap((route, index) => (matchesL4(item, route) ? [index] : []));
        if (matching.length === 0) return failed(` has no ${label} route ${describeL4(item)}`);
        const unsplit = matching.filter((index) => !this.hasBothSides(sections[section][index] as Route, context));
        if (unsplit.length > 0) {
          return failed(`: ${label} route ${unsplit.map((index) => `${section}[${index}]`).join(', ')} (${describeL4(item)}) has no canary and stable destination to split between`);
        }
        for (const index of matching) indexes.add(index);
      }
      chosen[section] = [...indexes].sort((a, b) => a - b);
    }
    if (SECTIONS.every((section) => chosen[section].length === 0)) return failed(' has no HTTP route with both a canary and a stable destination');
    let dr: CustomObject | undefined;
    const rule = this.config.destinationRule;
    if (rule !== undefined) {
      dr = await readObject(this.api, DESTINATION_RULE, context.namespace, rule.name);
      if (dr === undefined) return { vs, sections, chosen, problem: `DestinationRule ${context.namespace}/${rule.name} not found` };
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const absent = [rule.canarySubsetName, rule.stableSubsetName].filter((subset) => !subsets.some((candidate) => candidate.name === subset));
      if (absent.length > 0) return { vs, sections, chosen, dr, problem: `DestinationRule ${context.namespace}/${rule.name} has no subset ${absent.join(', ')}` };
    }
    return { vs, sections, chosen, ...(dr !== undefined && { dr }) };
  }

  /**
   * An HTTP route whose weights Fledge sets: one of the named routes (every route when none is named) with both a
   * canary and a stable destination. Any other route (to another host, say) is neither read nor written.
   */
  private isSplit(route: Route, context: RouterContext): boolean {
    const wanted = this.config.virtualService.routes;
    if (wanted !== undefined && (route.name === undefined || !wanted.includes(route.name))) return false;
    return this.hasBothSides(route, context);
  }

  private hasBothSides(route: Route, context: RouterContext): boolean {
    const sides = (route.route ?? []).map((destination) => this.sideOf(destination, context));
    return sides.includes('canary') && sides.includes('stable');
  }

  /** The canary's percent in each chosen route (http, then tls, then tcp). */
  private weightsOf(sections: Sections, chosen: Chosen, context: RouterContext): Array<number | undefined> {
    return SECTIONS.flatMap((section) =>
      chosen[section].map((index) => {
        const route = sections[section][index] as Route;
        const sum = (side: 'canary' | 'stable'): number =>
          (route.route ?? []).filter((destination) => this.sideOf(destination, context) === side).reduce((total, destination) => total + (destination.weight ?? 0), 0);
        return percentOf(sum('canary'), sum('stable'));
      }),
    );
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { sections, chosen, dr, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const observation: TrafficObservation = { canaryWeight: agreed(this.weightsOf(sections, chosen, context)), headerRoutes: [], mirrorRoutes: [] };
    if (dr !== undefined && this.config.destinationRule !== undefined) {
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const selects = (name: string | undefined): string | null => subsets.find((subset) => subset.name === name)?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? null;
      observation.stableSelects = selects(this.config.destinationRule.stableSubsetName);
      observation.canarySelects = selects(this.config.destinationRule.canarySubsetName);
    }
    return observation;
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { vs, sections, chosen, dr, problem } = await this.read(context);
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
      const spec: Record<string, unknown> = { ...vs.spec };
      let changed = false;
      for (const section of SECTIONS) {
        let sectionChanged = false;
        const routes = sections[section].map((route, index) => {
          if (!chosen[section].includes(index)) return route;
          return {
            ...route,
            route: (route.route ?? []).map((destination) => {
              const side = this.sideOf(destination, context);
              const weight = side === 'canary' ? target.canaryWeight : side === 'stable' ? 100 - target.canaryWeight : destination.weight;
              if (weight === destination.weight) return destination;
              sectionChanged = true;
              return { ...destination, weight };
            }),
          };
        });
        if (sectionChanged) spec[section] = routes;
        changed ||= sectionChanged;
      }
      if (changed) await patchObject(this.api, VIRTUAL_SERVICE, vs, { spec });
      return changed;
    };
    // No weight may reach a subset while it selects a revision that should not have it: weight coming off the canary
    // (an abort, a new template whose pods do not exist yet) goes before the subsets move, weight going on after.
    const lowering = this.weightsOf(sections, chosen, context).some((weight) => weight === undefined || target.canaryWeight < weight);
    const [first, second] = lowering ? [writeWeights, writeSubsets] : [writeSubsets, writeWeights];
    const wroteFirst = await first();
    const wroteSecond = await second();
    return wroteFirst || wroteSecond;
  }
}
