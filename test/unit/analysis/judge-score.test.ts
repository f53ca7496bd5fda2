import { describe, expect, it } from 'vitest';
import type { AnalysisRun, AnalysisRunStatus, JudgeSpec, MetricResult } from '../../../src/api/analysis.js';
import { evaluateRun } from '../../../src/analysis/plan.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const FIXED: JudgeSpec = { query: 'q{role="{{args.role}}"}' };

/** A run of judge metrics (one look each) with Kayenta's thresholds, and a threshold metric beside them. */
function run(judges: Array<{ name: string; spec?: Partial<JudgeSpec> }>, extra: AnalysisRun['spec']['metrics'] = []): AnalysisRun {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'AnalysisRun',
    metadata: { name: 'r', namespace: 'shop' },
    spec: {
      scoreThresholds: { pass: 75, marginal: 50 },
      metrics: [...judges.map(({ name, spec }) => ({ name, provider: { judge: { ...FIXED, ...spec } } })), ...extra],
    },
  };
}

/** Each metric measured once, Failed when its class is a regression, with the class in its judgement. */
function measured(classes: Record<string, 'Pass' | 'High' | 'Low' | 'NoData'>, phases: Record<string, MetricResult['phase']> = {}): AnalysisRunStatus {
  return {
    phase: 'Running',
    startedAt: new Date(T0).toISOString(),
    metricResults: Object.entries(classes).map(([name, judgementClass]) => {
      const failed = judgementClass === 'High' ? 1 : 0;
      return {
        name,
        phase: phases[name] ?? 'Running',
        count: 1,
        successful: 1 - failed,
        failed,
        inconclusive: 0,
        error: 0,
        consecutiveError: 0,
        measurements: [{ phase: failed ? 'Failed' : 'Successful', startedAt: new Date(T0).toISOString(), finishedAt: new Date(T0).toISOString() }],
        judgement: { mode: 'fixed', class: judgementClass, confidence: 0.98, baseline: { n: 60 }, canary: { n: 60 }, explanation: `${name} ${judgementClass}` },
      };
    }),
  };
}

describe('scoreThresholds: the judge metrics scored together, as Kayenta does', () => {
  it('one regression of four equal metrics scores 75: at the pass threshold, the run passes', () => {
    const evaluation = evaluateRun(run([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]), measured({ a: 'High', b: 'Pass', c: 'Pass', d: 'Pass' }), T0 + 1000);
    expect(evaluation.status.phase).toBe('Successful');
    expect(evaluation.status.score).toMatchObject({ value: 75, verdict: 'Pass' });
    expect(evaluation.status.message).toMatch(/^score 75 \(pass 75, marginal 50\): Pass; .*a: High, a regression/);
  });

  it('weights count: the same regression on a metric weighing 3 scores 50, Marginal, and the run is Inconclusive', () => {
    const evaluation = evaluateRun(run([{ name: 'a', spec: { weight: 3 } }, { name: 'b' }, { name: 'c' }, { name: 'd' }]), measured({ a: 'High', b: 'Pass', c: 'Pass', d: 'Pass' }), T0 + 1000);
    expect(evaluation.status.score).toMatchObject({ value: 50, verdict: 'Marginal' });
    expect(evaluation.status.phase).toBe('Inconclusive');
  });

  it('a critical metric’s regression fails the run at once, before the others have finished', () => {
    const status = measured({ a: 'High', b: 'Pass' }, { b: 'Running' });
    const evaluation = evaluateRun(run([{ name: 'a', spec: { critical: true } }, { name: 'b' }]), status, T0 + 1000);
    expect(evaluation.status.phase).toBe('Failed');
    expect(evaluation.status.score).toMatchObject({ value: 0, verdict: 'Fail' });
    expect(evaluation.status.message).toMatch(/critical metric a failed: score 0/);
  });

  it('waits for every judge metric before scoring, and a threshold metric beside them still fails the run on its own', () => {
    const waiting = evaluateRun(run([{ name: 'a' }, { name: 'b' }]), measured({ a: 'High' }), T0 + 1000);
    expect(waiting.status.phase).toBe('Running');
    const threshold = { name: 't', provider: { prometheus: { query: 'x' } }, successCondition: 'result < 1.0' };
    const status: AnalysisRunStatus = { ...measured({ a: 'Pass', b: 'Pass' }) };
    status.metricResults = [...(status.metricResults ?? []), { name: 't', phase: 'Running', count: 1, successful: 0, failed: 1, inconclusive: 0, error: 0, consecutiveError: 0, measurements: [] }];
    const failed = evaluateRun(run([{ name: 'a' }, { name: 'b' }], [threshold]), status, T0 + 1000);
    expect(failed.status.phase).toBe('Failed');
    expect(failed.status.message).toMatch(/^metric t failed/);
  });

  it('NoData is left out of the score unless the metric must have data', () => {
    const loose = evaluateRun(run([{ name: 'a' }, { name: 'b' }]), measured({ a: 'NoData', b: 'Pass' }, { a: 'Inconclusive' }), T0 + 1000);
    expect(loose.status.score).toMatchObject({ value: 100, verdict: 'Pass' });
    const strict = evaluateRun(run([{ name: 'a', spec: { mustHaveData: true } }, { name: 'b' }]), measured({ a: 'NoData', b: 'Pass' }, { a: 'Inconclusive' }), T0 + 1000);
    expect(strict.status.score).toMatchObject({ value: 50, verdict: 'Marginal' });
  });
});
