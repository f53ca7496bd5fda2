import type { CustomApi } from '../../kube/api.js';
import type { GatewayApiRouting, HeaderRoute, MirrorRoute, StringMatch } from '../../api/rollout.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { stableWeightOf } from '../plan.js';
import { agreed, contentHash, escapeRegex, patchObject, percentOf, readObject, type CustomObject, type Kind } from './objects.js';

export const HTTP_ROUTE: Kind = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', kind: 'HTTPRoute' };

/** The trailing rules of an HTTPRoute that Fledge added for header and mirror routes, in order. */
export const ANNOTATION_MANAGED_RULES = 'fledge.dev/managed-rules';
/** The Services of the backendRefs Fledge added to the weighted rules beside stable and canary (experiment templates, the baseline), as a JSON list. */
export const ANNOTATION_ADDITIONAL_BACKENDS = 'fledge.dev/additional-backends';

interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}
interface HeaderMatch {
  type?: string;
  name: string;
  value: string;
}
interface RouteMatch {
  path?: { type?: string; value?: string };
  headers?: HeaderMatch[];
  method?: string;
}
interface Rule {
  matches?: RouteMatch[];
  filters?: Array<Record<string, unknown>>;
  backendRefs?: BackendRef[];
  [key: string]: unknown;
}
interface ManagedRule {
  name: string;
  type: 'header' | 'mirror';
  hash?: string;
}

/** Gateway API has Exact and RegularExpression header matches; a prefix becomes an anchored expression. */
function headerMatch(name: string, match: StringMatch): HeaderMatch {
  if (match.exact !== undefined) return { type: 'Exact', name, value: match.exact };
  if (match.prefix !== undefined) return { type: 'RegularExpression', name, value: `^${escapeRegex(match.prefix)}.*` };
  return { type: 'RegularExpression', name, value: match.regex ?? '' };
}

function pathMatch(match: StringMatch): RouteMatch['path'] {
  if (match.exact !== undefined) return { type: 'Exact', value: match.exact };
  if (match.prefix !== undefined) return { type: 'PathPrefix', value: match.prefix };
  return { type: 'RegularExpression', value: match.regex ?? '' };
}

