import type { BackgroundAnalysis, CanaryStep, CanaryStrategy, CanaryWebhook, RolloutSpec, TrafficRouting } from '../../api/rollout.js';
import type { IntOrPercent } from '../../api/meta.js';

/**
 * maxUnavailable defaults to 0, not Argo's 25%: a canary should never cost availability unless
 * the user says so. Everything else matches Argo Rollouts.
 */
export const ROLLOUT_DEFAULTS = {
  replicas: 1,
  maxSurge: '25%',
  maxUnavailable: 0,
  abortScaleDownDelaySeconds: 30,
  /** With a router, the old stable ReplicaSet outlives a promotion this long, as proxies take up the switch (Argo's default). */
  scaleDownDelaySeconds: 30,
  revisionHistoryLimit: 10,
  progressDeadlineSeconds: 600,
  analysisRunHistoryLimit: 5,
} as const satisfies Record<string, IntOrPercent>;

/** The spec with every default applied and durations in ms. */
export interface RolloutSettings {
  replicas: number;
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  steps: CanaryStep[];
  stableService: string | undefined;
  canaryService: string | undefined;
  pingPong: CanaryStrategy['pingPong'];
  abortScaleDownDelayMs: number;
  scaleDownDelayMs: number;
  /** Old revisions allowed to wait out scaleDownDelayMs at once; undefined: no limit. */
  scaleDownDelayRevisionLimit: number | undefined;
  trafficRouting: TrafficRouting | undefined;
  dynamicStableScale: boolean;
  revisionHistoryLimit: number;
  progressDeadlineMs: number;
  progressDeadlineAbort: boolean;
  paused: boolean;
  backgroundAnalysis: BackgroundAnalysis | undefined;
  analysisRunHistoryLimit: number;
  webhooks: CanaryWebhook[];
}

export function resolveSettings(spec: RolloutSpec): RolloutSettings {
  const canary = spec.strategy.canary;
  return {
    replicas: spec.replicas ?? ROLLOUT_DEFAULTS.replicas,
    maxSurge: canary.maxSurge ?? ROLLOUT_DEFAULTS.maxSurge,
    maxUnavailable: canary.maxUnavailable ?? ROLLOUT_DEFAULTS.maxUnavailable,
    steps: canary.steps ?? [],
    stableService: canary.stableService,
    canaryService: canary.canaryService,
    pingPong: canary.pingPong,
    abortScaleDownDelayMs: (canary.abortScaleDownDelaySeconds ?? ROLLOUT_DEFAULTS.abortScaleDownDelaySeconds) * 1000,
    scaleDownDelayMs: (canary.scaleDownDelaySeconds ?? ROLLOUT_DEFAULTS.scaleDownDelaySeconds) * 1000,
    scaleDownDelayRevisionLimit: canary.scaleDownDelayRevisionLimit,
    trafficRouting: canary.trafficRouting,
    dynamicStableScale: canary.trafficRouting !== undefined && canary.dynamicStableScale === true,
    revisionHistoryLimit: spec.revisionHistoryLimit ?? ROLLOUT_DEFAULTS.revisionHistoryLimit,
    progressDeadlineMs: (spec.progressDeadlineSeconds ?? ROLLOUT_DEFAULTS.progressDeadlineSeconds) * 1000,
    progressDeadlineAbort: spec.progressDeadlineAbort ?? false,
    paused: spec.paused ?? false,
    backgroundAnalysis: canary.analysis,
    analysisRunHistoryLimit: canary.analysisRunHistoryLimit ?? ROLLOUT_DEFAULTS.analysisRunHistoryLimit,
    webhooks: canary.webhooks ?? [],
  };
}
