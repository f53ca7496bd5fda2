import type * as k8s from '@kubernetes/client-node';
import type { AlbRouting } from '../../api/rollout.js';
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

/**
 * AWS Load Balancer Controller (Argo's ALB router): on every Ingress, the annotation `<prefix>/actions.<action>` holds
 * a forward action splitting servicePort between canaryService and stableService, where the action is rootService
 * (or stableService) and the Ingress's rule for it has the backend `{service: {name: <action>, port: {name:
 * use-annotation}}}`. Only that annotation is written; the rest of the Ingress is the user's.
 */
export class AlbRouter implements TrafficRouter {
  readonly kind = 'alb';

  constructor(
    private readonly api: k8s.NetworkingV1Api,
    private readonly config: AlbRouting,
  ) {}

  private get ingresses(): string[] {
    return this.config.ingresses ?? (this.config.ingress !== undefined ? [this.config.ingress] : []);
  }

  private action(context: RouterContext): string | undefined {
    return this.config.rootService ?? context.stableService;
  }

  /** The annotation the controller reads the action from. */
  annotationKey(context: RouterContext): string {
    return `${this.config.annotationPrefix ?? DEFAULT_PREFIX}/actions.${this.action(context) ?? ''}`;
  }

  /**
   * The action's JSON, byte for byte as Argo writes it (Go's field order, no spaces): the canary's target group, an
   * experiment's (on servicePort too, as Argo's), the stable's last with what is left.
   */
  actionValue(context: RouterContext, target: Pick<TrafficTarget, 'canaryWeight' | 'additionalDestinations'>): string {
    const port = String(this.config.servicePort);
    const stickiness = this.config.stickinessConfig;
    const action: AlbAction = {
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { ServiceName: context.canaryService ?? '', ServicePort: port, Weight: target.canaryWeight },
          ...target.additionalDestinations.map((destination) => ({ ServiceName: destination.serviceName, ServicePort: port, Weight: destination.weight })),
          { ServiceName: context.stableService ?? '', ServicePort: port, Weight: stableWeightOf(target) },
        ],
        // As in Argo, a disabled stickinessConfig writes nothing (the listener's default, no stickiness).
        ...(stickiness?.enabled === true && { TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: stickiness.durationSeconds } }),
      },
    };
    return JSON.stringify(action);
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

  /** One Ingress's action's target groups; undefined when the annotation is missing or not a forward action. */
  private groupsIn(ingress: k8s.V1Ingress, context: RouterContext): AlbTargetGroup[] | undefined {
    const text = ingress.metadata?.annotations?.[this.annotationKey(context)];
    if (text === undefined) return undefined;
    let action: AlbAction;
    try {
      action = JSON.parse(text) as AlbAction;
    } catch {
      return undefined;
    }
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
    const actions = ingresses.map((ingress) => this.groupsIn(ingress, context));
    // The action is Fledge's own: any target group but the canary's and the stable's is an experiment's.
    const others = [...new Set(actions.flatMap((groups) => (groups ?? []).map((group) => group.ServiceName)))].filter(
      (service): service is string => typeof service === 'string' && service !== context.canaryService && service !== context.stableService,
    );
    return {
      canaryWeight: agreed(actions.map((groups) => this.shareIn(groups, context.canaryService))),
      ...(others.length > 0 && { additionalDestinations: others.map((service) => ({ serviceName: service, weight: agreed(actions.map((groups) => this.shareIn(groups, service))) })) }),
      headerRoutes: [],
      mirrorRoutes: [],
    };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { ingresses, problem } = await this.read(context);
    if (problem !== undefined) throw new Error(problem);
    const key = this.annotationKey(context);
    const value = this.actionValue(context, target);
    let changed = false;
    for (const ingress of ingresses) {
      if (ingress.metadata?.annotations?.[key] === value) continue;
      await this.api.patchNamespacedIngress(
        {
          name: ingress.metadata?.name ?? '',
          namespace: context.namespace,
          body: { metadata: { annotations: { [key]: value }, resourceVersion: ingress.metadata?.resourceVersion } },
        },
        mergePatchOptions(),
      );
      changed = true;
    }
    return changed;
  }
}
