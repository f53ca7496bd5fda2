import type { HeaderRoute, TrafficRouting } from '../../api/rollout.js';
import type { CustomApi } from '../../kube/api.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import {
  agreed,
  contentHash,
  controlledByRollout,
  createObject,
  deleteObject,
  escapeRegex,
  patchObject,
  percentOf,
  readObject,
  rolloutOwnerReference,
  type CustomObject,
  type Kind,
} from './objects.js';

type ApisixConfig = NonNullable<TrafficRouting['apisix']>;

export const APISIX_ROUTE: Kind = { group: 'apisix.apache.org', version: 'v2', plural: 'apisixroutes', kind: 'ApisixRoute' };

/** What the APISIX ingress controller gives a backend that names no weight. */
const DEFAULT_WEIGHT = 100;

/** On a header route's ApisixRoute: a hash of the spec Fledge generated, which the apiserver may fill in. */
export const ANNOTATION_ROUTE_HASH = 'fledge.dev/route-hash';

interface Backend {
  serviceName?: unknown;
  weight?: unknown;
  [key: string]: unknown;
}
interface HttpRule {
  name?: unknown;
  backends?: unknown;
  [key: string]: unknown;
}

/** Argo's APISIX expressions for a header route's matches: each one a header condition, all of them to hold. */
function headerExprs(route: HeaderRoute): Array<Record<string, unknown>> {
  return (route.match ?? []).map(({ headerName, headerValue }) => {
    const subject = { scope: 'Header', name: headerName };
    if (headerValue.exact !== undefined) return { subject, op: 'Equal', value: headerValue.exact };
    // Argo writes the prefix into the expression as it is; escaped, a `.` in it matches only a dot.
    if (headerValue.prefix !== undefined) return { subject, op: 'RegexMatch', value: `^${escapeRegex(headerValue.prefix)}.*` };
    return { subject, op: 'RegexMatch', value: headerValue.regex ?? '' };
  });
}

/**
 * APISIX: the weights of the canary and stable backends in the ApisixRoute's named `spec.http` rules (by default
 * the one named as the route, as in Argo). Like Argo, the first backend naming each Service is the one weighted.
 *
 * A header route is an ApisixRoute of its own, named as the route and owned by the Rollout, as Argo makes it: the
 * weighted rules with the stable backend dropped, the canary's weight 100, the headers as `match.exprs`, and a
 * priority one above the rule's so APISIX tries it first. Unlike Argo, it holds only the weighted rules.
 */
export class ApisixRouter implements TrafficRouter {
  readonly kind = 'apisix';

  constructor(
    private readonly api: CustomApi,
    private readonly config: ApisixConfig,
    /** trafficRouting.managedRoutes: the names of the header routes' ApisixRoutes. */
    private readonly managedRoutes: readonly string[] = [],
  ) {}

  private get ruleNames(): string[] {
    return this.config.route.rules ?? [this.config.route.name];
  }

  private async read(context: RouterContext): Promise<{ object?: CustomObject; http: HttpRule[]; problem?: string }> {
    const name = this.config.route.name;
    const object = await readObject(this.api, APISIX_ROUTE, context.namespace, name);
    const where = `ApisixRoute ${context.namespace}/${name}`;
    if (object === undefined) return { http: [], problem: `${where} not found` };
    const http = Array.isArray(object.spec?.http) ? (object.spec.http as HttpRule[]) : [];
    for (const ruleName of this.ruleNames) {
      const rule = http.find((entry) => entry?.name === ruleName);
      if (rule === undefined) return { object, http, problem: `${where} has no http rule named ${ruleName}` };
      for (const service of [context.canaryService, context.stableService]) {
        if (backendOf(rule, service) === undefined) return { object, http, problem: `${where} http rule ${ruleName} has no backend with serviceName ${service}` };
      }
    }
    return { object, http };
  }

  /** The header routes' ApisixRoutes that exist, by name. */
  private async headerRouteObjects(context: RouterContext): Promise<Map<string, CustomObject>> {
    const found = new Map<string, CustomObject>();
    for (const name of this.managedRoutes) {
      const object = await readObject(this.api, APISIX_ROUTE, context.namespace, name);
      if (object !== undefined) found.set(name, object);
    }
    return found;
  }

