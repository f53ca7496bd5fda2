import { z } from 'zod';
import { Duration, DURATION_PATTERN, parseDuration } from './duration.js';
import { Condition, IntOrPercent, LabelSelector, Labels, ObjectMeta } from './meta.js';

export const GROUP = 'fledge.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The pod template is Kubernetes' own type; Fledge reads its labels and hashes the rest. */
export const PodTemplate = z.object({
  metadata: z
    .looseObject({
      labels: Labels.optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  spec: z.record(z.string(), z.unknown()),
});
export type PodTemplate = z.infer<typeof PodTemplate>;

const Weight = z.number().int().min(0).max(100);

export const SetWeightStep = z.strictObject({ setWeight: Weight });
export const PauseStep = z.strictObject({
  pause: z.strictObject({ duration: Duration.optional() }),
});
export const SetCanaryScaleStep = z.strictObject({
  setCanaryScale: z.strictObject({
    replicas: z.number().int().min(0).optional(),
    weight: Weight.optional(),
    matchTrafficWeight: z.boolean().optional(),
  }),
});
/** An argument for the analysis templates: a literal, or a value the Rollout knows. */
export const RolloutAnalysisArg = z.object({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z
    .object({
      /** `Stable` or `Latest` (the canary): the pod-template hash, as the pods' `fledge.dev/pod-template-hash` label. */
      podTemplateHashValue: z.enum(['Stable', 'Latest']).optional(),
      /**
       * A field of the Rollout: metadata.name, metadata.namespace, metadata.labels['key'], metadata.annotations['key'],
       * spec.strategy.canary.stableService or canaryService.
       */
      fieldRef: z.object({ fieldPath: z.string().min(1) }).optional(),
    })
    .optional(),
});
export type RolloutAnalysisArg = z.infer<typeof RolloutAnalysisArg>;

export const RolloutAnalysis = z.object({
  templates: z.array(z.object({ templateName: z.string().min(1), clusterScope: z.boolean().optional() })).min(1),
  args: z.array(RolloutAnalysisArg).optional(),
  /** `Abort` (default): a failed or errored run aborts. `Pause`: it holds the rollout for a person to promote or abort. */
  onFailure: z.enum(['Abort', 'Pause']).optional(),
});
export type RolloutAnalysis = z.infer<typeof RolloutAnalysis>;

export const AnalysisStep = z.strictObject({ analysis: RolloutAnalysis });

/** Argo's StringMatch: exactly one of exact, prefix or regex. */
export const StringMatch = z
  .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .refine((match) => [match.exact, match.prefix, match.regex].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of exact, prefix or regex',
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '[has(self.exact), has(self.prefix), has(self.regex)].filter(x, x).size() == 1', message: 'give exactly one of exact, prefix or regex' },
    ],
  });
export type StringMatch = z.infer<typeof StringMatch>;

const ManagedRouteName = z.string().min(1).max(63);

/** Requests whose headers match go to the canary, whatever the weight; `match` left out removes the route. */
export const SetHeaderRouteStep = z.strictObject({
  setHeaderRoute: z.strictObject({
    name: ManagedRouteName,
    match: z.array(z.strictObject({ headerName: z.string().min(1), headerValue: StringMatch })).max(8).optional(),
  }),
});
export type HeaderRoute = z.infer<typeof SetHeaderRouteStep>['setHeaderRoute'];

/** A copy of `percentage`% of the matching requests goes to the canary too; its answers are dropped. `match` left out removes it. */
export const SetMirrorRouteStep = z.strictObject({
  setMirrorRoute: z.strictObject({
    name: ManagedRouteName,
    percentage: z.number().int().min(0).max(100).optional(),
    match: z
      .array(
        z.strictObject({
          method: StringMatch.optional(),
          path: StringMatch.optional(),
          headers: z.record(z.string(), StringMatch).meta({ maxProperties: 8 }).optional(),
        }),
      )
      .max(8)
      .optional(),
  }),
});
export type MirrorRoute = z.infer<typeof SetMirrorRouteStep>['setMirrorRoute'];

/** Gateway API: the weights of the backendRefs naming canaryService and stableService in these HTTPRoutes. */
export const GatewayApiRouting = z.strictObject({
  httpRoute: z.string().min(1).optional(),
  httpRoutes: z
    .array(z.strictObject({ name: z.string().min(1), useHeaderRoutes: z.boolean().optional() }))
    .min(1)
    .max(16)
    .optional(),
  /** The routes' namespace, when not the Rollout's. */
  namespace: z.string().min(1).optional(),
}).meta({
  'x-kubernetes-validations': [{ rule: 'has(self.httpRoute) != has(self.httpRoutes)', message: 'give exactly one of httpRoute or httpRoutes' }],
});
export type GatewayApiRouting = z.infer<typeof GatewayApiRouting>;

