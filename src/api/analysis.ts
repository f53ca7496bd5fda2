import { z } from 'zod';
import { Duration, DURATION_PATTERN } from './duration.js';
import { Condition, ObjectMeta } from './meta.js';
import { API_VERSION } from './rollout.js';

export const SecretKeyRef = z.object({ name: z.string().min(1), key: z.string().min(1) });
export type SecretKeyRef = z.infer<typeof SecretKeyRef>;

/** A template argument: a default value, a Secret key, or nothing (the Rollout must supply it). */
export const AnalysisArg = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/),
  value: z.string().optional(),
  valueFrom: z.object({ secretKeyRef: SecretKeyRef }).optional(),
});
export type AnalysisArg = z.infer<typeof AnalysisArg>;

const Header = z.object({ key: z.string().min(1), value: z.string() });

/** `{{args.name}}` as a whole value: Argo's templated interval, count and limits, resolved when the run is created. */
export const ARG_TEMPLATE_PATTERN = '^\\{\\{\\s*args\\.[A-Za-z_][A-Za-z0-9_-]*\\s*\\}\\}$';
const ArgTemplate = z.string().regex(new RegExp(ARG_TEMPLATE_PATTERN));
/** One string pattern, because the CRD's int-or-string carries a single pattern. */
const TemplatedDuration = z
  .union([z.string().regex(new RegExp(`${DURATION_PATTERN}|${ARG_TEMPLATE_PATTERN}`)), z.number().int().min(0)])
  .meta({ description: 'Duration such as 30s, 5m, 1h, a bare number of seconds, or {{args.name}}.' });
const templatedInt = (min: number) => z.union([z.number().int().min(min), ArgTemplate]);

/**
 * Where the number is in the JSON answer: `$.data.successRate`, `$.values[0]`, or the same in Kubernetes JSONPath
 * braces as Argo writes it, `{$.data.successRate}`.
 */
export const WEB_JSON_PATH_PATTERN = '^(\\$(\\.[A-Za-z_][A-Za-z0-9_-]*|\\[[0-9]+\\])*|\\{\\$?(\\.[A-Za-z_][A-Za-z0-9_-]*|\\[[0-9]+\\])*\\})$';

export const PrometheusProvider = z.strictObject({
  prometheus: z.object({
    /** Defaults to the controller's --prometheus-address. */
    address: z.string().optional(),
    /** PromQL; `{{args.name}}` is substituted (see src/analysis/query.ts for why that is safe). */
    query: z.string().min(1),
    timeout: Duration.optional(),
    headers: z.array(Header).optional(),
    authentication: z
      .object({
        bearerTokenSecretRef: SecretKeyRef.optional(),
        basic: z.object({ usernameSecretRef: SecretKeyRef, passwordSecretRef: SecretKeyRef }).optional(),
      })
      .optional(),
  }),
});

export type PrometheusProvider = z.infer<typeof PrometheusProvider>;

export const WebProvider = z.strictObject({
  web: z.object({
    url: z.string().min(1),
    method: z.enum(['GET', 'POST', 'PUT']).optional(),
    headers: z.array(Header).optional(),
    body: z.string().optional(),
    timeout: Duration.optional(),
    /**
     * Where the value is in the JSON answer (`$.data.ok` or Argo's `{$.data.ok}`); without it the whole answer is
     * `result`. The value keeps its JSON type: a number, a bool, a string, a list or a map.
     */
    jsonPath: z.string().regex(new RegExp(WEB_JSON_PATH_PATTERN)).optional(),
    /** Skip TLS certificate verification for this provider only (a self-signed metrics endpoint). */
    insecure: z.boolean().optional(),
  }),
});

export type WebProvider = z.infer<typeof WebProvider>;

const StringMap = z.record(z.string(), z.string());

/** Argo's job provider: a Job from this template per measurement; the Job completing is Successful, failing is Failed. */
export const JobProvider = z.strictObject({
  job: z.object({
    metadata: z.object({ labels: StringMap.optional(), annotations: StringMap.optional() }).optional(),
    /** A batch/v1 JobSpec, checked by the apiserver when the Job is created. */
    spec: z.looseObject({ template: z.record(z.string(), z.unknown()) }),
  }),
});

