// The live half of the judge's record: the AnalysisTemplates and Rollouts a live release is made of, and what is read
// back from its AnalysisRun and from the load generator's answers once it is promoted or aborted.
import type { AnalysisRun, Measurement, MetricResult } from '../../src/api/analysis.js';
import { gatewayRollout } from '../../test/harness/dataplane.js';
import type { Answer } from '../../test/harness/load.js';

export type LiveAnalysis = 'judge' | 'threshold';

/** How the live analyses look: the same look and window the offline bench simulates. */
export interface LiveAnalysisShape {
  lookSeconds: number;
  /** The horizon in looks: the judge's count; the threshold measures from its window's end to the same horizon. */
  looks: number;
  windowLooks: number;
  alpha: number;
  threshold: number;
  failureLimit: number;
}

export const JUDGE_TEMPLATE = 'judge-errors';
export const THRESHOLD_TEMPLATE = 'threshold-errors';

/**
 * Traefik's counter for one backend Service of the app's HTTPRoute, `<namespace>-<app>-<role>-http-80`: the judge
 * renders `role` as canary and baseline, the Services Fledge routes them to.
 */
const traefikRequests = (role: string, errorsOnly: boolean): string =>
  `traefik_service_requests_total{service="{{args.prefix}}-${role}-http-80@kubernetesgateway"${errorsOnly ? ',code=~"5.."' : ''}}`;

/**
 * The two AnalysisTemplates. The judge: the sequential count test on Traefik's counts per look, canary against
 * baseline, every look until the horizon. The threshold, as users write it today: the canary's error ratio over the
 * last `windowLooks` looks under T, measured once that window is full and then every look to the same horizon, with
 * failureLimit F (an error counter with no series yet reads 0).
 */
export function templates(shape: LiveAnalysisShape): object[] {
  const interval = `${shape.lookSeconds}s`;
  const window = `${shape.windowLooks * shape.lookSeconds}s`;
  const errors = `(sum(rate(${traefikRequests('canary', true)}[${window}])) or vector(0))`;
  const template = (name: string, metric: object): object => ({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name },
    spec: { args: [{ name: 'prefix' }], measurementRetention: shape.looks, metrics: [metric] },
  });
  return [
    template(JUDGE_TEMPLATE, {
      name: 'error-ratio',
      interval,
      count: shape.looks,
      provider: {
        judge: {
          errors: `sum(increase(${traefikRequests('{{args.role}}', true)}[{{args.window}}]))`,
          requests: `sum(increase(${traefikRequests('{{args.role}}', false)}[{{args.window}}]))`,
          direction: 'increase',
          alpha: shape.alpha,
        },
      },
    }),
    template(THRESHOLD_TEMPLATE, {
      name: 'error-ratio',
      initialDelay: window,
      interval,
      count: shape.looks - shape.windowLooks + 1,
      failureLimit: shape.failureLimit,
      successCondition: `result < ${shape.threshold}`,
      provider: { prometheus: { query: `${errors} / sum(rate(${traefikRequests('canary', false)}[${window}]))` } },
    }),
  ];
}

export interface RolloutShape {
  replicas: number;
  weight: number;
  /** A pause between the weight and the analysis: Traefik's counters of the new Services get their first samples. */
  warmupSeconds: number;
}

/** The app's Rollout: setWeight, the warm-up pause, then the analysis; the judge's with a baseline beside the canary. */
export function liveRollout(app: string, image: string, analysis: LiveAnalysis, prefix: string, shape: RolloutShape): object {
  const steps = [
    { setWeight: shape.weight },
    { pause: { duration: `${shape.warmupSeconds}s` } },
    { analysis: { templates: [{ templateName: analysis === 'judge' ? JUDGE_TEMPLATE : THRESHOLD_TEMPLATE }], args: [{ name: 'prefix', value: prefix }] } },
  ];
  return gatewayRollout(app, image, shape.replicas, { steps, ...(analysis === 'judge' && { baseline: {} }) });
}