/**
 * Istio: the VirtualService's `spec.tls[]` entries to weight, as in Argo's TLSRoute. A field left out does not
 * constrain; `port` matches an entry whose every `match[].port` is that port, `sniHosts` one whose `match[].sniHosts`
 * together are exactly these hosts (in any order).
 */
export const IstioTlsRoute = z.strictObject({
  port: z.number().int().min(1).max(65535).optional(),
  sniHosts: z.array(z.string().min(1)).min(1).max(16).optional(),
});
export type IstioTlsRoute = z.infer<typeof IstioTlsRoute>;

/** Istio: the VirtualService's `spec.tcp[]` entries to weight (Argo's TCPRoute): those whose every `match[].port` is `port`, every one when left out. */
export const IstioTcpRoute = z.strictObject({ port: z.number().int().min(1).max(65535).optional() });
export type IstioTcpRoute = z.infer<typeof IstioTcpRoute>;

/** The VirtualService whose routes carry the canary and stable weights. */
export const IstioVirtualService = z.strictObject({
  name: z.string().min(1),
  /** The HTTP routes to weight, by name; left out, every HTTP route with both a canary and a stable destination. */
  routes: z.array(z.string().min(1)).max(16).optional(),
  /** TLS routes to weight too; each must match at least one entry, and every entry it matches must split canary and stable. */
  tlsRoutes: z.array(IstioTlsRoute).min(1).max(16).optional(),
  /** TCP routes to weight too, with the same rules as tlsRoutes. */
  tcpRoutes: z.array(IstioTcpRoute).min(1).max(16).optional(),
});
export type IstioVirtualService = z.infer<typeof IstioVirtualService>;

/** ALB target-group stickiness, as Argo's StickinessConfig: AWS takes 1 to 604800 seconds (7 days) when enabled. */
export const AlbStickinessConfig = z.strictObject({ enabled: z.boolean(), durationSeconds: z.number().int().min(0).max(604800) }).meta({
  'x-kubernetes-validations': [{ rule: '!self.enabled || self.durationSeconds >= 1', message: 'stickinessConfig.durationSeconds must be 1 to 604800 when enabled' }],
});

/** Argo's ALBTrafficRouting: the Ingresses whose action annotation Fledge writes. */
export const AlbRouting = z
  .strictObject({
    ingress: z.string().min(1).optional(),
    ingresses: z.array(z.string().min(1)).min(1).max(16).optional(),
    /** The port the forward action's target groups name (written as a string, as the controller reads it). */
    servicePort: z.number().int().min(1).max(65535),
    /** The Service whose rule backend carries the action (`port.name: use-annotation`); stableService when left out. */
    rootService: z.string().min(1).optional(),
    /** The AWS Load Balancer Controller's annotation prefix; `alb.ingress.kubernetes.io` when left out. */
    annotationPrefix: z.string().min(1).optional(),
    stickinessConfig: AlbStickinessConfig.optional(),
  })
  .meta({
    'x-kubernetes-validations': [{ rule: 'has(self.ingress) != has(self.ingresses)', message: 'give exactly one of ingress or ingresses' }],
  });
export type AlbRouting = z.infer<typeof AlbRouting>;

/** The routers trafficRouting may name, as its keys; a Rollout may name several, and each is applied. */
export const ROUTER_NAMES = ['gatewayAPI', 'traefik', 'istio', 'nginx', 'alb', 'smi', 'apisix', 'ambassador'] as const;
export type RouterName = (typeof ROUTER_NAMES)[number];

