import { describe, expect, it } from 'vitest';
import { lintText } from '../../../src/cli/lint.js';

const rollout = (canary: string, extra = '', containers = '[{name: api, image: "api:1"}]') => `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: ${containers}
  strategy:
    canary:
${canary}
${extra}`;

const problemsOf = (text: string): string[] => lintText('r.yaml', text).problems.map((p) => `${p.line} ${p.message}`);

describe('lint refuses what the apiserver refuses (the CRD schema)', () => {
  it('passes a valid Rollout', () => {
    expect(problemsOf(rollout('      steps: [{setWeight: 20}, {pause: {}}]'))).toEqual([]);
  });

  it('refuses unknown fields: trafficRouting in the wrong place, a misspelt rollbackWindow, ephemeral metadata outside the canary', () => {
    const text = rollout(
      '      steps: [{setWeight: 20}]\n      stableService: s\n      canaryService: c',
      '  trafficRouting: {nginx: {stableIngress: web}}\n  rollbackWindows: {revisions: 3}\n  canaryMetadata: {labels: {role: canary}}',
    );
    expect(problemsOf(text)).toEqual([
      '15 spec.trafficRouting: unknown field: the apiserver refuses it',
      '16 spec.rollbackWindows: unknown field: the apiserver refuses it',
      '17 spec.canaryMetadata: unknown field: the apiserver refuses it',
    ]);
  });

  it('takes several routers at once, as Argo applies each of them', () => {
    const text = rollout('      stableService: s\n      canaryService: c\n      trafficRouting: {nginx: {stableIngress: web}, istio: {virtualService: {name: vs}}}');
    expect(problemsOf(text)).toEqual([]);
  });

  describe('pingPong, as Argo validates it', () => {
    const PING_PONG = '      pingPong: {pingService: ping, pongService: pong}';
    const ALB = 'alb: {ingress: web, servicePort: 80, rootService: root}';
    const ISTIO = 'istio: {virtualService: {name: vs}}';
    const routed = (routing: string, services = '') => rollout(`${PING_PONG}\n${services}      trafficRouting: {${routing}}`);

    it('takes it with ALB or host-level Istio in place of stableService and canaryService, alone or beside them', () => {
      expect(problemsOf(routed(ALB))).toEqual([]);
      expect(problemsOf(routed(ISTIO))).toEqual([]);
      expect(problemsOf(routed(`${ALB}, ${ISTIO}`, '      stableService: s\n      canaryService: c\n'))).toEqual([]);
    });

    it('refuses it with routers Argo does not support it with, and those routers without stableService and canaryService', () => {
      expect(problemsOf(routed('nginx: {stableIngress: web}', '      stableService: s\n      canaryService: c\n'))).toEqual([
        expect.stringMatching(/pingPong works with the alb and istio routers only/),
      ]);
      expect(problemsOf(rollout(`${PING_PONG}`))).toEqual([expect.stringMatching(/pingPong works with the alb and istio routers only/)]);
      expect(problemsOf(routed(`${ALB}, nginx: {stableIngress: web}`))).toEqual([expect.stringMatching(/trafficRouting needs stableService and canaryService/)]);
    });

    it('refuses one Service for both, ALB without rootService, and a Service that is also stableService or canaryService', () => {
      expect(problemsOf(rollout(`      pingPong: {pingService: ping, pongService: ping}\n      trafficRouting: {${ALB}}`))).toEqual([
        expect.stringMatching(/pingService and pingPong.pongService must be different/),
      ]);
      expect(problemsOf(routed('alb: {ingress: web, servicePort: 80}'))).toEqual([expect.stringMatching(/alb.rootService is required/)]);
      expect(problemsOf(routed(ISTIO, '      stableService: ping\n      canaryService: c\n'))).toEqual([expect.stringMatching(/must differ from stableService and canaryService/)]);
    });
  });

  it('takes Argo`s ALB router as Argo writes it, and refuses both ingress and ingresses, or stickiness enabled without a duration', () => {
    const alb = (fields: string) => rollout(`      stableService: s\n      canaryService: c\n      trafficRouting: {alb: {servicePort: 80, ${fields}}}`);
    expect(problemsOf(alb('ingress: web, rootService: root, annotationPrefix: custom.alb.io, stickinessConfig: {enabled: true, durationSeconds: 3600}'))).toEqual([]);
    expect(problemsOf(alb('ingresses: [web, api], stickinessConfig: {enabled: false, durationSeconds: 0}'))).toEqual([]);
    expect(problemsOf(alb('ingress: web, ingresses: [api]'))).toEqual(['14 spec.strategy.canary.trafficRouting.alb: give exactly one of ingress or ingresses']);
    expect(problemsOf(alb('ingress: web, stickinessConfig: {enabled: true, durationSeconds: 0}'))).toEqual([
      '14 spec.strategy.canary.trafficRouting.alb.stickinessConfig: stickinessConfig.durationSeconds must be 1 to 604800 when enabled',
    ]);
  });

  it('refuses wrong types once, by the first check that sees them', () => {
    expect(problemsOf(rollout('      steps: [{setWeight: "20"}]'))).toEqual([expect.stringMatching(/^12 spec\.strategy\.canary\.steps\.0\.setWeight: /)]);
  });

  it.each([
    ['[]', 'spec.template.spec.containers: a pod template needs at least one container'],
    ['[{name: api}]', 'spec.template.spec.containers.0.image: a container needs a image'],
    ['[{image: "api:1"}]', 'spec.template.spec.containers.0.name: a container needs a name'],
  ])('refuses a pod template whose containers are %s', (containers, message) => {
    expect(problemsOf(rollout('      steps: [{setWeight: 20}]', '', containers))).toEqual([`9 ${message}`]);
  });
});