export type JobProvider = z.infer<typeof JobProvider>;

/** Which change of the canary against its baseline is a regression. */
export const JudgeDirection = z.enum(['increase', 'decrease', 'either']);
export type JudgeDirection = z.infer<typeof JudgeDirection>;

const Probability = (description: string) => z.number().gt(0).lt(1).meta({ description });

/**
 * The judge: the canary compared with a baseline (pods of the stable template started beside it, of the same size,
 * on the same share of traffic) by statistics rather than a fixed threshold. Each query is rendered twice, with
 * `{{args.role}}` set to `baseline` and to `canary`. Exactly one mode:
 * - `query`: samples (one per series and step of a range query over the run so far), compared by Mann-Whitney U
 *   with the Hodges-Lehmann estimate and its interval, at one look (fixed horizon);
 * - `errors` and `requests`: counts per look, compared by an anytime-valid sequential test, so the metric may be
 *   measured at every interval and still abort a good release with probability at most `alpha`.
 */
export const JudgeProvider = z.strictObject({
  judge: z
    .object({
      /** Defaults to the controller's --prometheus-address. */
      address: z.string().optional(),
      timeout: Duration.optional(),
      headers: z.array(Header).optional(),
      query: z.string().min(1).optional(),
      /** Spacing of the range query's samples (default 30s). */
      step: Duration.optional(),
      /** PromQL giving the errors of one role since the previous look; `{{args.window}}` is the time since then. */
      errors: z.string().min(1).optional(),
      /** PromQL giving the requests of one role since the previous look, as `errors`. */
      requests: z.string().min(1).optional(),
      direction: JudgeDirection.optional(),
      /** Mann-Whitney's confidence (default 0.98, Netflix's judge). */
      confidence: Probability('Confidence of the interval, default 0.98.').optional(),
      /** A shift within tolerance × |baseline median| is no regression, however significant (default 0.25). */
      tolerance: z.number().min(0).max(10).optional(),
      /** Samples per role below which the judge says Inconclusive rather than guess (default 50). */
      minSamples: z.number().int().min(3).max(100000).optional(),
      /** Drop samples outside Tukey's 1.5 IQR fences before comparing (default false). */
      removeOutliers: z.boolean().optional(),
      /** Sequential mode: the bound on aborting a good release, however often it looks (default 0.01). */
      alpha: Probability('Sequential mode: false-abort bound, default 0.01.').optional(),
      /** With scoreThresholds: this metric's weight in the score (default 1). */
      weight: z.number().min(0).max(1000).optional(),
      /** With scoreThresholds: a regression here fails the run whatever the score (Kayenta's critical). */
      critical: z.boolean().optional(),
      /** With scoreThresholds: no data (or too few samples) counts as a failure of this metric, not as unjudged. */
      mustHaveData: z.boolean().optional(),
    })
    .meta({
      'x-kubernetes-validations': [
        {
          rule: 'has(self.query) != (has(self.errors) || has(self.requests))',
          message: 'a judge takes either query (samples, Mann-Whitney) or errors and requests (counts, sequential test)',
        },
        { rule: 'has(self.errors) == has(self.requests)', message: 'the sequential judge needs both errors and requests' },
      ],
    }),
});
export type JudgeProvider = z.infer<typeof JudgeProvider>;
export type JudgeSpec = JudgeProvider['judge'];

/** The arguments a judge gives its own queries: `role` (baseline or canary) and `window` (a look's length, e.g. 10s). */
export const JUDGE_ARGS: readonly string[] = ['role', 'window'];

/** Whether a judge counts (sequential) rather than compares samples (fixed horizon). */
export const isSequential = (judge: JudgeSpec): boolean => judge.errors !== undefined;

export const MetricProvider = z.union([PrometheusProvider, WebProvider, JobProvider, JudgeProvider]);
export type MetricProvider = z.infer<typeof MetricProvider>;

/** A provider whose outcome is the verdict itself (a Job succeeds or fails, a judge decides), so a metric needs no condition. */
export const judgesItself = (provider: MetricProvider): boolean => 'job' in provider || 'judge' in provider;

/** What an empty answer means: Inconclusive by default, never Successful unless a team says so. */
export const NoDataPolicy = z.enum(['Inconclusive', 'Fail', 'Pass']);
export type NoDataPolicy = z.infer<typeof NoDataPolicy>;