export const TrafficRouting = z
  .strictObject({
    gatewayAPI: GatewayApiRouting.optional(),
    /** A TraefikService (traefik.io/v1alpha1) of kind weighted whose services include canaryService and stableService. */
    traefik: z.strictObject({ weightedTraefikServiceName: z.string().min(1) }).optional(),
    istio: z
      .strictObject({
        virtualService: IstioVirtualService,
        /** Subset-level split: the subsets' pod-template-hash labels follow the stable and canary revisions. */
        destinationRule: z
          .strictObject({ name: z.string().min(1), canarySubsetName: z.string().min(1), stableSubsetName: z.string().min(1) })
          .optional(),
      })
      .optional(),
    /** ingress-nginx: a canary Ingress copied from stableIngress, with the canary-weight annotation. */
    nginx: z
      .strictObject({
        stableIngress: z.string().min(1),
        additionalIngressAnnotations: z.record(z.string(), z.string()).optional(),
        annotationPrefix: z.string().min(1).optional(),
      })
      .optional(),
    /**
     * AWS Load Balancer Controller: the `actions.<rootService or stableService>` annotation on each Ingress, a forward
     * action splitting servicePort between canaryService and stableService (Argo's ALBTrafficRouting).
     */
    alb: AlbRouting.optional(),
    /**
     * SMI (archived upstream): a TrafficSplit (split.smi-spec.io/v1alpha1, Argo's default) the Rollout creates and
     * owns, named trafficSplitName (default: the Rollout's name), for rootService (default: stableService).
     */
    smi: z.strictObject({ rootService: z.string().min(1).optional(), trafficSplitName: z.string().min(1).optional() }).optional(),
    /** APISIX: the backend weights in the named spec.http rules (default: the rule named as the route) of an ApisixRoute (apisix.apache.org/v2). */
    apisix: z
      .strictObject({ route: z.strictObject({ name: z.string().min(1), rules: z.array(z.string().min(1)).min(1).max(16).optional() }) })
      .optional(),
    /**
     * Ambassador / Emissary: for each Mapping (getambassador.io/v2) a canary Mapping `<name>-canary`, a copy of it to
     * canaryService with the canary's weight, created at the first weight and deleted once the weight is back at 0.
     */
    ambassador: z.strictObject({ mappings: z.array(z.string().min(1).max(253)).min(1).max(16) }).optional(),
    /** The routes setHeaderRoute and setMirrorRoute steps may name, in precedence order. */
    managedRoutes: z.array(z.strictObject({ name: ManagedRouteName })).max(16).optional(),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        // Argo applies every router named, each to its own objects: a mesh behind an ingress is split at both.
        rule: '[has(self.gatewayAPI), has(self.traefik), has(self.istio), has(self.nginx), has(self.alb), has(self.smi), has(self.apisix), has(self.ambassador)].exists(x, x)',
        message: 'trafficRouting names no router: give one or more of gatewayAPI, traefik, istio, nginx, alb, smi, apisix or ambassador',
      },
      {
        // Every router named must carry a managed route for it to be in effect.
        rule: '!has(self.managedRoutes) || [has(self.traefik), has(self.nginx), has(self.smi), has(self.ambassador)].all(x, !x)',
        message: 'managedRoutes (setHeaderRoute, setMirrorRoute) are implemented for the gatewayAPI, istio, alb and apisix routers; traefik, nginx, smi and ambassador have none, and every router named must implement them',
      },
    ],
  });
export type TrafficRouting = z.infer<typeof TrafficRouting>;

/** The routers `routing` names, in ROUTER_NAMES order. */
export function routersNamed(routing: TrafficRouting): RouterName[] {
  return ROUTER_NAMES.filter((name) => routing[name] !== undefined);
}

/** Analysis that runs in the background from `startingStep` until the canary is promoted; a failure acts at any step. */
export const BackgroundAnalysis = RolloutAnalysis.extend({ startingStep: z.number().int().min(0).optional() });
export type BackgroundAnalysis = z.infer<typeof BackgroundAnalysis>;

