import type { CustomApi, NetworkingApi } from '../../kube/api.js';
import { routersNamed, type RouterName, type TrafficRouting } from '../../api/rollout.js';
import type { TrafficRouter } from '../types.js';
import { AlbRouter } from './alb.js';
import { AmbassadorRouter } from './ambassador.js';
import { ApisixRouter } from './apisix.js';
import { GatewayApiRouter } from './gateway-api.js';
import { IstioRouter } from './istio.js';
import { NginxRouter } from './nginx.js';
import { SmiRouter, type TrafficSplitApiVersion } from './smi.js';
import { TraefikRouter } from './traefik.js';

export interface RouterApis {
  custom: CustomApi;
  networking: NetworkingApi;
  /** --traffic-split-api-version; the SMI router's default when absent. */
  trafficSplitApiVersion?: TrafficSplitApiVersion;
}

/** The router for one of trafficRouting's keys. */
function routerNamed(name: RouterName, routing: TrafficRouting, apis: RouterApis): TrafficRouter | undefined {
  const managedRoutes = (routing.managedRoutes ?? []).map((route) => route.name);
  switch (name) {
    case 'gatewayAPI':
      return routing.gatewayAPI && new GatewayApiRouter(apis.custom, routing.gatewayAPI);
    case 'traefik':
      return routing.traefik && new TraefikRouter(apis.custom, routing.traefik.weightedTraefikServiceName);
    case 'istio':
      return routing.istio && new IstioRouter(apis.custom, routing.istio, managedRoutes);
    case 'nginx':
      return routing.nginx && new NginxRouter(apis.networking, routing.nginx);
    case 'alb':
      return routing.alb && new AlbRouter(apis.networking, routing.alb, managedRoutes);
    case 'smi':
      return routing.smi && new SmiRouter(apis.custom, routing.smi, apis.trafficSplitApiVersion);
    case 'apisix':
      return routing.apisix && new ApisixRouter(apis.custom, routing.apisix, managedRoutes);
    case 'ambassador':
      return routing.ambassador && new AmbassadorRouter(apis.custom, routing.ambassador);
  }
}

/** Every router a Rollout's trafficRouting names (the CRD admits one or more), in ROUTER_NAMES order. */
export function routersFor(routing: TrafficRouting, apis: RouterApis): TrafficRouter[] {
  const routers = routersNamed(routing).flatMap((name) => routerNamed(name, routing, apis) ?? []);
  if (routers.length === 0) throw new Error('trafficRouting names no router: give one or more of gatewayAPI, traefik, istio, nginx, alb, smi, apisix or ambassador');
  return routers;
}
