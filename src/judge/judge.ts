import { mannWhitney, type MannWhitneyResult } from './mann-whitney.js';
import { quantileOfSorted, sortedCopy, summarize, type Summary } from './summary.js';

/** Which change of a metric is bad: 'increase' means a higher canary is a regression (latency, errors). */
export type Direction = 'increase' | 'decrease' | 'either';

export type MetricClass = 'Pass' | 'High' | 'Low' | 'NoData' | 'TooFewSamples';

export interface JudgeOptions {
  /** Default 'increase'. */
  direction: Direction;
  /** Of the interval for the shift. Default 0.98, as Netflix's judge. */
  confidence: number;
  /**
   * Default 0.25: a shift within tolerance × |baseline median| is no regression even when it is
   * significant. With hundreds of samples a test finds a 1% shift; a person would not roll back for it.
   */
  tolerance: number;
  /** Per role; below it the metric is TooFewSamples. Default 50, Spinnaker's guidance for a canary judge. */
  minSamples: number;
  /** Default false; true drops values outside Tukey's fences (1.5 IQR) of each series, as Kayenta can. */
  removeOutliers: boolean;
}

export const JUDGE_DEFAULTS: JudgeOptions = { direction: 'increase', confidence: 0.98, tolerance: 0.25, minSamples: 50, removeOutliers: false };

/** How many samples of one role were set aside before the test, and why. */
export interface Dropped {
  nonFinite: number;
  outliers: number;
}

export interface MetricJudgement {
  class: MetricClass;
  /** Of the samples judged: after dropping non-finite values and (if asked) outliers. */
  baseline: Summary;
  canary: Summary;
  /** Absent for NoData and TooFewSamples. */
  test?: MannWhitneyResult;
  /** tolerance × |baseline median|: the largest shift that is no regression however significant (NaN with no baseline sample). */
  allowed: number;
  /** Whether the class is bad for the direction the options gave (isRegression). */
  regression: boolean;
  dropped: { baseline: Dropped; canary: Dropped };
  /** One line a person can check, e.g. "canary 0.021 vs baseline 0.01 (median, n 60 vs 60); shift +0.011 [98% CI +0.007, +0.015] exceeds the allowed ±0.0025: High, a regression". */
  explanation: string;
}

/** Whether a metric's class is bad for its direction: High for 'increase', Low for 'decrease', either for 'either'. */
export function isRegression(judgement: Pick<MetricJudgement, 'class'>, direction: Direction): boolean {
  if (judgement.class === 'High') return direction !== 'decrease';
  if (judgement.class === 'Low') return direction !== 'increase';
  return false;
}

/**
 * Values outside Tukey's fences [Q1 − 1.5·IQR, Q3 + 1.5·IQR] of their own series: a pod that hung for
 * a minute says little about the version it runs. Each series is fenced separately, so a canary that is
 * slow throughout keeps its slow values (they are inside its own fences) and is still judged High.
 */
function withoutOutliers(samples: readonly number[]): number[] {
  const sorted = sortedCopy(samples);
  const q1 = quantileOfSorted(sorted, 0.25);
  const q3 = quantileOfSorted(sorted, 0.75);
  const reach = 1.5 * (q3 - q1);
  return samples.filter((value) => value >= q1 - reach && value <= q3 + reach);
}

interface Prepared {
  samples: number[];
  dropped: Dropped;
}

/** NaN and ±Inf are not values a judge can compare (0/0 over no traffic, an overflowing quantile): dropped first. */
function prepare(samples: readonly number[], removeOutliers: boolean): Prepared {
  const finite = samples.filter(Number.isFinite);
  const kept = removeOutliers ? withoutOutliers(finite) : finite;
  return { samples: kept, dropped: { nonFinite: samples.length - finite.length, outliers: finite.length - kept.length } };
}

/** Four significant digits, without float noise or trailing zeros: enough to check a verdict by hand. */
export function formatNumber(value: number): string {
  return String(Number(value.toPrecision(4)));
}

function signed(value: number): string {
  return value > 0 ? `+${formatNumber(value)}` : formatNumber(value);
}

function percent(fraction: number): string {
  return `${formatNumber(fraction * 100)}%`;
}

function droppedNote(dropped: MetricJudgement['dropped']): string {
  const parts = (['baseline', 'canary'] as const).flatMap((role) => {
    const { nonFinite, outliers } = dropped[role];
    const notes = [...(nonFinite > 0 ? [`${nonFinite} non-finite`] : []), ...(outliers > 0 ? [`${outliers} outliers`] : [])];
    return notes.length === 0 ? [] : [`${notes.join(' and ')} of the ${role}`];
  });
  return parts.length === 0 ? '' : ` (dropped ${parts.join(', ')})`;
}