/** Labels and annotations for the pods of one role (Argo's canaryMetadata and stableMetadata). */
export const RolePodMetadata = z.strictObject({
  labels: Labels.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type RolePodMetadata = z.infer<typeof RolePodMetadata>;

/** A name that becomes part of object names and a label value. */
const DnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);

/**
 * One ReplicaSet of an experiment: the stable or the canary pod template, under its own pod-template hash (so no
 * Service of the Rollout selects it), with `metadata` over the template's labels and annotations.
 */
export const ExperimentTemplate = z.strictObject({
  name: DnsLabel,
  specRef: z.enum(['stable', 'canary']),
  /** Pods to run (default 1). */
  replicas: z.number().int().min(0).max(1000).optional(),
  metadata: RolePodMetadata.optional(),
  /** Its ReplicaSet's selector instead of the Rollout's; `metadata.labels` are added to it, as in Argo. */
  selector: LabelSelector.optional(),
  /** With a router: the percent of traffic its Service gets while the experiment runs, taken from the stable's share. */
  weight: Weight.optional(),
  /** A Service selecting its pods (named `name`, or after its ReplicaSet); one is made for a weight whatever this says. */
  service: z.strictObject({ name: DnsLabel.optional() }).optional(),
});
export type ExperimentTemplate = z.infer<typeof ExperimentTemplate>;

/**
 * An AnalysisRun of the experiment, started once every template's pods are available. Argument values may name the
 * templates: `{{templates.<name>.podTemplateHash}}`, `{{templates.<name>.replicaset.name}}`, and
 * `{{experiment.availableAt}}` or `{{experiment.finishedAt}}` (with a duration).
 */
export const ExperimentAnalysis = z.strictObject({
  name: DnsLabel,
  templateName: z.string().min(1),
  clusterScope: z.boolean().optional(),
  args: z.array(RolloutAnalysisArg).optional(),
  /** The step waits for this run to succeed, past the duration if need be; once every such run succeeded, the step is done. */
  requiredForCompletion: z.boolean().optional(),
});
export type ExperimentAnalysis = z.infer<typeof ExperimentAnalysis>;

/**
 * Argo's experiment step: ReplicaSets of the stable and canary templates run beside the Rollout's own, and analysis
 * on them. It ends once `duration` has passed since every template's pods became available, or every
 * requiredForCompletion run succeeded; a failed run aborts the Rollout. Without either, it waits for a promote.
 */
export const ExperimentStep = z.strictObject({
  experiment: z
    .strictObject({
      duration: Duration.optional(),
      templates: z.array(ExperimentTemplate).min(1).max(10),
      analyses: z.array(ExperimentAnalysis).max(10).optional(),
      /** Metrics of the runs that are measured and shown but decide nothing: metricName is a regular expression, as in Argo. */
      dryRun: z.array(z.strictObject({ metricName: z.string().min(1).max(253) })).max(20).optional(),
      /** Labels and annotations for the experiment's AnalysisRuns. */
      analysisRunMetadata: RolePodMetadata.optional(),
    })
    .meta({
      'x-kubernetes-validations': [
        { rule: 'self.templates.all(t, self.templates.exists_one(o, o.name == t.name))', message: 'experiment template names must be unique' },
        { rule: '!has(self.analyses) || self.analyses.all(a, self.analyses.exists_one(o, o.name == a.name))', message: 'experiment analysis names must be unique' },
      ],
    }),
});
export type ExperimentStep = z.infer<typeof ExperimentStep>['experiment'];

export const CanaryStep = z.union([SetWeightStep, PauseStep, SetCanaryScaleStep, AnalysisStep, SetHeaderRouteStep, SetMirrorRouteStep, ExperimentStep]);
export type CanaryStep = z.infer<typeof CanaryStep>;

/**
 * Why an experiment step's weights cannot all be served: with the canary's weight at that step they would take more
 * than all the traffic. A sum over a list is beyond the CRD's CEL, so it makes the Rollout invalid instead.
 */
export function experimentWeightProblem(steps: readonly CanaryStep[]): string | undefined {
  let canaryWeight = 0;
  for (const [index, step] of steps.entries()) {
    if ('setWeight' in step) canaryWeight = step.setWeight;
    if (!('experiment' in step)) continue;
    const weights = step.experiment.templates.reduce((sum, template) => sum + (template.weight ?? 0), 0);
    if (weights > 0 && canaryWeight + weights > 100) return `steps[${index}].experiment: its templates' weights (${weights}%) and the canary's ${canaryWeight}% come to more than 100%`;
  }
  return undefined;
}

/** Flagger's webhook types: gates that hold the canary, calls that can abort it, and calls that only inform. */
export const WebhookType = z.enum([
  'confirm-rollout',
  'pre-rollout',
  'confirm-traffic-increase',
  'rollout',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
  'load-test',
]);
export type WebhookType = z.infer<typeof WebhookType>;

/** At most this many requests a second from one load-test hook, and this long. */
export const LOAD_TEST_MAX_RPS = 100;
export const LOAD_TEST_MAX_DURATION = '1h';

/**
 * A webhook in Flagger's shape. `load-test` sends GET requests to `url` (the canary's address) at `metadata.rps`
 * for `metadata.duration` while the canary runs, instead of calling it once. Its metadata is checked here, not by a
 * CEL rule: matching map values costs more than the apiserver's budget allows, so a bad rps or duration makes the
 * Rollout invalid (InvalidSpec condition and Event) instead of being refused at apply.
 */
export const CanaryWebhook = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63),
    type: WebhookType,
    url: z.string().regex(/^https?:\/\/[^\s/$.?#][^\s]*$/).max(2048),
    /** Each call's timeout (default 10s, at most 5m). */
    timeout: Duration.optional(),
    /** For pre-rollout, rollout and post-rollout: calls after the first failed one (default 2). */
    retries: z.number().int().min(0).max(10).optional(),
    metadata: z.record(z.string().max(253), z.string().max(1024)).meta({ maxProperties: 32 }).optional(),
  })
  .refine((hook) => hook.type !== 'load-test' || loadTestProblem(hook.metadata) === undefined, {
    message: `load-test metadata: rps must be a whole number from 1 to ${LOAD_TEST_MAX_RPS}, duration a duration up to ${LOAD_TEST_MAX_DURATION}`,
  });
export type CanaryWebhook = z.infer<typeof CanaryWebhook>;

/** Why a load-test hook's metadata cannot be used, or undefined when it can. */
export function loadTestProblem(metadata: Record<string, string> | undefined): string | undefined {
  const rps = metadata?.rps;
  if (rps !== undefined && !(/^[0-9]+$/.test(rps) && Number(rps) >= 1 && Number(rps) <= LOAD_TEST_MAX_RPS)) return `rps ${JSON.stringify(rps)} is not from 1 to ${LOAD_TEST_MAX_RPS}`;
  const duration = metadata?.duration;
  if (duration === undefined) return undefined;
  if (!new RegExp(DURATION_PATTERN).test(duration)) return `duration ${JSON.stringify(duration)} is not a duration`;
  return parseDuration(duration) > parseDuration(LOAD_TEST_MAX_DURATION) ? `duration ${duration} is longer than ${LOAD_TEST_MAX_DURATION}` : undefined;
}