/** A backendRef names the Service `service` of the Rollout's namespace. */
function refersTo(ref: BackendRef, service: string, routeNamespace: string, serviceNamespace: string): boolean {
  const isService = (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service';
  return isService && ref.name === service && (ref.namespace ?? routeNamespace) === serviceNamespace;
}

export interface ParsedRoute {
  route: CustomObject;
  rules: Rule[];
  managed: ManagedRule[];
  /** Indexes (into rules) of the user's rules whose backendRefs name both Services. */
  weighted: number[];
  /** The experiment Services whose backendRefs Fledge added to them (only those are Fledge's to weight and remove). */
  experiments: string[];
}

function listedIn(route: CustomObject, annotation: string): unknown[] {
  try {
    const raw = JSON.parse(route.metadata?.annotations?.[annotation] ?? '[]') as unknown;
    return Array.isArray(raw) ? raw : [];
  } catch {
    return [];
  }
}

export function parseRoute(route: CustomObject, context: RouterContext): ParsedRoute {
  const rules = structuredClone(((route.spec?.rules as Rule[] | undefined) ?? []).filter((rule) => typeof rule === 'object' && rule !== null));
  const listed = (listedIn(route, ANNOTATION_MANAGED_RULES) as ManagedRule[]).filter((entry) => typeof entry?.name === 'string');
  const experiments = listedIn(route, ANNOTATION_ADDITIONAL_BACKENDS).filter((name): name is string => typeof name === 'string');
  const routeNamespace = route.metadata?.namespace ?? '';
  // A route re-applied from its manifest keeps the annotation but not the rules it names: only the trailing rules
  // still shaped as Fledge wrote them are managed, so the user's own rules are never taken for them.
  const isCanary = (ref: BackendRef | undefined): boolean =>
    ref !== undefined && context.canaryService !== undefined && refersTo(ref, context.canaryService, routeNamespace, context.namespace);
  const shaped = (rule: Rule, entry: ManagedRule): boolean =>
    entry.type === 'mirror'
      ? (rule.filters ?? []).some((filter) => filter.type === 'RequestMirror' && isCanary((filter.requestMirror as { backendRef?: BackendRef } | undefined)?.backendRef))
      : rule.backendRefs?.length === 1 && isCanary(rule.backendRefs[0]);
  let kept = 0;
  while (kept < listed.length && kept < rules.length && shaped(rules[rules.length - 1 - kept] ?? {}, listed[listed.length - 1 - kept] as ManagedRule)) kept++;
  const managed = listed.slice(listed.length - kept);
  const own = rules.length - managed.length;
  const weighted: number[] = [];
  rules.slice(0, own).forEach((rule, index) => {
    const refs = rule.backendRefs ?? [];
    const names = (service: string | undefined): boolean =>
      service !== undefined && refs.some((ref) => refersTo(ref, service, routeNamespace, context.namespace));
    if (names(context.stableService) && names(context.canaryService)) weighted.push(index);
  });
  return { route, rules, managed, weighted, experiments };
}

/**
 * The canary's percent in one rule (or, given `service`, that experiment Service's): its refs' weight over what the
 * canary, the stable and the experiment's Services weigh together (a ref without weight weighs 1).
 */
function ruleWeight(rule: Rule, context: RouterContext, routeNamespace: string, experiments: readonly string[], service = context.canaryService): number | undefined {
  const sum = (name: string | undefined): number =>
    (rule.backendRefs ?? []).filter((ref) => name !== undefined && refersTo(ref, name, routeNamespace, context.namespace)).reduce((total, ref) => total + (ref.weight ?? 1), 0);
  const all = [context.canaryService, context.stableService, ...experiments].reduce((total, name) => total + sum(name), 0);
  return percentOf(sum(service), all - sum(service));
}

/**
 * Taken up: every parent (Gateway) the route's status lists has accepted this generation. A route no Gateway
 * controller has reported on is not in effect yet.
 */
export function acceptedByParents(route: CustomObject): boolean {
  const parents = (route.status?.parents as Array<{ conditions?: Array<{ type: string; status: string; observedGeneration?: number }> }> | undefined) ?? [];
  const generation = route.metadata?.generation;
  return (
    parents.length > 0 &&
    parents.every((parent) => {
      const accepted = parent.conditions?.find((condition) => condition.type === 'Accepted');
      return accepted?.status === 'True' && (accepted.observedGeneration === undefined || generation === undefined || accepted.observedGeneration >= generation);
    })
  );
}

function headerRule(route: HeaderRoute, base: Rule | undefined, canary: BackendRef): Rule {
  const headers = (route.match ?? []).map((match) => headerMatch(match.headerName, match.headerValue));
  const paths = base?.matches?.length ? base.matches : [{}];
  return { matches: paths.map((match) => ({ ...match, headers: [...(match.headers ?? []), ...headers] })), backendRefs: [{ ...canary, weight: 1 }] };
}

function mirrorRule(route: MirrorRoute, stable: BackendRef, canary: BackendRef): Rule {
  const matches = (route.match ?? []).map((match) => {
    if (match.method !== undefined && match.method.exact === undefined) {
      throw new Error(`setMirrorRoute ${route.name}: Gateway API matches an HTTP method exactly only`);
    }
    return {
      ...(match.path !== undefined && { path: pathMatch(match.path) }),
      ...(match.method?.exact !== undefined && { method: match.method.exact.toUpperCase() }),
      ...(match.headers !== undefined && { headers: Object.entries(match.headers).map(([name, value]) => headerMatch(name, value)) }),
    };
  });
  const mirrorTo: Record<string, unknown> = { name: canary.name, ...(canary.namespace && { namespace: canary.namespace }), ...(canary.port !== undefined && { port: canary.port }) };
  return {
    matches,
    filters: [{ type: 'RequestMirror', requestMirror: { backendRef: mirrorTo, ...(route.percentage !== undefined && { percent: route.percentage }) } }],
    backendRefs: [{ ...stable, weight: 1 }],
  };
}

/**
 * Sets one weighted rule's backendRefs to the target: the canary's weight, an experiment's Services' (refs added for
 * those not there yet, and removed for the ones Fledge added that are no longer wanted), and the stable's, the rest.
 * Whether it changed anything.
 */
function weighRule(rule: Rule, context: RouterContext, routeNamespace: string, target: TrafficTarget, experiments: readonly string[]): boolean {
  const refs = rule.backendRefs ?? [];
  const names = (ref: BackendRef, service: string | undefined): boolean => service !== undefined && refersTo(ref, service, routeNamespace, context.namespace);
  const wanted = (ref: BackendRef) => target.additionalDestinations.find((destination) => names(ref, destination.serviceName));
  const ours = (ref: BackendRef): boolean => wanted(ref) !== undefined || experiments.some((service) => names(ref, service));
  const kept = refs.filter((ref) => !ours(ref) || wanted(ref) !== undefined);
  const missing = target.additionalDestinations.filter((destination) => !kept.some((ref) => names(ref, destination.serviceName)));
  let changed = kept.length !== refs.length || missing.length > 0;
  for (const ref of kept) {
    let weight: number | undefined;
    if (names(ref, context.canaryService)) weight = target.canaryWeight;
    else if (names(ref, context.stableService)) weight = stableWeightOf(target);
    else weight = wanted(ref)?.weight;
    if (weight !== undefined && (ref.weight ?? 1) !== weight) {
      ref.weight = weight;
      changed = true;
    }
  }
  const elsewhere = routeNamespace !== context.namespace ? { namespace: context.namespace } : {};
  rule.backendRefs = [...kept, ...missing.map((destination): BackendRef => ({ name: destination.serviceName, ...elsewhere, port: destination.port, weight: destination.weight }))];
  return changed;
}

/** Gateway API HTTPRoutes: weights on the backendRefs naming canaryService and stableService, and managed rules. */
export class GatewayApiRouter implements TrafficRouter {
  readonly kind = 'gatewayAPI';

  constructor(
    private readonly api: CustomApi,
    private readonly config: GatewayApiRouting,
  ) {}

  private routes(): Array<{ name: string; useHeaderRoutes: boolean }> {
    if (this.config.httpRoutes !== undefined) return this.config.httpRoutes.map((route) => ({ name: route.name, useHeaderRoutes: route.useHeaderRoutes === true }));
    return this.config.httpRoute !== undefined ? [{ name: this.config.httpRoute, useHeaderRoutes: true }] : [];
  }

  private async read(context: RouterContext): Promise<{ parsed: ParsedRoute[]; problem?: string }> {
    const namespace = this.config.namespace ?? context.namespace;
    const parsed: ParsedRoute[] = [];
    for (const { name } of this.routes()) {
      const route = await readObject(this.api, HTTP_ROUTE, namespace, name);
      if (route === undefined) return { parsed, problem: `HTTPRoute ${namespace}/${name} not found` };
      const one = parseRoute(route, context);
      if (one.weighted.length === 0) {
        return { parsed, problem: `HTTPRoute ${namespace}/${name} has no rule whose backendRefs name both ${context.stableService} and ${context.canaryService}` };
      }
      parsed.push(one);
    }
    return { parsed };
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { parsed, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const weightsOf = (service?: string): Array<number | undefined> =>
      parsed.flatMap(({ route, rules, weighted, experiments }) => weighted.map((index) => ruleWeight(rules[index] ?? {}, context, route.metadata?.namespace ?? '', experiments, service)));
    const takenUp = parsed.every(({ route }) => acceptedByParents(route));
    const experiments = [...new Set(parsed.flatMap((one) => one.experiments))];
    // Managed routes count as in effect when every route that takes them has them.
    const takers = parsed.filter((_, index) => this.routes()[index]?.useHeaderRoutes === true);
    const common = (type: ManagedRule['type']): string[] => {
      const lists = takers.map(({ managed }) => managed.filter((rule) => rule.type === type).map((rule) => rule.name));
      return (lists[0] ?? []).filter((name) => lists.every((list) => list.includes(name)));
    };
    return {
      canaryWeight: takenUp ? agreed(weightsOf()) : undefined,
      ...(experiments.length > 0 && { additionalDestinations: experiments.map((service) => ({ serviceName: service, weight: takenUp ? agreed(weightsOf(service)) : undefined })) }),
      headerRoutes: common('header'),
      mirrorRoutes: common('mirror'),
    };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { parsed, problem } = await this.read(context);
    if (problem !== undefined) throw new Error(problem);
    let wrote = false;
    for (const [index, one] of parsed.entries()) {
      const useHeaderRoutes = this.routes()[index]?.useHeaderRoutes === true;
      const { route, rules, managed, weighted, experiments } = one;
      const routeNamespace = route.metadata?.namespace ?? '';
      const own = rules.slice(0, rules.length - managed.length);
      let changed = false;
      for (const ruleIndex of weighted) {
        const rule = own[ruleIndex];
        if (rule !== undefined) changed = weighRule(rule, context, routeNamespace, target, experiments) || changed;
      }
      const experimentAnnotation = target.additionalDestinations.length > 0 ? JSON.stringify(target.additionalDestinations.map((destination) => destination.serviceName)) : null;
      const experimentsChanged = (route.metadata?.annotations?.[ANNOTATION_ADDITIONAL_BACKENDS] ?? null) !== experimentAnnotation;
      const base = own[weighted[0] ?? 0];
      const refs = base?.backendRefs ?? [];
      const canaryRef = refs.find((ref) => context.canaryService !== undefined && refersTo(ref, context.canaryService, routeNamespace, context.namespace));
      const stableRef = refs.find((ref) => context.stableService !== undefined && refersTo(ref, context.stableService, routeNamespace, context.namespace));
      const added: Rule[] = [];
      const addedNames: ManagedRule[] = [];
      if (useHeaderRoutes && canaryRef !== undefined && stableRef !== undefined) {
        const add = (name: string, type: ManagedRule['type'], rule: Rule): void => {
          added.push(rule);
          // The apiserver fills in defaults, so what was written is recognised by a hash of what Fledge generated.
          addedNames.push({ name, type, hash: contentHash(rule) });
        };
        for (const header of target.headerRoutes) add(header.name, 'header', headerRule(header, base, canaryRef));
        for (const mirror of target.mirrorRoutes) add(mirror.name, 'mirror', mirrorRule(mirror, stableRef, canaryRef));
      }
      const annotation = addedNames.length > 0 ? JSON.stringify(addedNames) : null;
      const annotationBefore = route.metadata?.annotations?.[ANNOTATION_MANAGED_RULES] ?? null;
      // The managed rules the route really has (its annotation may name more).
      const present = managed.length > 0 ? JSON.stringify(managed) : null;
      if (!changed && !experimentsChanged && annotation === annotationBefore && annotation === present) continue;
      const nextRules = [...own, ...(annotation === present ? rules.slice(own.length) : added)];
      const annotations = { [ANNOTATION_MANAGED_RULES]: annotation, [ANNOTATION_ADDITIONAL_BACKENDS]: experimentAnnotation };
      await patchObject(this.api, HTTP_ROUTE, route, { metadata: { annotations }, spec: { rules: nextRules } });
      wrote = true;
    }
    // The weights are written; a managed route no route takes could never be in effect, so say why the step waits.
    const managed = [...target.headerRoutes, ...target.mirrorRoutes];
    if (managed.length > 0 && !this.routes().some((route) => route.useHeaderRoutes)) {
      throw new Error(`${managed.map((route) => route.name).join(', ')}: no HTTPRoute in gatewayAPI.httpRoutes has useHeaderRoutes: true`);
    }
    return wrote;
  }
}