  /** The spec of a header route's ApisixRoute, from the route the Rollout weights. */
  private headerRouteSpec(route: CustomObject, http: HttpRule[], header: HeaderRoute, context: RouterContext): Record<string, unknown> {
    const rules = http
      .filter((rule) => typeof rule?.name === 'string' && this.ruleNames.includes(rule.name))
      .map((rule) => {
        const canary = backendOf(rule, context.canaryService);
        const backends = (rule.backends as Backend[])
          .filter((backend) => backend?.serviceName !== context.stableService)
          .map((backend) => (backend === canary ? { ...backend, weight: 100 } : backend));
        const match = typeof rule.match === 'object' && rule.match !== null ? rule.match : {};
        const priority = typeof rule.priority === 'number' ? rule.priority : 0;
        return { ...rule, priority: priority + 1, match: { ...match, exprs: headerExprs(header) }, backends };
      });
    // Stream (TCP/UDP) routes are no header route's business.
    const { stream: _stream, ...spec } = route.spec ?? {};
    return { ...spec, http: rules };
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { http, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const headerRoutes = [...(await this.headerRouteObjects(context))].filter(([, object]) => controlledByRollout(object, context)).map(([name]) => name);
    const percents = this.ruleNames.map((ruleName) => {
      const rule = http.find((entry) => entry?.name === ruleName);
      const canary = weightOf(backendOf(rule, context.canaryService));
      const stable = weightOf(backendOf(rule, context.stableService));
      return canary === undefined || stable === undefined ? undefined : percentOf(canary, stable);
    });
    return { canaryWeight: agreed(percents), headerRoutes, mirrorRoutes: [] };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { object, http, problem } = await this.read(context);
    if (problem !== undefined || object === undefined) throw new Error(problem ?? `ApisixRoute ${this.config.route.name} not found`);
    const names = this.ruleNames;
    let changed = false;
    const next = http.map((rule) => {
      if (typeof rule?.name !== 'string' || !names.includes(rule.name)) return rule;
      const canary = backendOf(rule, context.canaryService);
      const stable = backendOf(rule, context.stableService);
      const backends = (rule.backends as Backend[]).map((backend) => {
        const weight = backend === canary ? target.canaryWeight : backend === stable ? 100 - target.canaryWeight : undefined;
        if (weight === undefined || backend.weight === weight) return backend;
        changed = true;
        return { ...backend, weight };
      });
      return { ...rule, backends };
    });
    // The whole list: a merge patch replaces arrays.
    if (changed) await patchObject(this.api, APISIX_ROUTE, object, { spec: { http: next } });
    return (await this.applyHeaderRoutes(context, target, object, http)) || changed;
  }

  /** Creates, updates and deletes the header routes' ApisixRoutes so that those of `target`, and only they, exist. */
  private async applyHeaderRoutes(context: RouterContext, target: TrafficTarget, route: CustomObject, http: HttpRule[]): Promise<boolean> {
    let changed = false;
    const existing = await this.headerRouteObjects(context);
    for (const [name, object] of existing) {
      if (!target.headerRoutes.some((header) => header.name === name) && controlledByRollout(object, context)) {
        await deleteObject(this.api, APISIX_ROUTE, object);
        changed = true;
      }
    }
    for (const header of target.headerRoutes) {
      const spec = this.headerRouteSpec(route, http, header, context);
      const hash = contentHash(spec);
      const object = existing.get(header.name);
      if (object === undefined) {
        await createObject(this.api, APISIX_ROUTE, context.namespace, {
          metadata: {
            name: header.name,
            namespace: context.namespace,
            ...(route.metadata?.labels !== undefined && { labels: route.metadata.labels }),
            annotations: { [ANNOTATION_ROUTE_HASH]: hash },
            ownerReferences: [rolloutOwnerReference(context)],
          },
          spec,
        });
      } else if (!controlledByRollout(object, context)) {
        throw new Error(`ApisixRoute ${context.namespace}/${header.name} (header route ${header.name}) exists and is not controlled by this Rollout`);
      } else if (object.metadata?.annotations?.[ANNOTATION_ROUTE_HASH] !== hash) {
        await patchObject(this.api, APISIX_ROUTE, object, { metadata: { annotations: { [ANNOTATION_ROUTE_HASH]: hash } }, spec });
      } else {
        continue;
      }
      changed = true;
    }
    return changed;
  }
}

function backendOf(rule: HttpRule | undefined, service: string | undefined): Backend | undefined {
  if (rule === undefined || service === undefined || !Array.isArray(rule.backends)) return undefined;
  return (rule.backends as Backend[]).find((backend) => typeof backend === 'object' && backend !== null && backend.serviceName === service);
}

function weightOf(backend: Backend | undefined): number | undefined {
  if (backend === undefined) return undefined;
  if (backend.weight === undefined || backend.weight === null) return DEFAULT_WEIGHT;
  return typeof backend.weight === 'number' && Number.isFinite(backend.weight) && backend.weight >= 0 ? backend.weight : undefined;
}