/**
 * Argo's antiAffinity: the canary's pods avoid the nodes of the stable revision's pods, so one bad node cannot
 * sink both versions at once (and a node-level fault shows up in one version's metrics only).
 */
export const CanaryAntiAffinity = z
  .strictObject({
    requiredDuringSchedulingIgnoredDuringExecution: z.strictObject({}).optional(),
    preferredDuringSchedulingIgnoredDuringExecution: z.strictObject({ weight: z.number().int().min(1).max(100) }).optional(),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.requiredDuringSchedulingIgnoredDuringExecution) != has(self.preferredDuringSchedulingIgnoredDuringExecution)',
        message: 'give exactly one of requiredDuringSchedulingIgnoredDuringExecution or preferredDuringSchedulingIgnoredDuringExecution',
      },
    ],
  });
export type CanaryAntiAffinity = z.infer<typeof CanaryAntiAffinity>;

/**
 * A baseline for the judge: pods of the stable template, started beside the canary with as many pods as the canary
 * has at each step, so the two are compared at the same time, size and age. Its pods carry fledge.dev/role=baseline
 * and `metadata` (over the stable template's own, without stableMetadata). It is removed at promotion and abort.
 * Behind a router it gets a Service on the stable Service's ports and the canary's share of traffic, taken from the
 * stable's (as Argo's experiment Service and weight).
 */
export const CanaryBaseline = z.strictObject({
  metadata: RolePodMetadata.optional(),
  /** Its Service (named `name`, default `<rollout>-baseline`); one is made behind a router whatever this says. */
  service: z.strictObject({ name: DnsLabel.optional() }).optional(),
});
export type CanaryBaseline = z.infer<typeof CanaryBaseline>;

