import type { CustomApi } from '../../kube/api.js';
import type { RouterContext, TrafficObservation, TrafficRouter, TrafficTarget } from '../types.js';
import { patchObject, percentOf, readObject, type CustomObject, type Kind } from './objects.js';

export const TRAEFIK_SERVICE: Kind = { group: 'traefik.io', version: 'v1alpha1', plural: 'traefikservices', kind: 'TraefikService' };

interface WeightedService {
  name: string;
  weight?: number;
  kind?: string;
  namespace?: string;
  [key: string]: unknown;
}

/** A weighted TraefikService: the weights of its entries naming canaryService and stableService. */
export class TraefikRouter implements TrafficRouter {
  readonly kind = 'traefik';

  constructor(
    private readonly api: CustomApi,
    private readonly name: string,
  ) {}

  private async read(context: RouterContext): Promise<{ object?: CustomObject; services: WeightedService[]; problem?: string }> {
    const object = await readObject(this.api, TRAEFIK_SERVICE, context.namespace, this.name);
    if (object === undefined) return { services: [], problem: `TraefikService ${context.namespace}/${this.name} not found` };
    const services = ((object.spec?.weighted as { services?: WeightedService[] } | undefined)?.services ?? []).filter((entry) => typeof entry?.name === 'string');
    const names = (service: string | undefined): boolean => services.some((entry) => this.isService(entry, service, context));
    if (!names(context.stableService) || !names(context.canaryService)) {
      return { object, services, problem: `TraefikService ${context.namespace}/${this.name} has no weighted services naming both ${context.stableService} and ${context.canaryService}` };
    }
    return { object, services };
  }

  private isService(entry: WeightedService, service: string | undefined, context: RouterContext): boolean {
    return service !== undefined && entry.name === service && (entry.kind ?? 'Service') === 'Service' && (entry.namespace ?? context.namespace) === context.namespace;
  }

  async observe(context: RouterContext): Promise<TrafficObservation> {
    const { services, problem } = await this.read(context);
    if (problem !== undefined) return { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem };
    const sum = (service: string | undefined): number =>
      services.filter((entry) => this.isService(entry, service, context)).reduce((total, entry) => total + (entry.weight ?? 1), 0);
    return { canaryWeight: percentOf(sum(context.canaryService), sum(context.stableService)), headerRoutes: [], mirrorRoutes: [] };
  }

  async apply(context: RouterContext, target: TrafficTarget): Promise<boolean> {
    const { object, services, problem } = await this.read(context);
    if (problem !== undefined || object === undefined) throw new Error(problem ?? `TraefikService ${this.name} not found`);
    let changed = false;
    const next = services.map((entry) => {
      const weight = this.isService(entry, context.canaryService, context)
        ? target.canaryWeight
        : this.isService(entry, context.stableService, context)
          ? 100 - target.canaryWeight
          : entry.weight;
      if (weight === entry.weight) return entry;
      changed = true;
      return { ...entry, weight };
    });
    if (!changed) return false;
    const weighted = (object.spec?.weighted as Record<string, unknown> | undefined) ?? {};
    await patchObject(this.api, TRAEFIK_SERVICE, object, { spec: { weighted: { ...weighted, services: next } } });
    return true;
  }
}
