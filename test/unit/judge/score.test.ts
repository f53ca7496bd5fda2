import { describe, expect, it } from 'vitest';
import { scoreMetrics, type ScoredMetric } from '../../../src/judge/index.js';

const THRESHOLDS = { pass: 95, marginal: 75 };

const metric = (name: string, cls: ScoredMetric['class'], extra: Partial<ScoredMetric> = {}): ScoredMetric => ({ name, class: cls, direction: 'increase', ...extra });

describe('scoring a canary', () => {
  it('scores 100 and passes when every metric passes', () => {
    expect(scoreMetrics([metric('latency', 'Pass'), metric('errors', 'Pass')], THRESHOLDS)).toEqual({
      score: 100,
      verdict: 'Pass',
      judged: 2,
      reasons: ['score 100: 2 of 2 judged weight passed'],
    });
  });

  it('weighs metrics: the share of judged weight that passed, with weight 1 by default', () => {
    const card = scoreMetrics([metric('latency', 'High', { weight: 2 }), metric('errors', 'Pass'), metric('cpu', 'Pass', { weight: 1 })], THRESHOLDS);
    expect(card).toMatchObject({ score: 50, verdict: 'Fail', judged: 3 });
    expect(card.reasons).toEqual(['score 50: 2 of 4 judged weight passed', 'latency: High, a regression (an increase is bad)']);
    expect(scoreMetrics([metric('latency', 'High', { weight: 1 }), metric('errors', 'Pass', { weight: 3 })], THRESHOLDS)).toMatchObject({ score: 75, verdict: 'Marginal' });
  });

  it('puts the thresholds on the inclusive side: a score equal to pass passes, equal to marginal is Marginal', () => {
    const ninetyFive = [metric('a', 'High'), ...Array.from({ length: 19 }, (_, i) => metric(`m${i}`, 'Pass'))];
    expect(scoreMetrics(ninetyFive, THRESHOLDS)).toMatchObject({ score: 95, verdict: 'Pass' });
    expect(scoreMetrics(ninetyFive, { pass: 96, marginal: 95 })).toMatchObject({ verdict: 'Marginal' });
    expect(scoreMetrics(ninetyFive, { pass: 97, marginal: 96 })).toMatchObject({ verdict: 'Fail' });
  });

  it('counts High or Low as failing only in the direction that is bad', () => {
    const card = scoreMetrics(
      [metric('latency', 'Low'), metric('throughput', 'High', { direction: 'decrease' }), metric('errors', 'Low', { direction: 'either' })],
      THRESHOLDS,
    );
    expect(card).toMatchObject({ judged: 3, verdict: 'Fail' });
    expect(card.score).toBeCloseTo(200 / 3, 12);
    expect(card.reasons).toEqual(['score 66.67: 2 of 3 judged weight passed', 'errors: Low, a regression (any change is bad)']);
  });

  it('sets the score to 0 and fails on a regression of a critical metric, whatever the rest', () => {
    const card = scoreMetrics([metric('errors', 'High', { critical: true, weight: 0.1 }), ...Array.from({ length: 50 }, (_, i) => metric(`m${i}`, 'Pass'))], { pass: 0, marginal: 0 });
    expect(card).toMatchObject({ score: 0, verdict: 'Fail', failedCritical: 'errors', judged: 51 });
    expect(card.reasons[0]).toBe('critical metric errors failed: score 0');
    // Fewer errors is no regression of an 'increase' metric: critical or not, it passes.
    const fewer = scoreMetrics([metric('errors', 'Low', { critical: true }), metric('x', 'Pass')], THRESHOLDS);
    expect(fewer).toMatchObject({ score: 100, verdict: 'Pass' });
    expect(fewer.failedCritical).toBeUndefined();
  });

  it('leaves NoData and TooFewSamples out of the score, unless the metric must have data: then it fails', () => {
    const without = scoreMetrics([metric('latency', 'Pass'), metric('errors', 'NoData'), metric('cpu', 'TooFewSamples')], THRESHOLDS);
    expect(without).toMatchObject({ score: 100, verdict: 'Pass', judged: 1 });
    expect(without.reasons).toEqual(['score 100: 1 of 1 judged weight passed', 'errors: NoData, not judged', 'cpu: TooFewSamples, not judged']);
    const required = scoreMetrics([metric('latency', 'Pass'), metric('errors', 'NoData', { mustHaveData: true })], THRESHOLDS);
    expect(required).toMatchObject({ score: 50, verdict: 'Fail', judged: 2 });
    expect(required.reasons).toContain('errors: NoData, and it must have data');
    expect(scoreMetrics([metric('latency', 'Pass'), metric('errors', 'TooFewSamples', { mustHaveData: true, critical: true })], THRESHOLDS)).toMatchObject({ score: 0, failedCritical: 'errors' });
  });

  it('calls nothing judged inconclusive: score NaN, verdict Marginal (neither a pass nor a fail), and says so', () => {
    const card = scoreMetrics([metric('errors', 'NoData'), metric('latency', 'TooFewSamples')], THRESHOLDS);
    expect(card).toMatchObject({ verdict: 'Marginal', judged: 0 });
    expect(card.score).toBeNaN();
    expect(card.reasons[0]).toBe('nothing to judge: no metric had data enough, so the score is inconclusive');
    expect(scoreMetrics([], THRESHOLDS)).toMatchObject({ verdict: 'Marginal', judged: 0 });
    expect(scoreMetrics([metric('errors', 'Pass', { weight: 0 })], THRESHOLDS)).toMatchObject({ verdict: 'Marginal', judged: 1, reasons: ['nothing to judge: the judged metrics weigh 0, so the score is inconclusive'] });
  });

  it('refuses a weight that is negative or not a number', () => {
    expect(() => scoreMetrics([metric('errors', 'Pass', { weight: -1 })], THRESHOLDS)).toThrow(/errors: a weight must be a finite number ≥ 0/);
    expect(() => scoreMetrics([metric('errors', 'Pass', { weight: Number.NaN })], THRESHOLDS)).toThrow(RangeError);
  });
});
