import type * as k8s from '@kubernetes/client-node';
import type { AlbRouting, HeaderRoute } from '../../api/rollout.js';
import type { NetworkingApi } from '../../kube/api.js';
import { mergePatchOptions } from '../../kube/patch.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { agreed, percentOf, readIngress } from './objects.js';
import { stableWeightOf } from '../plan.js';

const DEFAULT_PREFIX = 'alb.ingress.kubernetes.io';
/** The port name that tells the AWS Load Balancer Controller to take a backend's action from the annotation. */
export const USE_ANNOTATION = 'use-annotation';

/** One target group of a forward action, with the AWS Load Balancer Controller's field names (as Argo writes them). */
interface AlbTargetGroup {
  ServiceName?: string;
  ServicePort?: string;
  Weight?: number;
}

interface AlbAction {
  Type: string;
  ForwardConfig?: { TargetGroups?: AlbTargetGroup[]; TargetGroupStickinessConfig?: { Enabled: boolean; DurationSeconds: number } };
}

/** A listener rule condition, as Argo writes it: the request's header has one of the values. */
interface AlbCondition {
  field: 'http-header';
  httpHeaderConfig: { httpHeaderName: string; values: string[] };
}

/** Argo's conditions for a header route: one per header (so all of them must match), its exact values merged. */
function headerConditions(route: HeaderRoute): AlbCondition[] {
  const conditions: AlbCondition[] = [];
  for (const match of route.match ?? []) {
    const value = match.headerValue.exact ?? '';
    const same = conditions.find((condition) => condition.httpHeaderConfig.httpHeaderName === match.headerName);
    if (same !== undefined) same.httpHeaderConfig.values.push(value);
    else conditions.push({ field: 'http-header', httpHeaderConfig: { httpHeaderName: match.headerName, values: [value] } });
  }
  return conditions;
}

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * AWS Load Balancer Controller (Argo's ALB router): on every Ingress, the annotation `<prefix>/actions.<action>` holds
 * a forward action splitting servicePort between canaryService and stableService, where the action is rootService
 * (or stableService) and the Ingress's rule for it has the backend `{service: {name: <action>, port: {name:
 * use-annotation}}}`.
 *
 * A header route is Argo's too: `actions.<route>` forwarding to the canary alone, `conditions.<route>` with the
 * headers, and in every rule a path `/*` to the backend `<route>` by annotation, ahead of the other paths in
 * managedRoutes order. Those annotations and paths, named as in managedRoutes, are the Rollout's; the rest of the
 * Ingress is the user's.
 */
export class AlbRouter implements TrafficRouter {
  readonly kind = 'alb';

  constructor(
    private readonly api: NetworkingApi,
    private readonly config: AlbRouting,
    /** trafficRouting.managedRoutes, in precedence order. */
    private readonly managedRoutes: readonly string[] = [],
  ) {}

  private get ingresses(): string[] {
    return this.config.ingresses ?? (this.config.ingress !== undefined ? [this.config.ingress] : []);
  }

  private action(context: RouterContext): string | undefined {
    return this.config.rootService ?? context.stableService;
  }

  private get prefix(): string {
    return this.config.annotationPrefix ?? DEFAULT_PREFIX;
  }

  /** The annotation the controller reads the action from. */
  annotationKey(context: RouterContext): string {
    return `${this.prefix}/actions.${this.action(context) ?? ''}`;
  }

  /** The annotations of a header route: its action and its conditions. */
  private routeKeys(name: string): { action: string; conditions: string } {
    return { action: `${this.prefix}/actions.${name}`, conditions: `${this.prefix}/conditions.${name}` };
  }

