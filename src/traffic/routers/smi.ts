import type { CustomApi } from '../../kube/api.js';
import type { TrafficRouting } from '../../api/rollout.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { stableWeightOf } from '../plan.js';
import { controlledByRollout, createObject, patchObject, percentOf, readObject, rolloutOwnerReference, type CustomObject, type Kind } from './objects.js';

type SmiConfig = NonNullable<TrafficRouting['smi']>;

/**
 * The TrafficSplit versions --traffic-split-api-version takes. Argo v1.9 writes v1alpha1 (its default) to v1alpha3;
 * v1alpha4 has v1alpha3's spec (smi-sdk-go v0.5.0), and is the only version Argo's own e2e TrafficSplit CRD serves.
 */
export const TRAFFIC_SPLIT_API_VERSIONS = ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'] as const;
export type TrafficSplitApiVersion = (typeof TRAFFIC_SPLIT_API_VERSIONS)[number];
export const DEFAULT_TRAFFIC_SPLIT_API_VERSION: TrafficSplitApiVersion = 'v1alpha1';

const trafficSplitKind = (version: TrafficSplitApiVersion): Kind => ({ group: 'split.smi-spec.io', version, plural: 'trafficsplits', kind: 'TrafficSplit' });

interface Backend {
  service?: unknown;
  weight?: unknown;
}

/** v1alpha1 weights are quantities; v1alpha2 on they are integers (Go's int: a string or a fraction is not one). */
function backendWeight(version: TrafficSplitApiVersion, value: unknown): number | undefined {
  if (version === 'v1alpha1') return quantityValue(value);
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

const SUFFIXES: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A v1alpha1 weight: a Kubernetes quantity ("5", "500m"), which JSON may also give as a plain number. */
export function quantityValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(value.trim());
  if (match === null) return undefined;
  const base = Number(match[1]);
  return match[2] !== undefined ? base * 10 ** Number(match[2]) : base * (SUFFIXES[match[3] ?? ''] ?? 1);
}

/**
 * SMI: a TrafficSplit the Rollout creates and owns (as Argo does), for rootService, with the canary and stable
 * Services as backends. One of that name the Rollout does not control is refused, never taken over.
 */
export class SmiRouter implements TrafficRouter {
  readonly kind = 'smi';

  private readonly trafficSplit: Kind;

  constructor(
    private readonly api: CustomApi,
    private readonly config: SmiConfig,
    private readonly version: TrafficSplitApiVersion = DEFAULT_TRAFFIC_SPLIT_API_VERSION,
  ) {
    this.trafficSplit = trafficSplitKind(version);
  }

  private name(context: RouterContext): string {
    return this.config.trafficSplitName ?? context.rolloutName;
  }

  private async read(context: RouterContext): Promise<{ object?: CustomObject; problem?: string }> {
    const name = this.name(context);
    const object = await readObject(this.api, this.trafficSplit, context.namespace, name);
    if (object === undefined) return {};
    if (!controlledByRollout(object, context)) return { object, problem: `TrafficSplit ${context.namespace}/${name} exists and is not controlled by this Rollout` };
    return { object };
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { object, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    // Not created yet: apply creates it.
    if (object === undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [] };
    const backends = ((object.spec?.backends as Backend[] | undefined) ?? []).filter((backend) => typeof backend === 'object' && backend !== null);
    const weightOf = (service: string | undefined): number | undefined => {
      const entries = backends.filter((backend) => backend.service === service);
      const weights = entries.map((backend) => backendWeight(this.version, backend.weight ?? 0));
      return entries.length === 0 || weights.some((weight) => weight === undefined) ? undefined : weights.reduce<number>((total, weight) => total + (weight ?? 0), 0);
    };
    const canary = weightOf(context.canaryService);
    const stable = weightOf(context.stableService);
    // The TrafficSplit is the Rollout's own: every other backend is an experiment's, and its share is of the whole.
    const services = backends.flatMap((backend) => (typeof backend.service === 'string' ? [backend.service] : []));
    const others = [...new Set(services)].filter((service) => service !== context.canaryService && service !== context.stableService);
    const otherWeights = others.map((service) => weightOf(service));
    const total = [canary, stable, ...otherWeights].some((weight) => weight === undefined) ? undefined : [canary, stable, ...otherWeights].reduce<number>((sum, weight) => sum + (weight ?? 0), 0);
    const share = (weight: number | undefined): number | undefined => (weight === undefined || total === undefined ? undefined : percentOf(weight, total - weight));
    return {
      canaryWeight: share(canary),
      ...(others.length > 0 && { additionalDestinations: others.map((service, index) => ({ serviceName: service, weight: share(otherWeights[index]) })) }),
      headerRoutes: [],
      mirrorRoutes: [],
    };
  }

  /** The spec as Argo writes it: the canary backend first, then an experiment's, stable last; v1alpha1's weights as quantities. */
  private spec(context: RouterContext, target: TrafficTarget): Record<string, unknown> {
    const weight = (value: number): string | number => (this.version === 'v1alpha1' ? String(value) : value);
    return {
      service: this.config.rootService ?? context.stableService,
      backends: [
        { service: context.canaryService, weight: weight(target.canaryWeight) },
        ...target.additionalDestinations.map((destination) => ({ service: destination.serviceName, weight: weight(destination.weight) })),
        { service: context.stableService, weight: weight(stableWeightOf(target)) },
      ],
    };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { object, problem } = await this.read(context);
    if (problem !== undefined) throw new Error(problem);
    const spec = this.spec(context, target);
    if (object === undefined) {
      await createObject(this.api, this.trafficSplit, context.namespace, {
        metadata: { name: this.name(context), namespace: context.namespace, ownerReferences: [rolloutOwnerReference(context)] },
        spec,
      });
      return true;
    }
    // Compared field by field: the apiserver hands back an object's keys in its own order.
    const backends = Array.isArray(object.spec?.backends) ? (object.spec.backends as Backend[]) : [];
    const current = { service: object.spec?.service, backends: backends.map((backend) => ({ service: backend?.service, weight: backend?.weight })) };
    // Argo writes the whole spec: `matches` (v1alpha3 on) that someone added is taken away.
    const matches = object.spec?.matches !== undefined;
    if (!matches && JSON.stringify(current) === JSON.stringify(spec)) return false;
    await patchObject(this.api, this.trafficSplit, object, { spec: { ...spec, ...(matches && { matches: null }) } });
    return true;
  }
}
