import type * as k8s from '@kubernetes/client-node';
import type { NetworkingApi } from '../../kube/api.js';
import type { TrafficRouting } from '../../api/rollout.js';
import { mergePatchOptions } from '../../kube/patch.js';
import { LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue } from '../../api/labels.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { readIngress, rolloutOwnerReference } from './objects.js';

type NginxConfig = NonNullable<TrafficRouting['nginx']>;

const DEFAULT_PREFIX = 'nginx.ingress.kubernetes.io';

/** The canary Ingress Fledge keeps beside the stable one. */
export function canaryIngressName(rollout: string, stableIngress: string): string {
  return ownedObjectName(rollout, `${stableIngress}-canary`);
}

/** The stable Ingress's rules with every backend naming stableService pointed at canaryService instead. */
function canaryRules(rules: k8s.V1IngressRule[] | undefined, stable: string, canary: string): k8s.V1IngressRule[] {
  return (rules ?? []).map((rule) => ({
    ...rule,
    ...(rule.http !== undefined && {
      http: {
        ...rule.http,
        paths: rule.http.paths.map((path) =>
          path.backend.service?.name === stable ? { ...path, backend: { ...path.backend, service: { ...path.backend.service, name: canary } } } : path,
        ),
      },
    }),
  }));
}

/**
 * ingress-nginx: a canary Ingress copied from stableIngress (hosts, paths, class), its backends pointed at
 * canaryService, with the `canary` and `canary-weight` annotations. It is owned by the Rollout, so it goes with it.
 */
export class NginxRouter implements TrafficRouter {
  readonly kind = 'nginx';

  constructor(
    private readonly api: NetworkingApi,
    private readonly config: NginxConfig,
  ) {}

  private get prefix(): string {
    return this.config.annotationPrefix ?? DEFAULT_PREFIX;
  }

  private async read(context: RouterContext): Promise<{ stable?: k8s.V1Ingress; canary?: k8s.V1Ingress; problem?: string }> {
    const stable = await readIngress(this.api, context.namespace, this.config.stableIngress);
    if (stable === undefined) return { problem: `Ingress ${context.namespace}/${this.config.stableIngress} not found` };
    const backends = (stable.spec?.rules ?? []).flatMap((rule) => rule.http?.paths ?? []).map((path) => path.backend.service?.name);
    if (!backends.includes(context.stableService)) {
      return { stable, problem: `Ingress ${context.namespace}/${this.config.stableIngress} has no path whose backend is ${context.stableService}` };
    }
    const canary = await readIngress(this.api, context.namespace, canaryIngressName(context.rolloutName, this.config.stableIngress));
    if (canary !== undefined && canary.metadata?.labels?.[LABEL_ROLLOUT] !== rolloutLabelValue(context.rolloutName)) {
      return { stable, problem: `Ingress ${canary.metadata?.name} exists and is not this Rollout's canary Ingress` };
    }
    return { stable, ...(canary !== undefined && { canary }) };
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { canary, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    if (canary === undefined) return { canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] };
    const annotations = canary.metadata?.annotations ?? {};
    const enabled = annotations[`${this.prefix}/canary`] === 'true';
    const weight = Number(annotations[`${this.prefix}/canary-weight`] ?? '0');
    return { canaryWeight: enabled && Number.isInteger(weight) ? weight : enabled ? undefined : 0, headerRoutes: [], mirrorRoutes: [] };
  }

  private desired(context: RouterContext, stable: k8s.V1Ingress, target: TrafficTarget): k8s.V1Ingress {
    const extra = Object.fromEntries(
      Object.entries(this.config.additionalIngressAnnotations ?? {}).map(([key, value]) => [key.includes('/') ? key : `${this.prefix}/${key}`, value]),
    );
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: canaryIngressName(context.rolloutName, this.config.stableIngress),
        namespace: context.namespace,
        labels: { [LABEL_ROLLOUT]: rolloutLabelValue(context.rolloutName) },
        annotations: { ...extra, [`${this.prefix}/canary`]: 'true', [`${this.prefix}/canary-weight`]: String(target.canaryWeight) },
        ownerReferences: [rolloutOwnerReference(context)],
      },
      spec: {
        ...(stable.spec?.ingressClassName !== undefined && { ingressClassName: stable.spec.ingressClassName }),
        ...(stable.spec?.tls !== undefined && { tls: stable.spec.tls }),
        rules: canaryRules(stable.spec?.rules, context.stableService ?? '', context.canaryService ?? ''),
      },
    };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { stable, canary, problem } = await this.read(context);
    if (problem !== undefined || stable === undefined) throw new Error(problem ?? 'stable Ingress not found');
    const desired = this.desired(context, stable, target);
    if (canary === undefined) {
      await this.api.createNamespacedIngress({ namespace: context.namespace, body: desired });
      return true;
    }
    const annotations = canary.metadata?.annotations ?? {};
    const wanted = desired.metadata?.annotations ?? {};
    // ingress-nginx reads every annotation under the prefix: one the Rollout no longer asks for (a canary-by-header
    // dropped from additionalIngressAnnotations) must go, or it keeps routing.
    const stale = Object.keys(annotations).filter((key) => key.startsWith(`${this.prefix}/`) && !(key in wanted));
    const same =
      stale.length === 0 &&
      Object.entries(wanted).every(([key, value]) => annotations[key] === value) &&
      JSON.stringify(canary.spec?.rules ?? []) === JSON.stringify(desired.spec?.rules ?? []) &&
      canary.spec?.ingressClassName === desired.spec?.ingressClassName;
    if (same) return false;
    await this.api.patchNamespacedIngress(
      {
        name: canary.metadata?.name ?? '',
        namespace: context.namespace,
        body: {
          metadata: { annotations: { ...wanted, ...Object.fromEntries(stale.map((key) => [key, null])) }, resourceVersion: canary.metadata?.resourceVersion },
          spec: desired.spec,
        },
      },
      mergePatchOptions(),
    );
    return true;
  }
}
