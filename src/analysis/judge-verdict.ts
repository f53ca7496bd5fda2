import { isSequential, type JudgedSamples, type Judgement, type JudgeSpec, type NoDataPolicy } from '../api/analysis.js';
import { parseDuration } from '../api/duration.js';
import { isRegression, JUDGE_DEFAULTS, judgeMetric, sequentialCountTest, type CountIncrement, type MetricJudgement, type Summary } from '../judge/index.js';
import { NO_DATA, type MeasurementVerdict } from './measure.js';
import type { RangeSeries } from './providers/prometheus.js';
import { parseSampleValue } from './providers/result.js';

/** The roles a judge query is rendered for, as `{{args.role}}`. */
export const JUDGE_ROLES = ['baseline', 'canary'] as const;
export type JudgeRole = (typeof JUDGE_ROLES)[number];

/** One role's answer to a range query: value per sample time (ms), every series of the answer added up. */
export type RoleSeries = ReadonlyMap<number, number>;

const DEFAULT_ALPHA = 0.01;
/** A fixed-horizon judge's range-query step when its spec gives none. */
const DEFAULT_STEP_MS = 30_000;

/** Where a judge's range queries sample, for a run started at `startedAt`. */
export interface JudgeSampling {
  stepMs: number;
  /** The first sample time: a sequential look ends one interval after the start, so it is sampled there. */
  firstSampleMs: number;
}

/**
 * A sequential judge samples at the end of each of its metric's intervals since the run started, so every look sees
 * the same counts for the same interval however late or often it is taken; a fixed one samples every `step` from
 * the start. Undefined for a sequential judge without an interval (its looks are the intervals).
 */
export function judgeSampling(spec: JudgeSpec, interval: string | number | undefined, startedAt: number): JudgeSampling | undefined {
  const sequential = isSequential(spec);
  const stepMs = sequential ? parseDuration(interval ?? 0) : spec.step !== undefined ? parseDuration(spec.step) : DEFAULT_STEP_MS;
  if (stepMs <= 0) return undefined;
  return { stepMs, firstSampleMs: sequential ? startedAt + stepMs : startedAt };
}

/** The queries a judge asks, each once per role in JUDGE_ROLES order: errors then requests, or its one query. */
export const judgeQueries = (spec: JudgeSpec): string[] => (isSequential(spec) ? [spec.errors as string, spec.requests as string] : [spec.query as string]);

/** The arguments a judge query is rendered with for `role`: `{{args.role}}`, and `{{args.window}}` as one step. */
export const judgeRoleArgs = (args: Readonly<Record<string, string>>, role: JudgeRole, stepMs: number): Record<string, string> => ({ ...args, role, window: `${Math.round(stepMs / 1000)}s` });

/** Every finite sample of every series: the fixed-horizon judge compares the two roles' distributions. */
const samplesOf = (series: readonly RangeSeries[]): number[] =>
  series.flatMap((one) => one.samples.map(([, text]) => parseSampleValue(text) ?? Number.NaN)).filter((value) => Number.isFinite(value));

/** The series of an answer added up per sample time: one count per look. */
function totalsOf(series: readonly RangeSeries[]): RoleSeries {
  const totals = new Map<number, number>();
  for (const one of series) {
    for (const [time, text] of one.samples) {
      const value = parseSampleValue(text);
      if (value !== undefined && Number.isFinite(value)) totals.set(time, (totals.get(time) ?? 0) + value);
    }
  }
  return totals;
}

/**
 * The verdict from the range answers to judgeQueries × JUDGE_ROLES, in that order (query-major): the fixed judge
 * compares the roles' samples, the sequential one their counts look by look. The provider and backtest both call it.
 */
export function judgeRanges(spec: JudgeSpec, answers: ReadonlyArray<readonly RangeSeries[]>, noDataPolicy: NoDataPolicy = 'Inconclusive'): MeasurementVerdict {
  if (!isSequential(spec)) return fixedVerdict(spec, samplesOf(answers[0] ?? []), samplesOf(answers[1] ?? []), noDataPolicy);
  const byRole = (first: number) => ({ baseline: totalsOf(answers[first] ?? []), canary: totalsOf(answers[first + 1] ?? []) });
  return sequentialVerdict(spec, lookIncrements(byRole(0), byRole(2)), noDataPolicy);
}

/** Numbers a status can hold: JSON has no NaN or Infinity, so those are left out. */
const finite = (value: number | undefined): number | undefined => (value !== undefined && Number.isFinite(value) ? Number(value.toPrecision(12)) : undefined);

function sideOf(summary: Summary): JudgedSamples {
  const side: JudgedSamples = { n: summary.n };
  for (const key of ['min', 'p25', 'median', 'p75', 'p90', 'max', 'mean'] as const) {
    const value = finite(summary[key]);
    if (value !== undefined) side[key] = value;
  }
  return side;
}

