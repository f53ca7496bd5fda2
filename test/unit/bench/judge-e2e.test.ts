import { describe, expect, it } from 'vitest';
import type { AnalysisRun, Measurement } from '../../../src/api/analysis.js';
import { liveOutcome, type LiveAnalysisShape } from '../../../bench/judge/live.js';
import { binomialRange } from '../../../bench/judge/summary.js';
import type { Answer } from '../../harness/load.js';

describe('the binomial range a live abort count is checked against', () => {
  it('is the central 95% of Binomial(n, p)', () => {
    expect(binomialRange(4, 0.999)).toEqual([4, 4]);
    expect(binomialRange(4, 0.0038)).toEqual([0, 0]);
    // P(0 of 4) = 95.9% at 1.03%: one abort is still inside, two are not.
    expect(binomialRange(4, 0.0103)).toEqual([0, 1]);
    expect(binomialRange(100, 0.5)).toEqual([40, 60]);
    expect(binomialRange(5, 0)).toEqual([0, 0]);
    expect(binomialRange(5, 1)).toEqual([5, 5]);
  });
});

describe('what a live release came to', () => {
  const shape: LiveAnalysisShape = { lookSeconds: 10, looks: 18, windowLooks: 6, alpha: 0.01, threshold: 0.023, failureLimit: 2 };
  const start = Date.parse('2026-12-07T21:00:00.000Z');
  const at = (seconds: number): string => new Date(start + seconds * 1000).toISOString();
  const measurement = (seconds: number, phase: Measurement['phase'], value: string): Measurement => ({ phase, value, startedAt: at(seconds), finishedAt: at(seconds + 0.2) });
  const run = (measurements: Measurement[], completedAfter: number, judgement?: NonNullable<AnalysisRun['status']>['metricResults']): AnalysisRun =>
    ({
      status: {
        phase: 'Failed',
        startedAt: at(0),
        completedAt: at(completedAfter),
        metricResults: judgement ?? [{ name: 'error-ratio', phase: 'Failed', count: measurements.length, successful: 0, failed: 0, inconclusive: 0, error: 0, consecutiveError: 0, measurements }],
      },
    }) as AnalysisRun;
  const answer = (seconds: number, version: string, hash: string): Answer => ({ at: start + seconds * 1000, status: 200, version, hash });
  const arms = { canaryVersion: 'v2-errors05', baselineHash: 'abc-baseline' };

  it('dates a threshold’s abort at the look its failures passed failureLimit, its window counted', () => {
    // Measured at 60, 70, 80, 90 s: the third failure (failureLimit 2) is the fourth measurement, look 9.
    const measurements = [measurement(60, 'Failed', '0.05'), measurement(70, 'Successful', '0.02'), measurement(80, 'Failed', '0.04'), measurement(90.3, 'Failed', '0.05')];
    const answers = [answer(-1, 'v2-errors05', 'new'), answer(5, 'v2-errors05', 'new'), answer(50, 'v1-errors01', 'old'), answer(95, 'v2-errors05', 'new')];
    const outcome = liveOutcome('threshold', 'aborted', run(measurements, 91), answers, arms, shape);
    expect(outcome).toMatchObject({ verdict: 'aborted', looks: 9, detectSeconds: 90, wallSeconds: 90.3, analysisSeconds: 91, served: { canary: 1 } });
    expect(outcome.served.baseline).toBeUndefined();
    expect(outcome.measurements.map((m) => m.seconds)).toEqual([60, 70, 80, 90.3]);
  });

  it('dates a judge’s abort at the looks it had counted, and counts both arms’ requests in the run', () => {
    const judged = {
      mode: 'sequential' as const,
      class: 'High' as const,
      confidence: 0.99,
      eValue: 150,
      canary: { n: 7, errors: 20, requests: 560 },
      baseline: { n: 7, errors: 4, requests: 558 },
      explanation: 'regression',
    };
    const measurements = [measurement(10.4, 'Successful', '1'), measurement(70.5, 'Failed', '5')];
    const results = [{ name: 'error-ratio', phase: 'Failed' as const, count: 7, successful: 6, failed: 1, inconclusive: 0, error: 0, consecutiveError: 0, measurements, judgement: judged }];
    const answers = [answer(1, 'v2-errors05', 'new'), answer(2, 'v1-errors01', 'abc-baseline'), answer(3, 'v1-errors01', 'abc'), answer(71, 'v2-errors05', 'new')];
    const outcome = liveOutcome('judge', 'aborted', run(measurements, 70.7, results), answers, arms, shape);
    expect(outcome).toMatchObject({ verdict: 'aborted', looks: 7, detectSeconds: 70, wallSeconds: 70.7, served: { canary: 1, baseline: 1 }, explanation: 'regression' });
    expect(outcome.judged).toEqual({ canary: { errors: 20, requests: 560 }, baseline: { errors: 4, requests: 558 }, eValue: 150 });
  });

  it('has no look and no time to detect for a promoted release, and nothing without a run', () => {
    const passed = liveOutcome('threshold', 'promoted', run(Array.from({ length: 13 }, (_, i) => measurement(60 + 10 * i, 'Successful', '0.01')), 180), [], arms, shape);
    expect(passed).toMatchObject({ verdict: 'promoted', looks: 18 });
    expect(passed.detectSeconds).toBeUndefined();
    expect(liveOutcome('judge', 'unfinished', undefined, [], arms, shape)).toEqual({ verdict: 'unfinished', served: { canary: 0 }, measurements: [] });
  });
});
