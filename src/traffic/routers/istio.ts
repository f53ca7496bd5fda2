import { isDeepStrictEqual } from 'node:util';
import type { HeaderRoute, MirrorRoute, TrafficRouting } from '../../api/rollout.js';
import type { CustomApi } from '../../kube/api.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { agreed, patchObject, percentOf, readObject, type CustomObject, type Kind } from './objects.js';
import { stableWeightOf } from '../plan.js';

export const VIRTUAL_SERVICE: Kind = { group: 'networking.istio.io', version: 'v1', plural: 'virtualservices', kind: 'VirtualService' };
export const DESTINATION_RULE: Kind = { group: 'networking.istio.io', version: 'v1', plural: 'destinationrules', kind: 'DestinationRule' };
/** The hosts of the destinations Fledge added to the weighted routes beside stable and canary (experiment templates, the baseline), as a JSON list. */
export const ANNOTATION_ADDITIONAL_HOSTS = 'fledge.dev/additional-destinations';

/** The added hosts a VirtualService's annotation lists: only those destinations are Fledge's to weight and remove. */
function experimentHosts(vs: CustomObject | undefined): string[] {
  try {
    const listed = JSON.parse(vs?.metadata?.annotations?.[ANNOTATION_ADDITIONAL_HOSTS] ?? '[]') as unknown;
    return Array.isArray(listed) ? listed.filter((host): host is string => typeof host === 'string') : [];
  } catch {
    return [];
  }
}

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
 *
 * Header and mirror routes are HTTP routes named as in managedRoutes, on top of the others in that order, as Argo
 * writes them: every HTTP route with such a name is the Rollout's, and goes when the target no longer has it.
 */
export class IstioRouter implements TrafficRouter {
  readonly kind = 'istio';