/** One metric, with Argo Rollouts' names and meanings. */
export const Metric = z.object({
  name: z.string().min(1).max(63),
  provider: MetricProvider,
  /** Time between measurements; without it one measurement is taken (count defaults to 1). */
  interval: TemplatedDuration.optional(),
  /** Measurements to take. With an interval and no count, measuring goes on until the run is terminated. */
  count: templatedInt(1).optional(),
  initialDelay: TemplatedDuration.optional(),
  /** CEL over `result` (double, or list(double) for several series); true means the measurement passed. */
  successCondition: z.string().optional(),
  /** CEL over `result`; true means the measurement failed. Checked before successCondition. */
  failureCondition: z.string().optional(),
  /** Failed measurements tolerated; one more fails the metric. Default 0. */
  failureLimit: templatedInt(0).optional(),
  inconclusiveLimit: templatedInt(0).optional(),
  /** Consecutive Error measurements tolerated; one more errors the metric. Default 4. */
  consecutiveErrorLimit: templatedInt(0).optional(),
  /** Measured and shown, but never fails the run. */
  dryRun: z.boolean().optional(),
  noDataPolicy: NoDataPolicy.optional(),
}).meta({
  'x-kubernetes-validations': [
    {
      rule: 'has(self.successCondition) || has(self.failureCondition) || has(self.provider.job) || has(self.provider.judge)',
      message: 'a metric needs a successCondition or a failureCondition (a job or judge metric may have neither)',
    },
  ],
});
export type Metric = z.infer<typeof Metric>;

/**
 * Kayenta's score over the judge metrics: 100 × the weight of those that passed / the weight of those judged. At or
 * above `pass` the judge metrics pass the run, at or above `marginal` it is Inconclusive (a person decides), below it
 * Failed; a critical metric's regression fails it at once. Without it, each judge metric fails the run on its own.
 */
export const ScoreThresholds = z
  .strictObject({ pass: z.number().min(0).max(100), marginal: z.number().min(0).max(100) })
  .meta({ 'x-kubernetes-validations': [{ rule: 'self.marginal <= self.pass', message: 'scoreThresholds.marginal must not be above pass' }] });
export type ScoreThresholds = z.infer<typeof ScoreThresholds>;

export const AnalysisTemplateSpec = z.object({
  args: z.array(AnalysisArg).optional(),
  metrics: z.array(Metric).min(1).max(20),
  /** Measurements kept per metric in the run's status (default 10); counts still include every one. */
  measurementRetention: z.number().int().min(1).max(1000).optional(),
  scoreThresholds: ScoreThresholds.optional(),
});
export type AnalysisTemplateSpec = z.infer<typeof AnalysisTemplateSpec>;

export const AnalysisTemplate = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AnalysisTemplate'),
  metadata: ObjectMeta,
  spec: AnalysisTemplateSpec,
});
export type AnalysisTemplate = z.infer<typeof AnalysisTemplate>;

export const ClusterAnalysisTemplate = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('ClusterAnalysisTemplate'),
  metadata: ObjectMeta,
  spec: AnalysisTemplateSpec,
});
export type ClusterAnalysisTemplate = z.infer<typeof ClusterAnalysisTemplate>;

export const AnalysisPhase = z.enum(['Pending', 'Running', 'Successful', 'Failed', 'Error', 'Inconclusive']);
export type AnalysisPhase = z.infer<typeof AnalysisPhase>;

export const MeasurementPhase = z.enum(['Successful', 'Failed', 'Inconclusive', 'Error']);
export type MeasurementPhase = z.infer<typeof MeasurementPhase>;

export const Measurement = z.object({
  phase: MeasurementPhase,
  /** As Prometheus or the web endpoint gave it: a number, `[n1, n2]` for several series, or absent. */
  value: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  message: z.string().optional(),
});
export type Measurement = z.infer<typeof Measurement>;

/** One role's side of a judgement: what was compared, so a person can check the verdict. */
export const JudgedSamples = z.object({
  n: z.number().int().min(0),
  min: z.number().optional(),
  p25: z.number().optional(),
  median: z.number().optional(),
  p75: z.number().optional(),
  p90: z.number().optional(),
  max: z.number().optional(),
  mean: z.number().optional(),
  /** Sequential mode: the totals over every look. */
  errors: z.number().min(0).optional(),
  requests: z.number().min(0).optional(),
});
export type JudgedSamples = z.infer<typeof JudgedSamples>;

