import type { CustomApi, NetworkingApi } from '../../kube/api.js';
import type { TrafficRouting } from '../../api/rollout.js';
import type { TrafficRouter } from '../types.js';
import { AlbRouter } from './alb.js';
import { ApisixRouter } from './apisix.js';
import { GatewayApiRouter } from './gateway-api.js';
import { IstioRouter } from './istio.js';
import { NginxRouter } from './nginx.js';
import { SmiRouter } from './smi.js';
import { TraefikRouter } from './traefik.js';

export interface RouterApis {
  custom: CustomApi;
  networking: NetworkingApi;
}

/** The router a Rollout's trafficRouting names (the CRD admits exactly one). */
export function routerFor(routing: TrafficRouting, apis: RouterApis): TrafficRouter {
  if (routing.gatewayAPI !== undefined) return new GatewayApiRouter(apis.custom, routing.gatewayAPI);
  if (routing.traefik !== undefined) return new TraefikRouter(apis.custom, routing.traefik.weightedTraefikServiceName);
  if (routing.istio !== undefined) return new IstioRouter(apis.custom, routing.istio);
  if (routing.nginx !== undefined) return new NginxRouter(apis.networking, routing.nginx);
  if (routing.alb !== undefined) return new AlbRouter(apis.networking, routing.alb);
  if (routing.smi !== undefined) return new SmiRouter(apis.custom, routing.smi);
  if (routing.apisix !== undefined) return new ApisixRouter(apis.custom, routing.apisix);
  throw new Error('trafficRouting names no router: give one of gatewayAPI, traefik, istio, nginx, alb, smi or apisix');
}