export const CanaryStrategy = z.object({
  steps: z
    .array(CanaryStep)
    .max(100)
    .superRefine((steps, check) => {
      const problem = experimentWeightProblem(steps);
      if (problem !== undefined) check.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  baseline: CanaryBaseline.optional(),
  /** On the canary's pods while it is the canary; a promoted canary's pods lose them and get stableMetadata. */
  canaryMetadata: RolePodMetadata.optional(),
  /** On the stable revision's pods. */
  stableMetadata: RolePodMetadata.optional(),
  /** The canary's pods avoid nodes that run the stable revision's pods. */
  antiAffinity: CanaryAntiAffinity.optional(),
  analysis: BackgroundAnalysis.optional(),
  /** AnalysisRuns kept per Rollout once finished (default 5). */
  analysisRunHistoryLimit: z.number().int().min(0).optional(),
  maxSurge: IntOrPercent.optional(),
  maxUnavailable: IntOrPercent.optional(),
  stableService: z.string().optional(),
  canaryService: z.string().optional(),
  /**
   * Argo's ping-pong: two Services that take turns being the stable one (status.canary.stablePingPong says which).
   * The other selects the canary and takes its weight; a promotion swaps their roles instead of re-pointing the
   * stable Service, so no Service carrying traffic ever changes its selector (ALB pod readiness gates stay true).
   */
  pingPong: z.strictObject({ pingService: z.string().min(1), pongService: z.string().min(1) }).optional(),
  scaleDownDelaySeconds: z.number().int().min(0).optional(),
  /** Old revisions that may keep their pods through scaleDownDelaySeconds at once (Argo's); older ones go at once. */
  scaleDownDelayRevisionLimit: z.number().int().min(0).optional(),
  abortScaleDownDelaySeconds: z.number().int().min(0).optional(),
  /** Shift traffic through a router instead of by pod counts. */
  trafficRouting: TrafficRouting.optional(),
  /** With a router: the stable ReplicaSet shrinks to the traffic share it still serves. */
  dynamicStableScale: z.boolean().optional(),
  /** Gates, checks and notifications around the canary, in Flagger's shape. */
  webhooks: z.array(CanaryWebhook).max(20).optional(),
}).meta({
  'x-kubernetes-validations': [
    {
      // As Argo: ALB and host-level Istio may split between pingPong's Services instead; every other router needs both.
      rule:
        '!has(self.trafficRouting) || (has(self.stableService) && has(self.canaryService)) || ([has(self.trafficRouting.gatewayAPI), has(self.trafficRouting.traefik), has(self.trafficRouting.nginx), has(self.trafficRouting.smi), has(self.trafficRouting.apisix), has(self.trafficRouting.ambassador)].all(x, !x) && (!has(self.trafficRouting.alb) || has(self.pingPong)) && (!has(self.trafficRouting.istio) || has(self.pingPong) || has(self.trafficRouting.istio.destinationRule)))',
      message:
        'trafficRouting needs stableService and canaryService (alb and istio may use pingPong instead, and an Istio destinationRule alone may split by subsets)',
    },
    {
      rule: '!has(self.pingPong) || (has(self.trafficRouting) && (has(self.trafficRouting.alb) || has(self.trafficRouting.istio)))',
      message: 'pingPong works with the alb and istio routers only: trafficRouting must name alb or istio',
    },
    {
      rule: '!has(self.pingPong) || self.pingPong.pingService != self.pingPong.pongService',
      message: 'pingPong.pingService and pingPong.pongService must be different Services',
    },
    {
      // The action annotation is named after its Service: with pingPong the stable Service changes at every promotion.
      rule: '!has(self.pingPong) || !has(self.trafficRouting) || !has(self.trafficRouting.alb) || has(self.trafficRouting.alb.rootService)',
      message: 'with pingPong, trafficRouting.alb.rootService is required: the Ingress backend that carries the action',
    },
    {
      rule:
        '!has(self.pingPong) || ((!has(self.stableService) || (self.stableService != self.pingPong.pingService && self.stableService != self.pingPong.pongService)) && (!has(self.canaryService) || (self.canaryService != self.pingPong.pingService && self.canaryService != self.pingPong.pongService)))',
      message: 'pingPong Services must differ from stableService and canaryService: each is steered by its own rule',
    },
    {
      rule:
        "!has(self.steps) || self.steps.all(s, (!has(s.setHeaderRoute) || (has(self.trafficRouting) && has(self.trafficRouting.managedRoutes) && self.trafficRouting.managedRoutes.exists(r, r.name == s.setHeaderRoute.name))) && (!has(s.setMirrorRoute) || (has(self.trafficRouting) && has(self.trafficRouting.managedRoutes) && self.trafficRouting.managedRoutes.exists(r, r.name == s.setMirrorRoute.name))))",
      message: 'a setHeaderRoute or setMirrorRoute step must name a route listed in trafficRouting.managedRoutes',
    },
    {
      rule:
        '!has(self.steps) || !self.steps.exists(s, has(s.setMirrorRoute)) || (has(self.trafficRouting) && (has(self.trafficRouting.gatewayAPI) || has(self.trafficRouting.istio)) && !has(self.trafficRouting.alb) && !has(self.trafficRouting.apisix))',
      message: 'setMirrorRoute is implemented for the gatewayAPI and istio routers only, and every router named must mirror: ALB and APISIX cannot, as in Argo',
    },
    {
      // An ALB listener rule's http-header condition compares values, with no prefix or regular expression.
      rule: '!has(self.steps) || !has(self.trafficRouting) || !has(self.trafficRouting.alb) || self.steps.all(s, !has(s.setHeaderRoute) || !has(s.setHeaderRoute.match) || s.setHeaderRoute.match.all(m, has(m.headerValue.exact)))',
      message: 'on the alb router, setHeaderRoute matches exact header values only (an ALB http-header condition has no prefix or regex)',
    },
    {
      rule: '!has(self.webhooks) || self.webhooks.all(h, self.webhooks.exists_one(o, o.name == h.name))',
      message: 'webhook names must be unique',
    },
    {
      // The baseline's Service is a third destination: a router that cannot carry one would send it nothing to judge.
      rule:
        '!has(self.baseline) || !has(self.trafficRouting) || ((has(self.trafficRouting.gatewayAPI) || has(self.trafficRouting.istio) || has(self.trafficRouting.alb) || has(self.trafficRouting.smi)) && !has(self.trafficRouting.traefik) && !has(self.trafficRouting.nginx) && !has(self.trafficRouting.apisix) && !has(self.trafficRouting.ambassador))',
      message: 'a baseline behind a router is routed by gatewayAPI, istio, alb and smi only: leave baseline out with traefik, nginx, apisix or ambassador (alone or beside another router)',
    },
    {
      rule: '!has(self.baseline) || !has(self.trafficRouting) || has(self.stableService) || has(self.pingPong)',
      message: "a baseline behind a router needs stableService (or pingPong's Services): its own Service takes the stable Service's ports",
    },
    {
      rule: '!has(self.steps) || has(self.trafficRouting) || self.steps.all(s, !has(s.experiment) || s.experiment.templates.all(t, !has(t.weight)))',
      message: 'an experiment template weight needs trafficRouting: without a router its pods get no share of traffic',
    },
    {
      rule:
        '!has(self.steps) || !has(self.trafficRouting) || ((has(self.trafficRouting.gatewayAPI) || has(self.trafficRouting.istio) || has(self.trafficRouting.alb) || has(self.trafficRouting.smi)) && !has(self.trafficRouting.traefik) && !has(self.trafficRouting.nginx) && !has(self.trafficRouting.apisix) && !has(self.trafficRouting.ambassador)) || self.steps.all(s, !has(s.experiment) || s.experiment.templates.all(t, !has(t.weight)))',
      message: 'experiment template weights are routed by gatewayAPI, istio, alb and smi only: leave weight out with traefik, nginx, apisix or ambassador (alone or beside another router)',
    },
    {
      rule: '!has(self.dynamicStableScale) || !self.dynamicStableScale || has(self.trafficRouting)',
      message: 'dynamicStableScale needs trafficRouting: without a router the pods are the traffic split',
    },
    {
      // One Service for both would be repointed on every reconcile: traffic flipping between the versions.
      rule: '!has(self.stableService) || !has(self.canaryService) || self.stableService != self.canaryService',
      message: 'stableService and canaryService must be different Services',
    },
  ],
});
export type CanaryStrategy = z.infer<typeof CanaryStrategy>;

/**
 * Argo's workloadRef: a Deployment whose pod template the Rollout runs, so a Deployment can move to canaries without
 * being rewritten. `scaleDown` says what becomes of the Deployment's own pods: `never` (the default) leaves them,
 * `onsuccess` scales it to 0 once the Rollout is fully available, `progressively` shrinks it as the Rollout's pods
 * become available.
 */
export const WorkloadRef = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  name: z.string().min(1).max(253),
  scaleDown: z.enum(['never', 'onsuccess', 'progressively']).optional(),
});
export type WorkloadRef = z.infer<typeof WorkloadRef>;

