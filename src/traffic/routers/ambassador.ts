import type { CustomApi } from '../../kube/api.js';
import type { TrafficRouting } from '../../api/rollout.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { agreed, controlledByRollout, createObject, deleteObject, patchObject, readObject, rolloutOwnerReference, type CustomObject, type Kind } from './objects.js';

type AmbassadorConfig = NonNullable<TrafficRouting['ambassador']>;

/** Argo's default Mapping version (its --ambassador-api-version); Emissary 3 still serves and stores it. */
export const MAPPING: Kind = { group: 'getambassador.io', version: 'v2', plural: 'mappings', kind: 'Mapping' };

/** The canary Mapping's name, as Argo makes it: the base name (cut to fit) and `-canary`. */
export function canaryMappingName(base: string): string {
  return `${base.slice(0, 246)}-canary`;
}

/** A Mapping's `spec.weight`: 0 when it has none (Emissary gives it what the weighted Mappings leave). */
function weightOf(mapping: CustomObject): number | undefined {
  const weight = mapping.spec?.weight;
  if (weight === undefined || weight === null) return 0;
  return typeof weight === 'number' && Number.isInteger(weight) && weight >= 0 && weight <= 100 ? weight : undefined;
}

interface MappingPair {
  base: CustomObject;
  canary: CustomObject | undefined;
  /** The base's `spec.service` with stableService swapped for canaryService, as Argo does it. */
  canaryTarget: string;
}

/**
 * Ambassador / Emissary, as Argo does it: Emissary splits a prefix between Mappings by their `weight`, so for each
 * listed Mapping the Rollout keeps a canary Mapping `<name>-canary`, a copy of it whose `service` names
 * canaryService, weighted with the canary's share. It is created at the first weight above 0 and owned by the
 * Rollout; once the weight is back at 0 it is set to 0 first and deleted on a later pass, when the proxies have had
 * the 0 (Argo sleeps 5 s for that). One of that name the Rollout does not control is refused, never taken over.
 */
export class AmbassadorRouter implements TrafficRouter {
  readonly kind = 'ambassador';

  constructor(
    private readonly api: CustomApi,
    private readonly config: AmbassadorConfig,
  ) {}

  private async read(context: RouterContext): Promise<{ pairs: MappingPair[]; problem?: string }> {
    const pairs: MappingPair[] = [];
    for (const name of this.config.mappings) {
      const where = `Mapping ${context.namespace}/${name}`;
      const base = await readObject(this.api, MAPPING, context.namespace, name);
      if (base === undefined) return { pairs, problem: `${where} not found` };
      if (weightOf(base) !== 0) return { pairs, problem: `${where} has a weight of its own; the base Mapping takes what the canary Mapping leaves, so it can define none` };
      const service = base.spec?.service;
      const stable = context.stableService ?? '';
      if (typeof service !== 'string' || stable === '' || !service.includes(stable)) {
        return { pairs, problem: `${where} has service ${JSON.stringify(service ?? null)}, which does not name stableService ${stable}` };
      }
      const canaryName = canaryMappingName(name);
      const canary = await readObject(this.api, MAPPING, context.namespace, canaryName);
      if (canary !== undefined && !controlledByRollout(canary, context)) {
        return { pairs, problem: `Mapping ${context.namespace}/${canaryName} exists and is not controlled by this Rollout` };
      }
      pairs.push({ base, canary, canaryTarget: service.replace(stable, context.canaryService ?? '') });
    }
    return { pairs };
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { pairs, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    return { canaryWeight: agreed(pairs.map(({ canary }) => (canary === undefined ? 0 : weightOf(canary)))), headerRoutes: [], mirrorRoutes: [] };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { pairs, problem } = await this.read(context);
    if (problem !== undefined) throw new Error(problem);
    let changed = false;
    for (const { base, canary, canaryTarget } of pairs) {
      if (canary === undefined) {
        if (target.canaryWeight === 0) continue;
        await createObject(this.api, MAPPING, context.namespace, {
          metadata: { name: canaryMappingName(base.metadata?.name ?? ''), namespace: context.namespace, ownerReferences: [rolloutOwnerReference(context)] },
          spec: { ...base.spec, service: canaryTarget, weight: target.canaryWeight },
        });
      } else if (weightOf(canary) !== target.canaryWeight) {
        await patchObject(this.api, MAPPING, canary, { spec: { weight: target.canaryWeight } });
      } else if (target.canaryWeight === 0) {
        await deleteObject(this.api, MAPPING, canary);
      } else {
        continue;
      }
      changed = true;
    }
    return changed;
  }
}