  constructor(
    private readonly api: CustomApi,
    private readonly config: IstioConfig,
    /** trafficRouting.managedRoutes, in precedence order. */
    private readonly managedRoutes: readonly string[] = [],
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

  /** An HTTP route named in managedRoutes: a header or mirror route of the Rollout's, never one of the user's. */
  private isManaged(route: Route): boolean {
    return route.name !== undefined && this.managedRoutes.includes(route.name);
  }

  private async read(context: RouterContext): Promise<{ vs?: CustomObject; sections: Sections; managed: Route[]; chosen: Chosen; dr?: CustomObject; problem?: string }> {
    const { name, routes: wanted, tlsRoutes, tcpRoutes } = this.config.virtualService;
    const vs = await readObject(this.api, VIRTUAL_SERVICE, context.namespace, name);
    const http = (vs?.spec?.http as Route[] | undefined) ?? [];
    // sections.http holds the user's HTTP routes only: the managed ones are rebuilt on every apply.
    const sections: Sections = {
      http: http.filter((route) => !this.isManaged(route)),
      tls: (vs?.spec?.tls as Route[] | undefined) ?? [],
      tcp: (vs?.spec?.tcp as Route[] | undefined) ?? [],
    };
    const managed = http.filter((route) => this.isManaged(route));
    const chosen: Chosen = { http: [], tls: [], tcp: [] };
    if (vs === undefined) return { sections, managed, chosen, problem: `VirtualService ${context.namespace}/${name} not found` };
    const failed = (problem: string) => ({ vs, sections, managed, chosen, problem: `VirtualService ${context.namespace}/${name}${problem}` });
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
      if (dr === undefined) return { vs, sections, managed, chosen, problem: `DestinationRule ${context.namespace}/${rule.name} not found` };
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const absent = [rule.canarySubsetName, rule.stableSubsetName].filter((subset) => !subsets.some((candidate) => candidate.name === subset));
      if (absent.length > 0) return { vs, sections, managed, chosen, dr, problem: `DestinationRule ${context.namespace}/${rule.name} has no subset ${absent.join(', ')}` };
    }
    return { vs, sections, managed, chosen, ...(dr !== undefined && { dr }) };
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

  /**
   * In each chosen route (http, then tls, then tcp), the canary's percent (or, given `host`, that experiment host's)
   * of what the canary, the stable and the experiment's `hosts` weigh together.
   */
  private weightsOf(sections: Sections, chosen: Chosen, context: RouterContext, hosts: readonly string[], host?: string): Array<number | undefined> {
    return SECTIONS.flatMap((section) =>
      chosen[section].map((index) => {
        const destinations = (sections[section][index] as Route).route ?? [];
        const counted = destinations.filter((destination) => this.sideOf(destination, context) !== undefined || hosts.includes(destination.destination?.host ?? ''));
        const isWhose = (destination: Destination): boolean =>
          host === undefined ? this.sideOf(destination, context) === 'canary' : this.sideOf(destination, context) === undefined && destination.destination?.host === host;
        const sum = (list: Destination[]): number => list.reduce((total, destination) => total + (destination.weight ?? 0), 0);
        return percentOf(sum(counted.filter(isWhose)), sum(counted.filter((destination) => !isWhose(destination))));
      }),
    );
  }

  /**
   * The destinations of a weighted route, with the target's weights. An experiment's hosts are Fledge's (as Argo's
   * processRoutes adds them): weighted, appended, or removed; `added` are those the VirtualService's annotation lists.
   */
  private reweighted(route: Route, target: TrafficTarget, context: RouterContext, added: readonly string[]): Destination[] {
    const wanted = new Map(target.additionalDestinations.map((destination) => [destination.serviceName, destination.weight]));
    const kept = (route.route ?? []).flatMap((destination): Destination[] => {
      const side = this.sideOf(destination, context);
      const host = destination.destination?.host ?? '';
      const experiment = side === undefined && (added.includes(host) || wanted.has(host));
      if (experiment && !wanted.has(host)) return [];
      const weight = side === 'canary' ? target.canaryWeight : side === 'stable' ? stableWeightOf(target) : experiment ? wanted.get(host) : destination.weight;
      return weight === destination.weight ? [destination] : [{ ...destination, weight }];
    });
    const missing = [...wanted].filter(([host]) => !kept.some((destination) => this.sideOf(destination, context) === undefined && destination.destination?.host === host));
    return [...kept, ...missing.map(([host, weight]) => ({ destination: { host }, weight }))];
  }

  /**
   * The managed routes the target asks for, in managedRoutes order, as Argo writes them: a header route sends every
   * request one of its matches takes (each header its own match, so any of them) to the canary destination of the
   * first weighted route; a mirror route routes as that route does and mirrors `percentage`% to the canary.
   */
  private managedFor(target: TrafficTarget, base: Route | undefined, context: RouterContext, added: readonly string[]): Route[] {
    const routes = [...target.headerRoutes, ...target.mirrorRoutes];
    if (routes.length === 0) return [];
    const canary = base?.route?.find((destination) => this.sideOf(destination, context) === 'canary')?.destination;
    if (base === undefined || canary === undefined) {
      throw new Error(`${routes.map((route) => route.name).join(', ')}: VirtualService ${context.namespace}/${this.config.virtualService.name} has no HTTP route to split, so no canary destination for them`);
    }
    const rank = (name: string): number => this.managedRoutes.indexOf(name);
    const header = (route: HeaderRoute): Route => ({
      name: route.name,
      match: (route.match ?? []).map((match) => ({ headers: { [match.headerName]: { ...match.headerValue } } })),
      route: [{ destination: { ...canary }, weight: 100 }],
    });
    const mirror = (route: MirrorRoute): Route => ({
      name: route.name,
      match: (route.match ?? []).map((match) => ({
        ...(match.method !== undefined && { method: { ...match.method } }),
        ...(match.path !== undefined && { uri: { ...match.path } }),
        ...(match.headers !== undefined && { headers: structuredClone(match.headers) }),
      })),
      route: this.reweighted(base, target, context, added),
      mirror: { ...canary },
      mirrorPercentage: { value: route.percentage ?? 100 },
    });
    return [...target.headerRoutes.map(header), ...target.mirrorRoutes.map(mirror)].sort((a, b) => rank(a.name ?? '') - rank(b.name ?? ''));
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { vs, sections, managed, chosen, dr, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const toCanary = (destination: Destination['destination']): boolean => this.sideOf({ destination }, context) === 'canary';
    const hosts = experimentHosts(vs);
    const observation: TrafficObservation = {
      canaryWeight: agreed(this.weightsOf(sections, chosen, context, hosts)),
      ...(hosts.length > 0 && { additionalDestinations: hosts.map((host) => ({ serviceName: host, weight: agreed(this.weightsOf(sections, chosen, context, hosts, host)) })) }),
      headerRoutes: managed.filter((route) => route.mirror === undefined && (route.route ?? []).length > 0 && (route.route ?? []).every((d) => toCanary(d.destination))).map((route) => route.name ?? ''),
      mirrorRoutes: managed.filter((route) => typeof route.mirror === 'object' && toCanary(route.mirror as Destination['destination'])).map((route) => route.name ?? ''),
    };
    if (dr !== undefined && this.config.destinationRule !== undefined) {
      const subsets = (dr.spec?.subsets as Subset[] | undefined) ?? [];
      const selects = (name: string | undefined): string | null => subsets.find((subset) => subset.name === name)?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? null;
      observation.stableSelects = selects(this.config.destinationRule.stableSubsetName);
      observation.canarySelects = selects(this.config.destinationRule.canarySubsetName);
    }
    return observation;
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { vs, sections, managed, chosen, dr, problem } = await this.read(context);
    if (problem !== undefined || vs === undefined) throw new Error(problem ?? 'VirtualService not found');
    const added = experimentHosts(vs);
    const wantedManaged = this.managedFor(target, chosen.http[0] !== undefined ? sections.http[chosen.http[0]] : undefined, context, added);
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
        const own = sections[section].map((route, index) => (chosen[section].includes(index) ? { ...route, route: this.reweighted(route, target, context, added) } : route));
        const current = (vs.spec?.[section] as Route[] | undefined) ?? [];
        const routes = section === 'http' ? [...wantedManaged, ...own] : own;
        // Compared as values: the apiserver hands back an object's keys in its own order.
        if (isDeepStrictEqual(routes, current)) continue;
        spec[section] = routes;
        changed = true;
      }
      const hosts = target.additionalDestinations.length > 0 ? JSON.stringify(target.additionalDestinations.map((destination) => destination.serviceName)) : null;
      const annotated = (vs.metadata?.annotations?.[ANNOTATION_ADDITIONAL_HOSTS] ?? null) !== hosts;
      if (changed || annotated) await patchObject(this.api, VIRTUAL_SERVICE, vs, { metadata: { annotations: { [ANNOTATION_ADDITIONAL_HOSTS]: hosts } }, spec });
      return changed || annotated;
    };
    // No traffic may reach a subset while it selects a revision that should not have it: weight or a managed route
    // coming off the canary (an abort, a new template whose pods do not exist yet) goes before the subsets move,
    // weight going on after.
    const routeGoing = managed.some((route) => !wantedManaged.some((wanted) => wanted.name === route.name));
    const lowering = routeGoing || this.weightsOf(sections, chosen, context, added).some((weight) => weight === undefined || target.canaryWeight < weight);
    const [first, second] = lowering ? [writeWeights, writeSubsets] : [writeSubsets, writeWeights];
    const wroteFirst = await first();
    const wroteSecond = await second();
    return wroteFirst || wroteSecond;
  }
}
