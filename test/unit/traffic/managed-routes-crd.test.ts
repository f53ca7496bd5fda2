import { describe, expect, it } from 'vitest';
import { lintText } from '../../../src/cli/lint.js';

/** What the CRD takes and refuses of header and mirror routes, router by router (its CEL rules, as lint runs them). */

function problems(routing: string, steps: string): string[] {
  return lintText(
    'r.yaml',
    `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "api:1"}]
  strategy:
    canary:
      stableService: api-stable
      canaryService: api-canary
      trafficRouting: ${routing}
      steps: ${steps}
`,
  ).problems.map((problem) => problem.message);
}

const MANAGED = 'managedRoutes: [{name: header-route}, {name: mirror-route}]';
const ROUTERS: Record<string, string> = {
  gatewayAPI: 'gatewayAPI: {httpRoute: api}',
  istio: 'istio: {virtualService: {name: api, routes: [primary]}}',
  alb: 'alb: {ingress: api, rootService: action1, servicePort: 8080}',
  apisix: 'apisix: {route: {name: api, rules: [api]}}',
  traefik: 'traefik: {weightedTraefikServiceName: api}',
  nginx: 'nginx: {stableIngress: api}',
  smi: 'smi: {}',
  ambassador: 'ambassador: {mappings: [api]}',
};
const HEADER = '{setHeaderRoute: {name: header-route, match: [{headerName: Custom-Header, headerValue: {exact: Mozilla}}]}}';
const MIRROR = '{setMirrorRoute: {name: mirror-route, percentage: 50, match: [{method: {exact: POST}, path: {prefix: /color}}]}}';

describe('the CRD on managed routes', () => {
  it.each(['gatewayAPI', 'istio', 'alb', 'apisix'])('takes setHeaderRoute on %s', (router) => {
    expect(problems(`{${ROUTERS[router]}, ${MANAGED}}`, `[{setWeight: 20}, ${HEADER}, {pause: {}}, {setHeaderRoute: {name: header-route}}]`)).toEqual([]);
  });

  it.each(['traefik', 'nginx', 'smi', 'ambassador'])('refuses managedRoutes on %s, naming the routers that have them', (router) => {
    expect(problems(`{${ROUTERS[router]}, ${MANAGED}}`, `[${HEADER}]`)).toEqual([
      'spec.strategy.canary.trafficRouting: managedRoutes (setHeaderRoute, setMirrorRoute) are implemented for the gatewayAPI, istio, alb and apisix routers; traefik, nginx, smi and ambassador have none, and every router named must implement them',
    ]);
  });

  it.each(['gatewayAPI', 'istio'])('takes setMirrorRoute on %s', (router) => {
    expect(problems(`{${ROUTERS[router]}, ${MANAGED}}`, `[{setCanaryScale: {weight: 50}}, ${MIRROR}, {pause: {}}]`)).toEqual([]);
  });

  it('refuses managedRoutes when any router named lacks them, and setMirrorRoute when ALB sits beside Istio', () => {
    expect(problems(`{${ROUTERS.istio}, ${ROUTERS.nginx}, ${MANAGED}}`, `[${HEADER}]`)).toEqual([expect.stringMatching(/every router named must implement them/)]);
    expect(problems(`{${ROUTERS.istio}, ${ROUTERS.alb}, ${MANAGED}}`, `[{setCanaryScale: {weight: 50}}, ${MIRROR}, {pause: {}}]`)).toEqual([expect.stringMatching(/every router named must mirror/)]);
  });

  it.each(['alb', 'apisix'])('refuses setMirrorRoute on %s, as Argo does', (router) => {
    expect(problems(`{${ROUTERS[router]}, ${MANAGED}}`, `[${MIRROR}]`)).toEqual([
      'spec.strategy.canary: setMirrorRoute is implemented for the gatewayAPI and istio routers only, and every router named must mirror: ALB and APISIX cannot, as in Argo',
    ]);
  });

  it('takes only exact header values on alb, and any on istio', () => {
    const steps = '[{setHeaderRoute: {name: header-route, match: [{headerName: a, headerValue: {exact: "1"}}, {headerName: agent, headerValue: {regex: "firefox(.*)"}}]}}]';
    expect(problems(`{${ROUTERS.alb}, ${MANAGED}}`, steps)).toEqual([
      'spec.strategy.canary: on the alb router, setHeaderRoute matches exact header values only (an ALB http-header condition has no prefix or regex)',
    ]);
    expect(problems(`{${ROUTERS.istio}, ${MANAGED}}`, steps)).toEqual([]);
    expect(problems(`{${ROUTERS.alb}, ${MANAGED}}`, '[{setHeaderRoute: {name: header-route}}]')).toEqual([]);
  });
});
