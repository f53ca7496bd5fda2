import { describe, expect, it } from 'vitest';
import { isRegression, judgeMetric, JUDGE_DEFAULTS, summarize, type Direction, type MetricClass } from '../../../src/judge/index.js';

/**
 * 60 values 1 ± 0.46 on a binary grid (multiples of 1/128), so a shifted copy has pairwise differences
 * that are exact: its Hodges–Lehmann estimate is exactly the shift, and its median exactly 1.
 */
const baseline = Array.from({ length: 60 }, (_, i) => 1 + (i - 29.5) / 64);
const shifted = (by: number): number[] => baseline.map((value) => value + by);

describe('summarize', () => {
  it('gives the quantiles R gives by default (type 7) and the mean', () => {
    // R: quantile(1:10, c(.25, .5, .75, .9)) is 3.25 5.50 7.75 9.10.
    expect(summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])).toEqual({ n: 10, min: 1, p25: 3.25, median: 5.5, p75: 7.75, p90: 9.1, max: 10, mean: 5.5 });
  });

  it('describes no samples as n 0 and NaN for the rest', () => {
    const empty = summarize([]);
    expect(empty.n).toBe(0);
    for (const figure of [empty.min, empty.p25, empty.median, empty.p75, empty.p90, empty.max, empty.mean]) expect(figure).toBeNaN();
  });
});

