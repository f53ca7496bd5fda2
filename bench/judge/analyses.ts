// The analyses compared, each a function from a simulated release to the look at which it aborts it (or none):
// fixed thresholds on the canary alone, the judge once at a fixed horizon (Mann-Whitney and Hodges-Lehmann on
// per-look values of canary against baseline), and the judge's sequential count test looked at every look.
import { isRegression, judgeMetric, sequentialCountTest, type CountIncrement } from '../../src/judge/index.js';
import type { MetricName, Release } from './simulate.js';
import { thresholdAbortLook } from './thresholds.js';

export type Family = 'threshold' | 'judge-fixed' | 'judge-sequential';

export interface Analysis {
  id: string;
  label: string;
  family: Family;
  metric: MetricName;
  /** The look (0-based) at which it aborts the release; undefined if the release goes through. */
  abortLook(release: Release): number | undefined;
  /** At most this many releases of a scenario (the first ones), when it is too slow for all of them. */
  maxReleases?: number;
}

export function thresholdAnalysis(metric: MetricName, threshold: number, failureLimit: number, windowValues: (release: Release) => Float64Array): Analysis {
  const shown = metric === 'errorRate' ? `errorRate < ${(threshold * 100).toFixed(2)}%` : `p95 < ${threshold} ms`;
  return {
    id: `threshold-${metric}-F${failureLimit}`,
    label: `threshold: ${shown}, failureLimit ${failureLimit}`,
    family: 'threshold',
    metric,
    abortLook: (release) => thresholdAbortLook(windowValues(release), threshold, failureLimit),
  };
}

export interface FixedJudgeOptions {
  confidence: number;
  tolerance: number;
  minSamples: number;
}

/** Each look's error rate, or its p95, per arm: the samples the fixed-horizon judge compares, one per look. */
export function perLook(release: Release, metric: MetricName, looks: number): { baseline: number[]; canary: number[] } {
  const baseline: number[] = [];
  const canary: number[] = [];
  for (let look = 0; look < looks; look++) {
    if (metric === 'errorRate') {
      const b = release.baselineRequests[look] as number;
      const c = release.canaryRequests[look] as number;
      if (b > 0) baseline.push((release.baselineErrors[look] as number) / b);
      if (c > 0) canary.push((release.canaryErrors[look] as number) / c);
    } else {
      const b = release.baselineP95?.[look] ?? Number.NaN;
      const c = release.canaryP95?.[look] ?? Number.NaN;
      if (!Number.isNaN(b)) baseline.push(b);
      if (!Number.isNaN(c)) canary.push(c);
    }
  }
  return { baseline, canary };
}

/**
 * One judgement at the horizon (`looks` looks in): the release is aborted at that look if the judge calls the metric
 * a regression, and otherwise goes through; it is never asked before.
 */
export function fixedHorizonJudge(metric: MetricName, minutes: number, looks: number, options: FixedJudgeOptions, maxReleases?: number, suffix = ''): Analysis {
  return {
    id: `judge-fixed-${metric}-${minutes}m${suffix === '' ? '' : `-${suffix.replace(/[^a-z0-9.]+/gi, '-')}`}`,
    label: `judge, ${metric}, one judgement at ${minutes} min${suffix === '' ? '' : `, ${suffix}`}`,
    family: 'judge-fixed',
    metric,
    ...(maxReleases !== undefined && { maxReleases }),
    abortLook(release) {
      const { baseline, canary } = perLook(release, metric, looks);
      const judgement = judgeMetric(baseline, canary, { direction: 'increase', ...options });
      return isRegression(judgement, 'increase') ? looks - 1 : undefined;
    },
  };
}

export interface SequentialOptions {
  alpha: number;
  tolerance?: number;
}

/**
 * The anytime-valid count test on the canary's and the baseline's errors and requests, looked at after every look.
 * sequentialCountTest recomputes from all the increments it is given, and its e-process is path-wise (the value after
 * look k depends on looks 1..k only), so one call on the release's whole series, reading where it first rejected, is
 * the same abort as calling it after each look and stopping at the first rejection: 1 call instead of 180.
 */
export function sequentialJudge(options: SequentialOptions, maxReleases?: number): Analysis {
  return {
    id: 'judge-sequential-errorRate',
    label: 'judge, sequential count test, every look',
    family: 'judge-sequential',
    metric: 'errorRate',
    ...(maxReleases !== undefined && { maxReleases }),
    abortLook(release) {
      const increments: CountIncrement[] = [];
      for (let look = 0; look < release.canaryRequests.length; look++) {
        increments.push({
          baseline: { errors: release.baselineErrors[look] as number, requests: release.baselineRequests[look] as number },
          canary: { errors: release.canaryErrors[look] as number, requests: release.canaryRequests[look] as number },
        });
      }
      const result = sequentialCountTest(increments, { direction: 'increase', ...options });
      return result.rejected ? result.rejectedAt : undefined;
    },
  };
}