/** The spec as it is declared and stored: the pod template, or a Deployment that has it. */
export const DeclaredRolloutSpec = z
  .object({
    // Defaulted by the apiserver, so the scale subresource (an HPA, `kubectl scale`) always reads a number.
    replicas: z.number().int().min(0).optional().meta({ default: 1 }),
    /** Required, unless a workloadRef gives it: then, as in Argo, the Deployment's selector is used. */
    selector: LabelSelector.meta({
      'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'spec.selector is immutable' }],
    }).optional(),
    template: PodTemplate.optional(),
    /** Argo's workloadRef: the pod template is read from this Deployment, which Fledge scales down as `scaleDown` says. */
    workloadRef: WorkloadRef.optional(),
    minReadySeconds: z.number().int().min(0).optional(),
    revisionHistoryLimit: z.number().int().min(0).optional(),
    progressDeadlineSeconds: z.number().int().min(1).optional(),
    progressDeadlineAbort: z.boolean().optional(),
    paused: z.boolean().optional(),
    /** Recreate every Pod created before this time, maxUnavailable at a time (`kubectl fledge restart`). */
    restartAt: z.string().meta({ format: 'date-time' }).optional(),
    /**
     * Argo's rollback window: a template change back to one of the `revisions` newest revisions (the stable one
     * counted) skips every step and analysis, straight to full promotion, since that revision ran before.
     */
    rollbackWindow: z.strictObject({ revisions: z.number().int().min(1) }).optional(),
    strategy: z.object({ canary: CanaryStrategy }),
    /**
     * Config tracking (on unless `enabled: false`): each ConfigMap and Secret the pod template reads is copied per
     * content (`<name>-<hash>`, immutable, owned by the Rollout) and each ReplicaSet reads its own copies, so a
     * content change is a new revision (a canary) and the stable pods keep the old content.
     */
    configTracking: z.strictObject({ enabled: z.boolean().optional() }).optional(),
    /**
     * After an abort, commit the stable images back to Git, so Git declares what the cluster runs. Present, it opts
     * this Rollout in (`enabled: false` opts it out) whatever its Namespace's fledge.dev/write-back annotation or the
     * controller's --write-back say. Where the Rollout is declared is found from Flux's or Argo CD's labels; the
     * fields here override it.
     */
    writeBack: z
      .strictObject({
        enabled: z.boolean().optional(),
        /**
         * A Secret in the Rollout's namespace with `username` and `password` (or `token`) for HTTPS. Absent, the
         * Namespace's fledge.dev/write-back-secret annotation, then the controller's --write-back-secret, name it.
         */
        secretRef: z.strictObject({ name: z.string().min(1) }).optional(),
        repoURL: z.string().min(1).optional(),
        branch: z.string().min(1).optional(),
        /** A file, or a directory searched for the Rollout's manifest or a kustomization's images:. */
        path: z.string().min(1).optional(),
        /** Push to `<pushBranch>-<aborted revision>`, a new branch for review, instead of the source's branch. */
        pushBranch: z.string().min(1).optional(),
      })
      .optional(),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.template) != has(self.workloadRef)',
        message: 'give exactly one of spec.template or spec.workloadRef',
      },
      {
        rule: 'has(self.selector) || has(self.workloadRef)',
        message: 'spec.selector is required (only a workloadRef may leave it out: the Deployment’s is used)',
      },
      {
        rule: "!has(self.template) || !has(self.selector) || !has(self.selector.matchLabels) || self.selector.matchLabels.all(k, has(self.template.metadata) && has(self.template.metadata.labels) && k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])",
        message: 'spec.selector.matchLabels must match spec.template.metadata.labels',
      },
    ],
  });