/** What a live release came to, read from its AnalysisRun and the load generator. */
export interface LiveOutcome {
  verdict: 'promoted' | 'aborted' | 'unfinished';
  /** Looks the analysis had taken when it decided (the horizon when it promoted). */
  looks?: number;
  /** The look's end at which it aborted, from the analysis's start (what the offline bench calls time to detect). */
  detectSeconds?: number;
  /** From the analysis's start to the measurement that aborted, by the clock: the look plus scrape and reconcile lag. */
  wallSeconds?: number;
  analysisSeconds?: number;
  /** Requests each arm answered while the analysis ran, by the load generator's count. */
  served: { canary: number; baseline?: number };
  /** Requests and errors each arm had as the judge counted them from Traefik's counters. */
  judged?: { canary: { errors: number; requests: number }; baseline: { errors: number; requests: number }; eValue?: number };
  explanation?: string;
  /** Every measurement: when it was taken (seconds from the analysis's start), its phase and value. */
  measurements: Array<{ seconds: number; phase: string; value?: string }>;
}

const seconds = (from: string, to: string): number => (Date.parse(to) - Date.parse(from)) / 1000;

/** The measurement at which the metric failed: the one that took its failures past failureLimit. */
function abortingMeasurement(result: MetricResult, failureLimit: number): { index: number; measurement: Measurement } | undefined {
  let failed = 0;
  for (const [index, measurement] of result.measurements.entries()) {
    if (measurement.phase === 'Failed' && ++failed > failureLimit) return { index, measurement };
  }
  return undefined;
}

/**
 * The outcome of one release: its verdict from the Rollout, the look at which the run aborted (the judge's count of
 * looks; for the threshold, its window plus the aborting measurement's index), and the arms' requests in the run.
 */
export function liveOutcome(
  analysis: LiveAnalysis,
  verdict: LiveOutcome['verdict'],
  run: AnalysisRun | undefined,
  answers: readonly Answer[],
  arms: { canaryVersion: string; baselineHash: string },
  shape: LiveAnalysisShape,
): LiveOutcome {
  const startedAt = run?.status?.startedAt;
  const result = run?.status?.metricResults?.[0];
  if (startedAt === undefined || result === undefined) return { verdict, served: { canary: 0 }, measurements: [] };
  const end = run?.status?.completedAt ?? new Date().toISOString();
  const during = answers.filter((answer) => answer.at >= Date.parse(startedAt) && answer.at <= Date.parse(end));
  const canary = during.filter((answer) => answer.version === arms.canaryVersion).length;
  const served = analysis === 'judge' ? { canary, baseline: during.filter((answer) => answer.hash === arms.baselineHash).length } : { canary };
  const judgement = result.judgement;
  const judged =
    judgement === undefined
      ? undefined
      : {
          canary: { errors: judgement.canary.errors ?? 0, requests: judgement.canary.requests ?? 0 },
          baseline: { errors: judgement.baseline.errors ?? 0, requests: judgement.baseline.requests ?? 0 },
          ...(judgement.eValue !== undefined && { eValue: judgement.eValue }),
        };
  const explanation = judgement?.explanation ?? result.message;
  const measurements = result.measurements.map((m) => ({ seconds: seconds(startedAt, m.startedAt), phase: m.phase, ...(m.value !== undefined && { value: m.value }) }));
  const common = { verdict, analysisSeconds: seconds(startedAt, end), served, ...(judged !== undefined && { judged }), ...(explanation !== undefined && { explanation }), measurements };
  if (analysis === 'judge') {
    const looks = judgement?.canary.n;
    const failed = result.measurements.find((measurement) => measurement.phase === 'Failed');
    if (verdict !== 'aborted' || looks === undefined || failed === undefined) return { ...common, ...(looks !== undefined && { looks }) };
    return { ...common, looks, detectSeconds: looks * shape.lookSeconds, wallSeconds: seconds(startedAt, failed.finishedAt) };
  }
  const aborting = abortingMeasurement(result, shape.failureLimit);
  const looks = shape.windowLooks - 1 + result.measurements.length;
  if (verdict !== 'aborted' || aborting === undefined) return { ...common, looks };
  const look = shape.windowLooks + aborting.index;
  return { ...common, looks: look, detectSeconds: look * shape.lookSeconds, wallSeconds: seconds(startedAt, aborting.measurement.startedAt) };
}
