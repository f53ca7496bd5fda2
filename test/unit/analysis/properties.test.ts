import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnalysisRun, AnalysisRunStatus, Metric, NoDataPolicy } from '../../../src/api/analysis.js';
import { runViolations, verdictViolations } from '../../../src/analysis/invariants.js';
import { judge } from '../../../src/analysis/measure.js';
import type { ResolvedMetric } from '../../../src/analysis/metric-args.js';
import { evaluateRun, recordMeasurement } from '../../../src/analysis/plan.js';
import type { ProviderResult } from '../../../src/analysis/providers/result.js';
import { isTerminal } from '../../../src/analysis/run-machine.js';
import { propertyParameters } from '../property.js';

const T0 = Date.parse('2026-04-01T10:00:00Z');

const conditions = fc.constantFrom<Pick<Metric, 'successCondition' | 'failureCondition'>>(
  { successCondition: 'result < 0.05' },
  { successCondition: 'result[0] < 0.05' },
  { successCondition: 'result.all(x, x < 0.05)' },
  { failureCondition: 'result > 0.1' },
  { successCondition: 'result < 0.05', failureCondition: 'result > 0.1' },
);

const metricSpec = fc.record({
  count: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  interval: fc.constantFrom(undefined, '5s', '1m'),
  initialDelay: fc.constantFrom(undefined, '10s'),
  failureLimit: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  inconclusiveLimit: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  consecutiveErrorLimit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  dryRun: fc.boolean().map((dry) => (dry ? true : undefined)),
  noDataPolicy: fc.constantFrom<NoDataPolicy | undefined>(undefined, 'Inconclusive', 'Fail', 'Pass'),
  conditions,
});

const number = fc.oneof(
  fc.constantFrom(0, 0.01, 0.04, 0.05, 0.5, 1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.double({ min: -1, max: 2, noNaN: true }),
);
/** Everything a provider can hand the judge: numbers, series, no data, errors. */
const answer: fc.Arbitrary<ProviderResult> = fc.oneof(
  number.map((value) => ({ kind: 'value' as const, value })),
  fc.array(number, { minLength: 2, maxLength: 3 }).map((values) => ({ kind: 'values' as const, values })),
  fc.constant({ kind: 'noData' as const, message: 'the query returned no series' }),
  fc.constantFrom('HTTP 500: oops', 'timed out', 'unexpected Prometheus response', 'the answer is larger than 8388608 bytes').map((message) => ({ kind: 'error' as const, message })),
);
/** Answers that say nothing true about the canary: a run fed only these must never pass. */
const garbage: fc.Arbitrary<ProviderResult> = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY).map((value) => ({ kind: 'value' as const, value })),
  fc.array(fc.constantFrom(Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY), { minLength: 2, maxLength: 3 }).map((values) => ({ kind: 'values' as const, values })),
  fc.constant({ kind: 'noData' as const, message: 'the query returned no series' }),
  fc.constantFrom('HTTP 500: <html>', 'timed out', 'Prometheus error (bad_data): parse error').map((message) => ({ kind: 'error' as const, message })),
);

type MetricSpec = typeof metricSpec extends fc.Arbitrary<infer T> ? T : never;

function toMetric(spec: MetricSpec, index: number): ResolvedMetric {
  const { conditions: which, ...rest } = spec;
  const metric: ResolvedMetric = { name: `m${index}`, provider: { prometheus: { query: 'error_rate' } }, ...which };
  for (const [key, value] of Object.entries(rest)) if (value !== undefined) (metric as Record<string, unknown>)[key] = value;
  // A count above 1 needs an interval; the planner refuses it otherwise (a separate, tested rule).
  if ((metric.count ?? 1) > 1 && metric.interval === undefined) metric.interval = '5s';
  return metric;
}

/** Measures a run through time, each due metric answering with the next item of its stream; checks the invariants at every look. */
function drive(run: AnalysisRun, streams: ProviderResult[][], terminateAfter: number | undefined): AnalysisRunStatus {
  let status: AnalysisRunStatus | undefined;
  let now = T0;
  const taken = run.spec.metrics.map(() => 0);
  for (let look = 0; look < 200; look++) {
    const subject = terminateAfter !== undefined && look >= terminateAfter ? { ...run, spec: { ...run.spec, terminate: true } } : run;
    const evaluation = evaluateRun(subject, status, now);
    let next = evaluation.status;
    for (const metric of evaluation.due) {
      const index = subject.spec.metrics.indexOf(metric);
      const stream = streams[index % streams.length] ?? [];
      const position = taken[index] ?? 0;
      taken[index] = position + 1;
      const result = stream[position % stream.length] ?? { kind: 'noData', message: 'empty stream' };
      const verdict = judge(result, evaluation.conditions.get(metric.name) ?? {}, metric.noDataPolicy);
      next = recordMeasurement(next, metric, verdict, now, now + 20, 10);
    }
    const settled = evaluateRun(subject, next, now);
    const violations = [...runViolations(subject, settled.status), ...verdictViolations(status, settled.status)];
    if (violations.length > 0) throw new Error(`look ${look}: ${violations.join('; ')}\n${JSON.stringify(settled.status.metricResults)}`);
    status = settled.status;
    if (isTerminal(status.phase ?? 'Pending')) {
      const later = evaluateRun(subject, status, now + 3_600_000);
      expect(later.status.phase, 'a verdict is final').toBe(status.phase);
      expect(later.due).toEqual([]);
      return status;
    }
    if (settled.due.length === 0 && settled.requeueAfterMs === undefined) throw new Error(`look ${look}: ${status.phase} with nothing due and no requeue: stuck`);
    now += settled.due.length > 0 ? 0 : (settled.requeueAfterMs ?? 0);
  }
  return status ?? {};
}

const runOf = (metrics: Metric[]): AnalysisRun => ({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec: { metrics } });

describe('analysis planner properties', () => {
  it('keeps every invariant of src/analysis/invariants.ts over generated metrics and answer streams', () => {
    const verdicts = new Set<string>();
    fc.assert(
      fc.property(
        fc.array(metricSpec, { minLength: 1, maxLength: 3 }),
        fc.array(fc.array(answer, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
        (specs, streams, terminateAfter) => {
          const status = drive(runOf(specs.map(toMetric)), streams, terminateAfter);
          verdicts.add(status.phase ?? 'Pending');
        },
      ),
      propertyParameters(1500),
    );
    // The generator reaches every verdict, so the invariants were checked on each.
    expect([...verdicts].filter((phase) => isTerminal(phase as never)).sort()).toEqual(['Error', 'Failed', 'Inconclusive', 'Successful']);
  }, 120_000);

  it('never passes a run whose deciding metrics only ever got errors, NaN, ±Inf or no data', () => {
    fc.assert(
      fc.property(
        fc.array(metricSpec.filter((spec) => spec.dryRun !== true && spec.noDataPolicy !== 'Pass'), { minLength: 1, maxLength: 3 }),
        fc.array(fc.array(garbage, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
        (specs, streams, terminateAfter) => {
          const status = drive(runOf(specs.map(toMetric)), streams, terminateAfter);
          expect(status.phase).not.toBe('Successful');
        },
      ),
      propertyParameters(1500),
    );
  }, 120_000);
});