export type DeclaredRolloutSpec = z.infer<typeof DeclaredRolloutSpec>;

/** The spec the controller works with: a workloadRef's template (and selector, if not given) is filled in from its Deployment. */
export const RolloutSpec = DeclaredRolloutSpec.extend({ template: PodTemplate, selector: LabelSelector });
export type RolloutSpec = z.infer<typeof RolloutSpec>;

export const RolloutPhase = z.enum(['Progressing', 'Paused', 'Healthy', 'Degraded']);
export type RolloutPhase = z.infer<typeof RolloutPhase>;

export const RolloutStatus = z.object({
  observedGeneration: z.number().int().optional().meta({ default: 0 }),
  phase: RolloutPhase.optional(),
  message: z.string().optional(),
  /** Pod-template hash of the last revision that fully rolled out. */
  stableRevision: z.string().optional(),
  /** Pod-template hash of the revision the spec declares now. */
  currentRevision: z.string().optional(),
  currentStepIndex: z.number().int().min(0).optional(),
  /** Hash of spec.strategy.canary.steps as last reconciled: when the steps change mid-canary, it starts again from step 1. */
  stepsHash: z.string().optional(),
  /** `k/n` for the Step printer column. */
  stepProgress: z.string().optional(),
  /** Weight the current step asks for. */
  canaryWeight: z.number().int().min(0).max(100).optional(),
  /** Weight the canary actually receives (replica ratio without a traffic router). */
  actualWeight: z.number().int().min(0).max(100).optional(),
  pauseStartTime: z.string().optional(),
  /** Set by a person (or by the controller) to abort; cleared by retry. Never touches spec. */
  abort: z.boolean().optional(),
  abortedAt: z.string().optional(),
  /** A person's request to end the current pause (`step`) or skip every remaining step (`full`); consumed by the controller. */
  promote: z.enum(['step', 'full']).optional(),
  /** Time the latest template change was first observed, for the progress deadline and scale-down delays. */
  progressStartTime: z.string().optional(),
  /** Bumped by every new canary, retry, steps edit and promotion past an analysis hold, so analysis starts afresh with new AnalysisRuns. */
  attempt: z.number().int().min(0).optional(),
  /** The experiment step the canary is at: when it started, and when every template's pods were first available. */
  experiment: z.object({ step: z.number().int().min(0), startedAt: z.string(), availableAt: z.string().optional() }).optional(),
  /** AnalysisRuns working for the current step and in the background. */
  stepAnalysisRun: z.string().optional(),
  backgroundAnalysisRun: z.string().optional(),
  /** Argo's status.canary: with pingPong, which of its Services is the stable one now. */
  canary: z.object({ stablePingPong: z.enum(['ping', 'pong']).optional() }).optional(),
  /** Webhook state that must survive a controller restart. */
  webhooks: z
    .object({
      /** The gate (or pre-rollout call) the canary waits on at step `step`, since `since`. */
      waitingFor: z.object({ type: WebhookType, step: z.number().int().min(0), since: z.string() }).optional(),
      /** The revision whose pre-rollout hooks all passed: a restart, retry or steps edit never runs them again for it. */
      preRolloutPassed: z.string().optional(),
    })
    .optional(),
  /** The spec.restartAt whose restart completed. */
  restartedAt: z.string().optional(),
  /** The last write-back to Git after an abort: which aborted revision it was for, and what it did. */
  writeBack: z
    .object({
      revision: z.string(),
      outcome: z.enum(['Committed', 'Unchanged', 'Failed']),
      commit: z.string().optional(),
      branch: z.string().optional(),
      file: z.string().optional(),
      repoURL: z.string().optional(),
      message: z.string().optional(),
      time: z.string().optional(),
    })
    .optional(),
  replicas: z.number().int().optional(),
  updatedReplicas: z.number().int().optional(),
  readyReplicas: z.number().int().optional(),
  availableReplicas: z.number().int().optional(),
  selector: z.string().optional(),
  conditions: z.array(Condition).optional(),
});
export type RolloutStatus = z.infer<typeof RolloutStatus>;

export const Rollout = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Rollout'),
  metadata: ObjectMeta,
  spec: RolloutSpec,
  status: RolloutStatus.optional(),
});
export type Rollout = z.infer<typeof Rollout>;

/** A Rollout as `kubectl apply` takes it: what lint checks and the plugin reads. */
export const DeclaredRollout = Rollout.extend({ spec: DeclaredRolloutSpec });
export type DeclaredRollout = z.infer<typeof DeclaredRollout>;