/** A judge's class as a measurement's phase: a regression fails, an improvement or no change passes. */
function phaseOf(judgement: Pick<MetricJudgement, 'class'>, regression: boolean, noDataPolicy: NoDataPolicy): MeasurementVerdict['phase'] {
  switch (judgement.class) {
    case 'NoData':
      return NO_DATA[noDataPolicy];
    case 'TooFewSamples':
      return 'Inconclusive';
    default:
      return regression ? 'Failed' : 'Successful';
  }
}

/**
 * The fixed-horizon verdict: every sample of each role (each series at each step of the run so far) compared by
 * Mann-Whitney U, the shift estimated by Hodges-Lehmann. Pure.
 */
export function fixedVerdict(spec: JudgeSpec, baseline: readonly number[], canary: readonly number[], noDataPolicy: NoDataPolicy = 'Inconclusive'): MeasurementVerdict {
  const direction = spec.direction ?? JUDGE_DEFAULTS.direction;
  const judged = judgeMetric(baseline, canary, {
    direction,
    ...(spec.confidence !== undefined && { confidence: spec.confidence }),
    ...(spec.tolerance !== undefined && { tolerance: spec.tolerance }),
    ...(spec.minSamples !== undefined && { minSamples: spec.minSamples }),
    ...(spec.removeOutliers !== undefined && { removeOutliers: spec.removeOutliers }),
  });
  const test = judged.test;
  const judgement: Judgement = {
    mode: 'fixed',
    class: judged.class,
    confidence: spec.confidence ?? JUDGE_DEFAULTS.confidence,
    ...(test !== undefined && withFinite({ estimate: test.estimate, lower: test.lower, upper: test.upper, pValue: test.pValue })),
    baseline: sideOf(judged.baseline),
    canary: sideOf(judged.canary),
    explanation: judged.explanation,
  };
  const estimate = finite(test?.estimate);
  return {
    phase: phaseOf(judged, isRegression(judged, direction), noDataPolicy),
    ...(estimate !== undefined && { value: String(estimate) }),
    message: judged.explanation,
    judgement,
  };
}

function withFinite(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).flatMap(([key, value]) => (Number.isFinite(value) ? [[key, Number(value.toPrecision(12))]] : [])));
}

/**
 * Each look's counts, from the four range answers sampled at the end of every look: a look needs requests from both
 * roles; a role without an errors sample there had none (a counter of errors often has no series until the first).
 */
export function lookIncrements(errors: Readonly<Record<JudgeRole, RoleSeries>>, requests: Readonly<Record<JudgeRole, RoleSeries>>): CountIncrement[] {
  const times = [...requests.baseline.keys()].filter((time) => requests.canary.has(time)).sort((a, b) => a - b);
  const count = (value: number | undefined): number => (value !== undefined && Number.isFinite(value) && value > 0 ? Math.round(value) : 0);
  return times.map((time) => {
    const side = (role: JudgeRole) => {
      const total = count(requests[role].get(time));
      return { errors: Math.min(total, count(errors[role].get(time))), requests: total };
    };
    return { baseline: side('baseline'), canary: side('canary') };
  });
}

/**
 * The sequential verdict over every look so far: an anytime-valid test of the error-rate ratio, so taking it at each
 * interval keeps the chance of failing a good canary at most alpha. Looks without requests on a side are NoData. Pure.
 */
export function sequentialVerdict(spec: JudgeSpec, increments: readonly CountIncrement[], noDataPolicy: NoDataPolicy = 'Inconclusive'): MeasurementVerdict {
  const direction = spec.direction ?? JUDGE_DEFAULTS.direction;
  const alpha = spec.alpha ?? DEFAULT_ALPHA;
  const result = sequentialCountTest(increments, { alpha, direction, ...(spec.tolerance !== undefined && { tolerance: spec.tolerance }) });
  const noData = result.baseline.requests === 0 || result.canary.requests === 0;
  const judgementClass = noData ? 'NoData' : result.rejected ? (result.rejectedSide === 'decrease' ? 'Low' : 'High') : 'Pass';
  const rate = (side: { errors: number; requests: number }): JudgedSamples => ({ n: increments.length, errors: side.errors, requests: side.requests, ...(side.requests > 0 && { mean: Number((side.errors / side.requests).toPrecision(12)) }) });
  const explanation = noData ? `no requests from the ${result.baseline.requests === 0 ? 'baseline' : 'canary'} yet: nothing to compare` : result.explanation;
  const judgement: Judgement = {
    mode: 'sequential',
    class: judgementClass,
    confidence: 1 - alpha,
    ...withFinite({ estimate: result.ratio, lower: result.lowerBound, upper: result.upperBound, eValue: result.eValue }),
    baseline: rate(result.baseline),
    canary: rate(result.canary),
    explanation,
  };
  const ratio = finite(result.ratio);
  return {
    // Rejected is a regression in the direction asked for: the test only rejects in that direction.
    phase: noData ? NO_DATA[noDataPolicy] : result.rejected ? 'Failed' : 'Successful',
    ...(ratio !== undefined && { value: String(ratio) }),
    message: explanation,
    judgement,
  };
}