/** The class by the Kayenta-like rule of judgeMetric, from a test of enough samples. */
function classify(test: MannWhitneyResult, allowed: number): MetricClass {
  if (test.lower > 0 && test.estimate > allowed) return 'High';
  if (test.upper < 0 && test.estimate < -allowed) return 'Low';
  return 'Pass';
}

function verdictPhrase(test: MannWhitneyResult, allowed: number): string {
  if (test.lower <= 0 && test.upper >= 0) return 'includes 0';
  const limit = `the allowed ±${formatNumber(allowed)}`;
  return Math.abs(test.estimate) <= allowed ? `is significant but within ${limit}` : `exceeds ${limit}`;
}

/** Whether a High or Low is bad is the direction's call: say which, so a High that passes does not look like a bug. */
function directionNote(cls: MetricClass, direction: Direction): string {
  if (cls !== 'High' && cls !== 'Low') return '';
  return isRegression({ class: cls }, direction) ? ', a regression' : `, no regression when only ${direction === 'increase' ? 'an increase' : 'a decrease'} is bad`;
}

function explainTest(summaries: { baseline: Summary; canary: Summary }, test: MannWhitneyResult, allowed: number, cls: MetricClass, direction: Direction): string {
  const { baseline, canary } = summaries;
  const interval = `[${percent(test.confidence)} CI ${signed(test.lower)}, ${signed(test.upper)}]`;
  return (
    `canary ${formatNumber(canary.median)} vs baseline ${formatNumber(baseline.median)} (median, n ${canary.n} vs ${baseline.n}); ` +
    `shift ${signed(test.estimate)} ${interval} ${verdictPhrase(test, allowed)}: ${cls}${directionNote(cls, direction)}`
  );
}

/** Checked before the samples, so a bad option fails every call, not only those with data enough for a test. */
function checkOptions(options: JudgeOptions): void {
  if (!(options.confidence > 0 && options.confidence < 1)) throw new RangeError(`confidence must lie strictly between 0 and 1, not ${options.confidence}`);
  if (!(options.tolerance >= 0 && Number.isFinite(options.tolerance))) throw new RangeError(`tolerance must be a finite number ≥ 0, not ${options.tolerance}`);
}

/**
 * Judges one metric of a canary against its baseline (pods of the stable version started at the same
 * time, same size, same traffic), as Kayenta's NetflixACAJudge does:
 *
 * 1. NaN and ±Inf samples are dropped: they are not numbers a judge can compare. With removeOutliers,
 *    values outside each series' Tukey fences are dropped too.
 * 2. Either series empty: NoData. Either below minSamples: TooFewSamples. Neither gets a test, and
 *    neither is a pass: scoreMetrics leaves them out of the score unless the metric must have data.
 * 3. Otherwise the Mann-Whitney test, with the Hodges–Lehmann shift canary − baseline and its interval
 *    at `confidence`. High: the interval lies entirely above 0 (the shift is significant) and the
 *    estimate exceeds +allowed, where allowed = tolerance × |baseline median| (the shift matters).
 *    Low: the interval lies entirely below 0 and the estimate is below −allowed. Else Pass.
 *
 * The class says what happened; whether it is bad depends on the direction (isRegression), which
 * `regression` gives for options.direction.
 */
export function judgeMetric(baseline: readonly number[], canary: readonly number[], options: Partial<JudgeOptions> = {}): MetricJudgement {
  const opts: JudgeOptions = { ...JUDGE_DEFAULTS, ...options };
  checkOptions(opts);
  const base = prepare(baseline, opts.removeOutliers);
  const can = prepare(canary, opts.removeOutliers);
  const dropped = { baseline: base.dropped, canary: can.dropped };
  const summaries = { baseline: summarize(base.samples), canary: summarize(can.samples) };
  const allowed = opts.tolerance * Math.abs(summaries.baseline.median);
  const counts = `canary ${can.samples.length}, baseline ${base.samples.length}`;
  if (base.samples.length === 0 || can.samples.length === 0) {
    return { class: 'NoData', ...summaries, allowed, regression: false, dropped, explanation: `no data to compare: ${counts} samples${droppedNote(dropped)}: NoData` };
  }
  if (base.samples.length < opts.minSamples || can.samples.length < opts.minSamples) {
    const explanation = `too few samples to judge: ${counts}, at least ${opts.minSamples} each${droppedNote(dropped)}: TooFewSamples`;
    return { class: 'TooFewSamples', ...summaries, allowed, regression: false, dropped, explanation };
  }
  const test = mannWhitney(base.samples, can.samples, opts.confidence);
  const cls = classify(test, allowed);
  const explanation = explainTest(summaries, test, allowed, cls, opts.direction) + droppedNote(dropped);
  return { class: cls, ...summaries, test, allowed, regression: isRegression({ class: cls }, opts.direction), dropped, explanation };
}
