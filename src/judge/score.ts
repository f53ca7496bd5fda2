import { formatNumber, isRegression, type Direction, type MetricClass } from './judge.js';

export interface ScoredMetric {
  name: string;
  class: MetricClass;
  direction: Direction;
  /** Default 1. */
  weight?: number;
  /** A regression of a critical metric fails the canary whatever the others say. */
  critical?: boolean;
  /** No data (or too few samples) is a failure of this metric rather than a reason to leave it out. */
  mustHaveData?: boolean;
}

export interface Scorecard {
  /** 0..100; NaN when nothing was judged. */
  score: number;
  verdict: 'Pass' | 'Marginal' | 'Fail';
  /** How many metrics counted towards the score. */
  judged: number;
  /** The first critical metric that failed, which set the score to 0. */
  failedCritical?: string;
  /** How the score came about: a line for the whole, then one per metric that failed or was left out. */
  reasons: string[];
}

type Outcome = 'pass' | 'fail' | 'notJudged';

function outcome(metric: ScoredMetric): Outcome {
  if (metric.class === 'NoData' || metric.class === 'TooFewSamples') return metric.mustHaveData === true ? 'fail' : 'notJudged';
  return isRegression(metric, metric.direction) ? 'fail' : 'pass';
}

function weightOf(metric: ScoredMetric): number {
  const weight = metric.weight ?? 1;
  if (!(weight >= 0 && Number.isFinite(weight))) throw new RangeError(`metric ${metric.name}: a weight must be a finite number ≥ 0, not ${weight}`);
  return weight;
}

function reason(metric: ScoredMetric, result: Outcome): string | undefined {
  if (result === 'notJudged') return `${metric.name}: ${metric.class}, not judged`;
  if (result === 'pass') return undefined;
  if (metric.class === 'NoData' || metric.class === 'TooFewSamples') return `${metric.name}: ${metric.class}, and it must have data`;
  return `${metric.name}: ${metric.class}, a regression (${metric.direction === 'either' ? 'any change' : `an ${metric.direction}`} is bad)`;
}

function verdictOf(score: number, thresholds: { pass: number; marginal: number }): Scorecard['verdict'] {
  if (score >= thresholds.pass) return 'Pass';
  return score >= thresholds.marginal ? 'Marginal' : 'Fail';
}

/**
 * Scores a canary's metrics as Kayenta does: score = 100 × (weight of the metrics that passed) / (weight
 * of the metrics judged), and verdict Pass at or above thresholds.pass, Marginal at or above
 * thresholds.marginal, else Fail.
 *
 * - A metric is judged unless it is NoData or TooFewSamples; with mustHaveData those are judged too, and
 *   fail: a metric that is required to vouch for the canary and cannot has not passed.
 * - A judged metric fails when its class is a regression for its direction (isRegression).
 * - A failing critical metric (a regression, or no data when it must have data) sets the score to 0
 *   and the verdict to Fail whatever the thresholds, and names itself in failedCritical: no number of
 *   healthy metrics makes up for it.
 * - Nothing judged (or the judged weights sum to 0): score NaN and verdict Marginal. Not Pass, since
 *   nothing vouched for the canary; not Fail, since nothing spoke against it either: inconclusive, so
 *   the caller decides (retry with more traffic, or ask a person). The reasons say so.
 */
export function scoreMetrics(metrics: readonly ScoredMetric[], thresholds: { pass: number; marginal: number }): Scorecard {
  let judgedWeight = 0;
  let passedWeight = 0;
  let judged = 0;
  let failedCritical: string | undefined;
  const reasons: string[] = [];
  for (const metric of metrics) {
    const weight = weightOf(metric);
    const result = outcome(metric);
    const why = reason(metric, result);
    if (why !== undefined) reasons.push(why);
    if (result === 'notJudged') continue;
    judged++;
    judgedWeight += weight;
    if (result === 'pass') passedWeight += weight;
    else if (metric.critical === true) failedCritical ??= metric.name;
  }
  if (failedCritical !== undefined) {
    reasons.unshift(`critical metric ${failedCritical} failed: score 0`);
    return { score: 0, verdict: 'Fail', judged, failedCritical, reasons };
  }
  if (judgedWeight === 0) {
    reasons.unshift(`nothing to judge: ${judged === 0 ? 'no metric had data enough' : 'the judged metrics weigh 0'}, so the score is inconclusive`);
    return { score: Number.NaN, verdict: 'Marginal', judged, reasons };
  }
  const score = (100 * passedWeight) / judgedWeight;
  reasons.unshift(`score ${formatNumber(score)}: ${formatNumber(passedWeight)} of ${formatNumber(judgedWeight)} judged weight passed`);
  return { score, verdict: verdictOf(score, thresholds), judged, reasons };
}