describe('judging one metric', () => {
  it('defaults to Netflix and Spinnaker: an increase is bad, 98% confidence, 25% tolerance, 50 samples, outliers kept', () => {
    expect(JUDGE_DEFAULTS).toEqual({ direction: 'increase', confidence: 0.98, tolerance: 0.25, minSamples: 50, removeOutliers: false });
  });

  it('passes a canary that matches its baseline', () => {
    const judgement = judgeMetric(baseline, shifted(0));
    expect(judgement).toMatchObject({ class: 'Pass', regression: false, allowed: 0.25, test: { estimate: 0 } });
    expect(judgement.explanation).toBe('canary 1 vs baseline 1 (median, n 60 vs 60); shift 0 [98% CI -0.125, +0.125] includes 0: Pass');
  });

  it('calls a significant shift beyond the tolerance High, and says why in a line a person can check', () => {
    const judgement = judgeMetric(baseline, shifted(0.5));
    expect(judgement).toMatchObject({ class: 'High', regression: true, test: { estimate: 0.5 } });
    expect(judgement.explanation).toBe('canary 1.5 vs baseline 1 (median, n 60 vs 60); shift +0.5 [98% CI +0.375, +0.625] exceeds the allowed ±0.25: High, a regression');
  });

  it('calls a significant drop beyond the tolerance Low', () => {
    expect(judgeMetric(baseline, shifted(-0.5))).toMatchObject({ class: 'Low', regression: false, test: { estimate: -0.5 } });
  });

  it('passes a significant shift within the tolerance: the exact boundary passes, just beyond it does not', () => {
    // The estimate is exactly 0.25 and the baseline median exactly 1, so allowed = tolerance.
    const atBoundary = judgeMetric(baseline, shifted(0.25), { tolerance: 0.25 });
    expect(atBoundary.test?.lower).toBeGreaterThan(0);
    expect(atBoundary).toMatchObject({ class: 'Pass', allowed: 0.25 });
    expect(atBoundary.explanation).toContain('is significant but within the allowed ±0.25: Pass');
    expect(judgeMetric(baseline, shifted(0.25), { tolerance: 0.2490234375 }).class).toBe('High');
    expect(judgeMetric(baseline, shifted(-0.25), { tolerance: 0.25 }).class).toBe('Pass');
    expect(judgeMetric(baseline, shifted(-0.25), { tolerance: 0.2490234375 }).class).toBe('Low');
  });

  it('passes a shift beyond the tolerance that is not significant', () => {
    // Five samples each: the interval is wide enough to include 0 however the means differ.
    const judgement = judgeMetric([1, 2, 3, 4, 5], [2, 3, 4, 5, 6], { minSamples: 5, tolerance: 0 });
    expect(judgement).toMatchObject({ class: 'Pass', test: { estimate: 1 } });
    expect(judgement.explanation).toContain('includes 0: Pass');
  });

  it('leaves the class to the data and the verdict to the direction', () => {
    const cases: [Direction, MetricClass, boolean][] = [
      ['increase', 'High', true],
      ['increase', 'Low', false],
      ['decrease', 'High', false],
      ['decrease', 'Low', true],
      ['either', 'High', true],
      ['either', 'Low', true],
    ];
    for (const [direction, cls, regression] of cases) {
      const judgement = judgeMetric(baseline, shifted(cls === 'High' ? 0.5 : -0.5), { direction });
      expect(judgement.class).toBe(cls);
      expect(judgement.regression).toBe(regression);
      expect(isRegression(judgement, direction)).toBe(regression);
    }
    expect(judgeMetric(baseline, shifted(0.5), { direction: 'decrease' }).explanation).toContain('High, no regression when only a decrease is bad');
    for (const cls of ['Pass', 'NoData', 'TooFewSamples'] as const) for (const direction of ['increase', 'decrease', 'either'] as const) expect(isRegression({ class: cls }, direction)).toBe(false);
  });

  it('drops NaN and ±Inf before anything else, and says how many', () => {
    const judgement = judgeMetric([...baseline, Number.NaN, Number.POSITIVE_INFINITY], [...shifted(0), Number.NEGATIVE_INFINITY]);
    expect(judgement).toMatchObject({ class: 'Pass', baseline: { n: 60 }, canary: { n: 60 } });
    expect(judgement.dropped).toEqual({ baseline: { nonFinite: 2, outliers: 0 }, canary: { nonFinite: 1, outliers: 0 } });
    expect(judgement.explanation).toMatch(/\(dropped 2 non-finite of the baseline, 1 non-finite of the canary\)$/);
  });

  it('has NoData when either side has no finite sample, and no test', () => {
    const none = judgeMetric(baseline, [Number.NaN, Number.NaN]);
    expect(none).toMatchObject({ class: 'NoData', regression: false, canary: { n: 0 }, allowed: 0.25 });
    expect(none.test).toBeUndefined();
    expect(none.explanation).toBe('no data to compare: canary 0, baseline 60 samples (dropped 2 non-finite of the canary): NoData');
    expect(judgeMetric([], baseline).class).toBe('NoData');
  });

  it('has TooFewSamples below minSamples on either side, and no test', () => {
    const few = judgeMetric(baseline, shifted(5).slice(0, 49));
    expect(few).toMatchObject({ class: 'TooFewSamples', regression: false });
    expect(few.test).toBeUndefined();
    expect(few.explanation).toBe('too few samples to judge: canary 49, baseline 60, at least 50 each: TooFewSamples');
    expect(judgeMetric(baseline.slice(0, 10), shifted(5), { minSamples: 10 }).class).toBe('High');
  });

  it('removes outliers per series when asked: a hung pod no longer makes the canary High', () => {
    // The same spread on both sides, plus 40 canary values ten times larger.
    const steady = Array.from({ length: 150 }, (_, i) => 100 + ((i * 37) % 151) / 10);
    const canary = [...Array.from({ length: 150 }, (_, i) => 100 + ((i * 41) % 151) / 10), ...Array.from({ length: 40 }, (_, i) => 1000 + i)];
    expect(judgeMetric(steady, canary, { tolerance: 0 })).toMatchObject({ class: 'High', canary: { n: 190 } });
    const cleaned = judgeMetric(steady, canary, { tolerance: 0, removeOutliers: true });
    expect(cleaned).toMatchObject({ class: 'Pass', canary: { n: 150, max: 115 }, dropped: { canary: { nonFinite: 0, outliers: 40 }, baseline: { outliers: 0 } } });
    expect(cleaned.explanation).toMatch(/\(dropped 40 outliers of the canary\)$/);
  });

  it('keeps a canary that is slow throughout High when removing outliers: each series is fenced by its own spread', () => {
    expect(judgeMetric(baseline, shifted(0.5), { removeOutliers: true })).toMatchObject({ class: 'High', dropped: { canary: { outliers: 0 } } });
  });

  it('refuses a confidence outside (0, 1) or a negative tolerance, with data or without', () => {
    expect(() => judgeMetric([], [], { confidence: 98 })).toThrow(/confidence must lie strictly between 0 and 1, not 98/);
    expect(() => judgeMetric(baseline, shifted(0), { tolerance: -0.1 })).toThrow(RangeError);
  });
});