export const JudgementClass = z.enum(['Pass', 'High', 'Low', 'NoData', 'TooFewSamples']);
export type JudgementClass = z.infer<typeof JudgementClass>;

/** The judge's latest verdict on a metric, explained: the estimate, its interval, both sides' samples and the class. */
export const Judgement = z.object({
  mode: z.enum(['fixed', 'sequential']),
  class: JudgementClass,
  /** Fixed: the Hodges-Lehmann shift canary − baseline. Sequential: the error-rate ratio canary / baseline. */
  estimate: z.number().optional(),
  lower: z.number().optional(),
  upper: z.number().optional(),
  /** Fixed: the interval's confidence. Sequential: 1 − alpha, the confidence sequence's. */
  confidence: z.number(),
  pValue: z.number().optional(),
  eValue: z.number().optional(),
  baseline: JudgedSamples,
  canary: JudgedSamples,
  explanation: z.string(),
});
export type Judgement = z.infer<typeof Judgement>;

export const MetricResult = z.object({
  name: z.string(),
  phase: AnalysisPhase,
  /** Measurements that were not Errors: what the metric's `count` is compared with (Argo's meaning). */
  count: z.number().int().min(0),
  successful: z.number().int().min(0),
  failed: z.number().int().min(0),
  inconclusive: z.number().int().min(0),
  error: z.number().int().min(0),
  consecutiveError: z.number().int().min(0),
  /** The newest measurements only (measurementRetention). */
  measurements: z.array(Measurement),
  /**
   * A measurement under way across reconciles (a Job): when it started, and what its provider needs to find it
   * again after a restart. It counts towards nothing until it finishes.
   */
  inProgress: z.object({ startedAt: z.string(), metadata: StringMap }).optional(),
  message: z.string().optional(),
  dryRun: z.boolean().optional(),
  /** A judge metric's latest verdict, explained. */
  judgement: Judgement.optional(),
});
export type MetricResult = z.infer<typeof MetricResult>;

export const AnalysisRunSpec = z.object({
  metrics: z.array(Metric),
  /** Resolved arguments: a value, or a Secret key read when measuring (secrets never land in the run). */
  args: z.array(AnalysisArg).optional(),
  measurementRetention: z.number().int().min(1).max(1000).optional(),
  /** From the templates (the strictest of each threshold when several give them). */
  scoreThresholds: ScoreThresholds.optional(),
  /** Set by the controller when the Rollout no longer needs the run: measuring stops, the verdict so far stands. */
  terminate: z.boolean().optional(),
  /** Set when the run could not be built (missing template or argument): the run errors without measuring. */
  invalidReason: z.string().optional(),
});
export type AnalysisRunSpec = z.infer<typeof AnalysisRunSpec>;

export const AnalysisRunStatus = z.object({
  /** The generation this status judged; 0 (the CRD's default) until the controller first looks, so kstatus waits. */
  observedGeneration: z.number().int().optional().meta({ default: 0 }),
  phase: AnalysisPhase.optional(),
  message: z.string().optional(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  /** For the printer column: counts of measurement outcomes over all metrics. */
  summary: z.string().optional(),
  metricResults: z.array(MetricResult).optional(),
  /** With scoreThresholds: the judge metrics' score so far (absent while nothing is judged), its verdict and why. */
  score: z.object({ value: z.number().optional(), verdict: z.enum(['Pass', 'Marginal', 'Fail']), reasons: z.array(z.string()) }).optional(),
  /** Reconciling while measuring, Stalled once Failed or Error, Ready once Successful: what kstatus and `kubectl wait` read. */
  conditions: z.array(Condition).optional(),
});
export type AnalysisRunStatus = z.infer<typeof AnalysisRunStatus>;

export const AnalysisRun = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AnalysisRun'),
  metadata: ObjectMeta,
  spec: AnalysisRunSpec,
  status: AnalysisRunStatus.optional(),
});
export type AnalysisRun = z.infer<typeof AnalysisRun>;