  /** A forward action's JSON, byte for byte as Argo writes it (Go's field order, no spaces). */
  private forward(groups: AlbTargetGroup[]): string {
    const stickiness = this.config.stickinessConfig;
    const action: AlbAction = {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: groups,
        // As in Argo, a disabled stickinessConfig writes nothing (the listener's default, no stickiness).
        ...(stickiness?.enabled === true && { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: stickiness.durationSeconds } }),
      },
    };
    return JSON.stringify(action);
  }

  /**
   * The weight action on rootService (or stableService): the canary's target group, an experiment's (on servicePort
   * too, as Argo's), the stable's last with what is left.
   */
  actionValue(context: RouterContext, target: Pick<TrafficTarget, 'canaryWeight' | 'additionalDestinations'>): string {
    const port = String(this.config.servicePort);
    return this.forward([
      { ServiceName: context.canaryService ?? '', ServicePort: port, Weight: target.canaryWeight },
      ...target.additionalDestinations.map((destination) => ({ ServiceName: destination.serviceName, ServicePort: port, Weight: destination.weight })),
      { ServiceName: context.stableService ?? '', ServicePort: port, Weight: stableWeightOf(target) },
    ]);
  }

  /** Every annotation the Rollout writes on an Ingress for `target`, and null for the managed ones it removes. */
  private wantedAnnotations(context: RouterContext, target: TrafficTarget): Record<string, string | null> {
    const wanted: Record<string, string | null> = { [this.annotationKey(context)]: this.actionValue(context, target) };
    for (const name of this.managedRoutes) {
      const keys = this.routeKeys(name);
      const route = target.headerRoutes.find((candidate) => candidate.name === name);
      wanted[keys.action] = route === undefined ? null : this.forward([{ ServiceName: context.canaryService ?? '', ServicePort: String(this.config.servicePort), Weight: 100 }]);
      wanted[keys.conditions] = route === undefined ? null : JSON.stringify(headerConditions(route));
    }
    return wanted;
  }

  /**
   * The Ingress's rules with a path to each header route of `target` and none to a managed route it does not have,
   * managed paths first in managedRoutes order; undefined when they already are so.
   */
  private wantedRules(ingress: k8s.V1Ingress, target: TrafficTarget): k8s.V1IngressRule[] | undefined {
    const rank = (path: k8s.V1HTTPIngressPath): number => {
      const index = this.managedRoutes.indexOf(path.backend.service?.name ?? '');
      return index === -1 ? this.managedRoutes.length : index;
    };
    const wanted = new Set(target.headerRoutes.map((route) => route.name));
    let changed = false;
    const rules = (ingress.spec?.rules ?? []).map((rule) => {
      if (rule.http === undefined) return rule;
      const kept = rule.http.paths.filter((path) => rank(path) === this.managedRoutes.length || wanted.has(path.backend.service?.name ?? ''));
      const added = [...wanted]
        .filter((name) => !kept.some((path) => path.backend.service?.name === name))
        .map((name): k8s.V1HTTPIngressPath => ({ path: '/*', pathType: 'ImplementationSpecific', backend: { service: { name, port: { name: USE_ANNOTATION } } } }));
      const paths = [...added, ...kept].sort((a, b) => rank(a) - rank(b));
      if (paths.length === rule.http.paths.length && paths.every((path, index) => path === rule.http?.paths[index])) return rule;
      changed = true;
      return { ...rule, http: { ...rule.http, paths } };
    });
    return changed ? rules : undefined;
  }

  /** The header routes in effect on one Ingress: both annotations, the action to the canary alone, a path in every rule. */
  private headerRoutesIn(ingress: k8s.V1Ingress, context: RouterContext): string[] {
    const annotations = ingress.metadata?.annotations ?? {};
    const rules = (ingress.spec?.rules ?? []).filter((rule) => rule.http !== undefined);
    return this.managedRoutes.filter((name) => {
      const keys = this.routeKeys(name);
      const action = parseJson(annotations[keys.action]) as AlbAction | undefined;
      const groups = action?.Type === 'forward' ? action.ForwardConfig?.TargetGroups : undefined;
      const toCanary = Array.isArray(groups) && groups.length > 0 && groups.every((group) => group?.ServiceName === context.canaryService);
      const routed = rules.length > 0 && rules.every((rule) => rule.http?.paths.some((path) => path.backend.service?.name === name && path.backend.service.port?.name === USE_ANNOTATION));
      return toCanary && Array.isArray(parseJson(annotations[keys.conditions])) && routed;
    });
  }

  /** Every listed Ingress, or the first reason one of them cannot carry the action. */
  private async read(context: RouterContext): Promise<{ ingresses: k8s.V1Ingress[]; problem?: string }> {
    const action = this.action(context);
    if (action === undefined) return { ingresses: [], problem: 'the ALB router needs stableService (or trafficRouting.alb.rootService)' };
    if (this.ingresses.length === 0) return { ingresses: [], problem: 'trafficRouting.alb names no Ingress: give ingress or ingresses' };
    const ingresses: k8s.V1Ingress[] = [];
    for (const name of this.ingresses) {
      const ingress = await readIngress(this.api, context.namespace, name);
      if (ingress === undefined) return { ingresses, problem: `Ingress ${context.namespace}/${name} not found` };
      const backends = (ingress.spec?.rules ?? []).flatMap((rule) => rule.http?.paths ?? []).map((path) => path.backend.service);
      if (!backends.some((service) => service?.name === action && service.port?.name === USE_ANNOTATION)) {
        return {
          ingresses,
          problem:
            `Ingress ${context.namespace}/${name} has no path whose backend is service ${action} with port name ${USE_ANNOTATION}, ` +
            `so the AWS Load Balancer Controller would not read the ${this.annotationKey(context)} annotation`,
        };
      }
      ingresses.push(ingress);
    }
    return { ingresses };
  }

  /** One Ingress's weight action's target groups; undefined when the annotation is missing or not a forward action. */
  private groupsIn(ingress: k8s.V1Ingress, context: RouterContext): AlbTargetGroup[] | undefined {
    const action = parseJson(ingress.metadata?.annotations?.[this.annotationKey(context)]) as AlbAction | undefined;
    const groups = action?.Type === 'forward' ? action.ForwardConfig?.TargetGroups : undefined;
    return Array.isArray(groups) ? groups.filter((group) => typeof group === 'object' && group !== null) : undefined;
  }

  /** A Service's percent of one action's traffic (its groups' weight over all of them); no group for it sends it nothing. */
  private shareIn(groups: AlbTargetGroup[] | undefined, service: string | undefined): number | undefined {
    if (groups === undefined) return undefined;
    const weightOf = (group: AlbTargetGroup): number => (typeof group.Weight === 'number' ? group.Weight : 0);
    const mine = (group: AlbTargetGroup): boolean => group.ServiceName === service;
    if (!groups.some(mine)) return 0;
    return percentOf(groups.filter(mine).reduce((sum, group) => sum + weightOf(group), 0), groups.filter((group) => !mine(group)).reduce((sum, group) => sum + weightOf(group), 0));
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { ingresses, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    // A header route is in effect when every Ingress has it.
    const perIngress = ingresses.map((ingress) => this.headerRoutesIn(ingress, context));
    const headerRoutes = (perIngress[0] ?? []).filter((name) => perIngress.every((names) => names.includes(name)));
    const actions = ingresses.map((ingress) => this.groupsIn(ingress, context));
    // The weight action is Fledge's own: any target group but the canary's and the stable's is an experiment's.
    const others = [...new Set(actions.flatMap((groups) => (groups ?? []).map((group) => group.ServiceName)))].filter(
      (service): service is string => typeof service === 'string' && service !== context.canaryService && service !== context.stableService,
    );
    return {
      canaryWeight: agreed(actions.map((groups) => this.shareIn(groups, context.canaryService))),
      ...(others.length > 0 && { additionalDestinations: others.map((service) => ({ serviceName: service, weight: agreed(actions.map((groups) => this.shareIn(groups, service))) })) }),
      headerRoutes,
      mirrorRoutes: [],
    };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { ingresses, problem } = await this.read(context);
    if (problem !== undefined) throw new Error(problem);
    const wanted = this.wantedAnnotations(context, target);
    let changed = false;
    for (const ingress of ingresses) {
      const current = ingress.metadata?.annotations ?? {};
      const annotations = Object.fromEntries(Object.entries(wanted).filter(([key, value]) => (current[key] ?? null) !== value));
      const rules = this.wantedRules(ingress, target);
      if (Object.keys(annotations).length === 0 && rules === undefined) continue;
      await this.api.patchNamespacedIngress(
        {
          name: ingress.metadata?.name ?? '',
          namespace: context.namespace,
          body: { metadata: { annotations, resourceVersion: ingress.metadata?.resourceVersion }, ...(rules !== undefined && { spec: { rules } }) },
        },
        mergePatchOptions(),
      );
      changed = true;
    }
    return changed;
  }
}
