import type { CustomApi } from '../../kube/api.js';
import type { TrafficRouting } from '../../api/rollout.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { agreed, patchObject, percentOf, readObject, type CustomObject, type Kind } from './objects.js';

type ApisixConfig = NonNullable<TrafficRouting['apisix']>;

export const APISIX_ROUTE: Kind = { group: 'apisix.apache.org', version: 'v2', plural: 'apisixroutes', kind: 'ApisixRoute' };

/** What the APISIX ingress controller gives a backend that names no weight. */
const DEFAULT_WEIGHT = 100;

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

/**
 * APISIX: the weights of the canary and stable backends in the ApisixRoute's named `spec.http` rules (by default
 * the one named as the route, as in Argo). Like Argo, the first backend naming each Service is the one weighted.
 */
export class ApisixRouter implements TrafficRouter {
  readonly kind = 'apisix';

  constructor(
    private readonly api: CustomApi,
    private readonly config: ApisixConfig,
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

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { http, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const percents = this.ruleNames.map((ruleName) => {
      const rule = http.find((entry) => entry?.name === ruleName);
      const canary = weightOf(backendOf(rule, context.canaryService));
      const stable = weightOf(backendOf(rule, context.stableService));
      return canary === undefined || stable === undefined ? undefined : percentOf(canary, stable);
    });
    return { canaryWeight: agreed(percents), headerRoutes: [], mirrorRoutes: [] };
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
    if (!changed) return false;
    // The whole list: a merge patch replaces arrays.
    await patchObject(this.api, APISIX_ROUTE, object, { spec: { http: next } });
    return true;
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
