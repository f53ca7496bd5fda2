import { transition } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import type { AnalysisRun, Metric } from '../../../src/api/analysis.js';
import type { MeasurementVerdict } from '../../../src/analysis/measure.js';
import { evaluateRun, IN_PROGRESS_POLL_MS, recordInProgress, recordMeasurement } from '../../../src/analysis/plan.js';
import { runViolations } from '../../../src/analysis/invariants.js';
import { runMachine, type RunEvent } from '../../../src/analysis/run-machine.js';

const T0 = Date.parse('2026-04-01T10:00:00Z');
const S = 1000;

const metric = (overrides: Partial<Metric> = {}): Metric => ({
  name: 'success-rate',
  provider: { prometheus: { query: 'up' } },
  successCondition: 'result >= 0.95',
  interval: '10s',
  count: 3,
  ...overrides,
});

function run(metrics: Metric[], spec: Partial<AnalysisRun['spec']> = {}): AnalysisRun {
  return { apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec: { metrics, ...spec } };
}

/** Drives a run through time, answering every due measurement with the next verdict for its metric. */
function drive(subject: AnalysisRun, verdicts: Record<string, MeasurementVerdict[]>, until: number, retention = 10) {
  let status = subject.status;
  let now = T0;
  const taken: Array<[string, number]> = [];
  while (now <= until) {
    const evaluation = evaluateRun(subject, status, now);
    status = evaluation.status;
    for (const due of evaluation.due) {
      const verdict = verdicts[due.name]?.shift() ?? { phase: 'Successful', value: '1' };
      status = recordMeasurement(status, due, verdict, now, now + 100, retention);
      taken.push([due.name, (now - T0) / S]);
    }
    const after = evaluateRun(subject, status, now);
    status = after.status;
    if (after.requeueAfterMs === undefined) break;
    now += after.requeueAfterMs;
  }
  return { status, taken };
}

describe('analysis run planning', () => {
  it('measures at start + initialDelay, then every interval after the previous start, count times', () => {
    const { status, taken } = drive(run([metric({ initialDelay: '5s' })]), {}, T0 + 120 * S);
    expect(taken).toEqual([
      ['success-rate', 5],
      ['success-rate', 15],
      ['success-rate', 25],
    ]);
    expect(status?.phase).toBe('Successful');
    expect(status?.metricResults?.[0]).toMatchObject({ phase: 'Successful', count: 3, successful: 3 });
    expect(status?.summary).toBe('✔ 3 ✖ 0 ? 0 ⚠ 0');
  });

  it('fails once failures exceed failureLimit, naming the metric and value', () => {
    const failed: MeasurementVerdict = { phase: 'Failed', value: '0.8', message: 'successCondition result >= 0.95 is false' };
    const { status } = drive(run([metric({ failureLimit: 1, count: 5 })]), { 'success-rate': [failed, { phase: 'Successful', value: '1' }, failed] }, T0 + 120 * S);
    expect(status?.phase).toBe('Failed');
    expect(status?.metricResults?.[0]).toMatchObject({ count: 3, failed: 2 });
    expect(status?.message).toBe('metric success-rate failed (2 failed, 0 inconclusive, 0 errors of 3), last value 0.8: successCondition result >= 0.95 is false');
  });

  it('is Inconclusive when inconclusive measurements exceed inconclusiveLimit', () => {
    const none: MeasurementVerdict = { phase: 'Inconclusive', message: 'no data' };
    const { status } = drive(run([metric({ inconclusiveLimit: 1 })]), { 'success-rate': [none, none] }, T0 + 120 * S);
    expect(status?.phase).toBe('Inconclusive');
  });

  it('errors after more consecutive errors than consecutiveErrorLimit; a success resets the streak', () => {
    const error: MeasurementVerdict = { phase: 'Error', message: 'connection refused' };
    const flaky = drive(run([metric({ count: 6, consecutiveErrorLimit: 2 })]), { 'success-rate': [error, error, { phase: 'Successful', value: '1' }, error, error] }, T0 + 300 * S);
    expect(flaky.status?.phase).toBe('Successful');
    const down = drive(run([metric({ count: 6, consecutiveErrorLimit: 2 })]), { 'success-rate': [error, error, error] }, T0 + 300 * S);
    expect(down.status?.phase).toBe('Error');
    expect(down.status?.metricResults?.[0]).toMatchObject({ error: 3, consecutiveError: 3, successful: 0 });
  });

  it('never counts an Error towards count: a single-measurement metric with its provider down ends in Error, not Successful', () => {
    const error: MeasurementVerdict = { phase: 'Error', message: 'connection refused' };
    const down = drive(run([metric({ interval: undefined, count: undefined })]), { 'success-rate': [error, error, error, error, error] }, T0 + 300 * S);
    // Retried every 10 s (Argo's error retry) until consecutiveErrorLimit (4) is exceeded.
    expect(down.taken.map(([, at]) => at)).toEqual([0, 10, 20, 30, 40]);
    expect(down.status).toMatchObject({ phase: 'Error', message: expect.stringContaining('5 errors of 5') });
    expect(down.status?.metricResults?.[0]).toMatchObject({ phase: 'Error', count: 0, error: 5 });
    const recovers = drive(run([metric({ interval: undefined, count: undefined })]), { 'success-rate': [error, error] }, T0 + 300 * S);
    expect(recovers.taken.map(([, at]) => at)).toEqual([0, 10, 20]);
    expect(recovers.status?.metricResults?.[0]).toMatchObject({ phase: 'Successful', count: 1, successful: 1, error: 2, consecutiveError: 0 });
  });

  it('retries an Error at the interval when that is shorter than 10 s, and shows the run Running meanwhile', () => {
    const error: MeasurementVerdict = { phase: 'Error', message: 'timed out' };
    const subject = run([metric({ interval: '4s', count: 2 })]);
    const { taken } = drive(subject, { 'success-rate': [error] }, T0 + 300 * S);
    expect(taken.map(([, at]) => at)).toEqual([0, 4, 8]);
    const first = evaluateRun(subject, undefined, T0);
    const errored = recordMeasurement(first.status, metric(), error, T0, T0 + 100, 10);
    expect(evaluateRun(subject, errored, T0 + S)).toMatchObject({ status: { phase: 'Running' }, requeueAfterMs: 3 * S });
    const slow = run([metric({ interval: '1m', count: 2 })]);
    expect(evaluateRun(slow, errored, T0 + S).requeueAfterMs).toBe(9 * S);
  });

  it('never fails the run for a dry-run metric', () => {
    const failed: MeasurementVerdict = { phase: 'Failed', value: '0.1' };
    const { status } = drive(run([metric({ count: 1 }), metric({ name: 'latency', dryRun: true, count: 1 })]), { latency: [failed] }, T0 + 60 * S);
    expect(status?.phase).toBe('Successful');
    expect(status?.metricResults?.find((r) => r.name === 'latency')).toMatchObject({ phase: 'Failed', dryRun: true });
    expect(status?.message).toBe('all metrics passed (success-rate 1/1); dry run: latency Failed');
  });

  it('completes a run of dry-run metrics only, as Successful, once they have all finished', () => {
    const failed: MeasurementVerdict = { phase: 'Failed', value: '0.1' };
    const { status, taken } = drive(run([metric({ dryRun: true, count: 2 }), metric({ name: 'latency', dryRun: true, count: 1 })]), { latency: [failed] }, T0 + 60 * S);
    expect(taken).toHaveLength(3);
    expect(status).toMatchObject({ phase: 'Successful', message: 'only dry-run metrics; dry run: latency Failed' });
    expect(status?.completedAt).toBe(new Date(T0 + 10 * S).toISOString());
  });

  it('keeps only the newest measurements, but counts all of them', () => {
    const { status } = drive(run([metric({ count: 7 })]), {}, T0 + 300 * S, 3);
    expect(status?.metricResults?.[0]?.count).toBe(7);
    expect(status?.metricResults?.[0]?.measurements).toHaveLength(3);
    expect(status?.metricResults?.[0]?.measurements[2]?.startedAt).toBe(new Date(T0 + 60 * S).toISOString());
  });

  it('resumes on the same schedule after a restart: the next measurement is due from status alone', () => {
    const subject = run([metric({ count: 3 })]);
    const first = evaluateRun(subject, undefined, T0);
    const afterOne = recordMeasurement(first.status, metric(), { phase: 'Successful', value: '1' }, T0, T0 + 100, 10);
    // A controller that restarted 4 s later knows from status alone that 6 s remain.
    expect(evaluateRun(subject, afterOne, T0 + 4 * S)).toMatchObject({ due: [], requeueAfterMs: 6 * S });
    expect(evaluateRun(subject, afterOne, T0 + 10 * S).due.map((m) => m.name)).toEqual(['success-rate']);
  });

  it('errors at once, without measuring, when a condition does not type-check', () => {
    const evaluation = evaluateRun(run([metric({ successCondition: 'result >= "high"' })]), undefined, T0);
    expect(evaluation.due).toEqual([]);
    expect(evaluation.status.phase).toBe('Error');
    expect(evaluation.status.message).toMatch(/^invalid condition "result >= \\"high\\"": metric success-rate successCondition: does not type-check to bool/);
    expect(evaluation.status.metricResults?.[0]).toMatchObject({ phase: 'Error', count: 0 });
  });

  it('errors with the reason when the run could not be built', () => {
    const evaluation = evaluateRun(run([], { invalidReason: 'AnalysisTemplate success-rate not found' }), undefined, T0);
    expect(evaluation.status).toMatchObject({ phase: 'Error', message: 'AnalysisTemplate success-rate not found' });
  });

  it('measures until terminated when there is an interval and no count, then keeps the verdict so far', () => {
    const subject = run([metric({ count: undefined })]);
    const { status, taken } = drive(subject, {}, T0 + 45 * S);
    expect(taken).toHaveLength(5);
    expect(status?.phase).toBe('Running');
    const terminated = evaluateRun({ ...subject, spec: { ...subject.spec, terminate: true } }, status, T0 + 46 * S);
    expect(terminated.status.phase).toBe('Successful');
    expect(terminated.status.message).toBe('terminated by its Rollout: all metrics passed (success-rate 5/5)');
    expect(terminated.due).toEqual([]);
    const early = evaluateRun({ ...subject, spec: { ...subject.spec, terminate: true } }, undefined, T0);
    expect(early.status).toMatchObject({ phase: 'Inconclusive', message: 'terminated by its Rollout before the first measurement' });
  });

  it('is never Successful when terminated with only errors, or with failures within failureLimit but no success', () => {
    const subject = run([metric({ count: undefined, failureLimit: 3 })]);
    const error: MeasurementVerdict = { phase: 'Error', message: 'HTTP 500' };
    const failed: MeasurementVerdict = { phase: 'Failed', value: '0.5' };
    const terminate = (status: ReturnType<typeof drive>['status']) => evaluateRun({ ...subject, spec: { ...subject.spec, terminate: true } }, status, T0 + 100 * S).status;
    const erroring = drive(subject, { 'success-rate': [error, error, error] }, T0 + 25 * S);
    expect(erroring.status?.phase).toBe('Running');
    expect(terminate(erroring.status)).toMatchObject({ phase: 'Inconclusive', metricResults: [{ phase: 'Inconclusive', count: 0, error: 3 }] });
    const failing = drive(subject, { 'success-rate': [failed, failed] }, T0 + 15 * S);
    expect(terminate(failing.status)).toMatchObject({ phase: 'Inconclusive', metricResults: [{ phase: 'Inconclusive', failed: 2 }] });
  });

  it('does not pass a metric that reached its count within its limits but never measured a success', () => {
    const none: MeasurementVerdict = { phase: 'Inconclusive', message: 'no data: the query returned no series' };
    const tolerant = drive(run([metric({ count: 1, interval: undefined, inconclusiveLimit: 1 })]), { 'success-rate': [none] }, T0 + 60 * S);
    expect(tolerant.status).toMatchObject({ phase: 'Inconclusive', metricResults: [{ phase: 'Inconclusive', count: 1, successful: 0 }] });
    const failed: MeasurementVerdict = { phase: 'Failed', value: '0.5' };
    const forgiving = drive(run([metric({ count: 2, failureLimit: 2 })]), { 'success-rate': [failed, failed] }, T0 + 60 * S);
    expect(forgiving.status).toMatchObject({ phase: 'Failed', metricResults: [{ phase: 'Failed', count: 2, failed: 2 }] });
    const once = drive(run([metric({ count: 2, failureLimit: 1 })]), { 'success-rate': [failed] }, T0 + 60 * S);
    expect(once.status?.phase).toBe('Successful');
  });

  it('never changes a verdict once reached, whatever comes later', () => {
    const subject = run([metric({ count: 1 })]);
    const failed = recordMeasurement(evaluateRun(subject, undefined, T0).status, metric(), { phase: 'Failed', value: '0' }, T0, T0, 10);
    const verdict = evaluateRun(subject, failed, T0).status;
    expect(verdict.phase).toBe('Failed');
    // Even if status were edited to look successful, the Failed phase stands.
    const edited = { ...verdict, metricResults: verdict.metricResults?.map((r) => ({ ...r, failed: 0, successful: 1 })) };
    expect(evaluateRun(subject, edited, T0 + S).status.phase).toBe('Failed');
  });
});

describe('measurements in progress across reconciles', () => {
  // The plan does not care which provider keeps a measurement in progress.
  const once = metric({ name: 'smoke', interval: undefined, count: undefined });

  it('counts towards nothing while under way, keeps the metric Running, starts no second one, and is timed from its start', () => {
    const subject = run([once]);
    const started = recordInProgress(evaluateRun(subject, undefined, T0).status, once, T0, { job: 'r-smoke-0' });
    const later = evaluateRun(subject, started, T0 + 30 * S);
    expect(later.status.phase).toBe('Running');
    expect(later.status.metricResults?.[0]).toMatchObject({ phase: 'Running', count: 0, error: 0 });
    expect(later.due).toEqual([]);
    expect(later.inProgress.map((m) => m.name)).toEqual(['smoke']);
    expect(later.requeueAfterMs).toBe(IN_PROGRESS_POLL_MS);
    const done = recordMeasurement(later.status, once, { phase: 'Successful' }, T0, T0 + 31 * S, 10);
    expect(done.metricResults?.[0]?.inProgress).toBeUndefined();
    expect(evaluateRun(subject, done, T0 + 31 * S).status).toMatchObject({ phase: 'Successful', metricResults: [{ count: 1, measurements: [{ startedAt: new Date(T0).toISOString() }] }] });
  });

  it('abandons what is in progress at a verdict: the provider is told which measurement, the status forgets it', () => {
    const twice: Metric = metric({ name: 'smoke', interval: '1m', count: 3 });
    const other = metric({ name: 'rate', count: 1, interval: undefined });
    const subject = run([twice, other]);
    let status = recordMeasurement(evaluateRun(subject, undefined, T0).status, twice, { phase: 'Successful' }, T0, T0 + S, 10);
    status = recordInProgress(status, twice, T0 + 60 * S, { job: 'r-smoke-1' });
    // The other metric fails the run while the Job runs.
    status = recordMeasurement(status, other, { phase: 'Failed', value: '0.5' }, T0 + 61 * S, T0 + 61 * S, 10);
    const settled = evaluateRun(subject, status, T0 + 62 * S);
    expect(settled.status.phase).toBe('Failed');
    expect(settled.abandoned).toEqual([{ metric: expect.objectContaining({ name: 'smoke' }), index: 1, metadata: { job: 'r-smoke-1' } }]);
    expect(settled.status.metricResults?.find((r) => r.name === 'smoke')).not.toHaveProperty('inProgress');
    expect(runViolations(subject, settled.status)).toEqual([]);
  });

  it('terminated while the first measurement is under way, a metric with no success is Inconclusive, never Successful', () => {
    const subject = run([once], { terminate: true });
    const started = recordInProgress(evaluateRun(run([once]), undefined, T0).status, once, T0, { job: 'r-smoke-0' });
    const settled = evaluateRun(subject, started, T0 + S);
    expect(settled.status).toMatchObject({ phase: 'Inconclusive', metricResults: [{ phase: 'Inconclusive', count: 0 }] });
    expect(settled.abandoned).toHaveLength(1);
    expect(runViolations(subject, settled.status)).toEqual([]);
    expect(runViolations(subject, { ...settled.status, metricResults: started.metricResults ?? [] })).toContain('smoke still has a measurement in progress, yet the run is Inconclusive');
  });
});

describe('analysis run machine (model-based)', () => {
  const events: RunEvent[] = [
    { type: 'START' },
    { type: 'INVALID' },
    ...(['Pending', 'Running', 'Successful', 'Failed', 'Error', 'Inconclusive'] as const).map((phase) => ({ type: 'EVALUATED', phase }) as RunEvent),
    ...(['Successful', 'Failed', 'Error', 'Inconclusive'] as const).map((phase) => ({ type: 'TERMINATE', phase }) as RunEvent),
  ];

  it('reaches every phase, and terminal phases are final on every path', () => {
    const paths = getShortestPaths(runMachine, { events });
    const reached = new Set(paths.map((path) => String(path.state.value)));
    expect([...reached].sort()).toEqual(['Error', 'Failed', 'Inconclusive', 'Pending', 'Running', 'Successful']);
    for (const path of paths) {
      if (path.state.status !== 'done') continue;
      for (const event of events) {
        const [next] = transition(runMachine, path.state, event);
        expect(next.value, `${String(path.state.value)} stays after ${JSON.stringify(event)}`).toBe(path.state.value);
      }
    }
  });

  it('only reaches Successful through an evaluation or a termination, never from INVALID', () => {
    for (const path of getShortestPaths(runMachine, { events })) {
      if (path.state.value !== 'Successful') continue;
      const last = path.steps.at(-1)?.event;
      expect(last?.type === 'EVALUATED' || last?.type === 'TERMINATE').toBe(true);
    }
  });
});

describe('analysis run status for kstatus and kubectl wait', () => {
  const conditionsOf = (status: AnalysisRun['status']): Record<string, string> =>
    Object.fromEntries((status?.conditions ?? []).map((condition) => [condition.type, `${condition.status}/${condition.reason}`]));
  const generation2 = (metrics: Metric[]): AnalysisRun => ({ ...run(metrics), metadata: { name: 'r', generation: 2 } });

  it('says which generation it judged, Reconciling while measuring, then Ready on success', () => {
    const subject = generation2([metric({ count: 2, interval: '10s' })]);
    const running = evaluateRun(subject, { observedGeneration: 0 }, T0).status;
    expect(running.observedGeneration).toBe(2);
    expect(conditionsOf(running)).toEqual({ Reconciling: 'True/RunPending', Stalled: 'False/RunPending', Ready: 'False/RunPending' });
    const { status } = drive(subject, { 'success-rate': [{ phase: 'Successful', value: '1' }, { phase: 'Successful', value: '1' }] }, T0 + 60 * S);
    expect(status?.phase).toBe('Successful');
    expect(conditionsOf(status)).toEqual({ Reconciling: 'False/RunSuccessful', Stalled: 'False/RunSuccessful', Ready: 'True/RunSuccessful' });
  });

  it('is Stalled once Failed or Error, so a waiting kstatus reports Failed rather than waiting forever', () => {
    const failed = drive(generation2([metric({ count: 1, interval: undefined })]), { 'success-rate': [{ phase: 'Failed', value: '0.5' }] }, T0 + 60 * S).status;
    expect(failed?.phase).toBe('Failed');
    expect(conditionsOf(failed)).toEqual({ Reconciling: 'False/RunFailed', Stalled: 'True/RunFailed', Ready: 'False/RunFailed' });
    const errored = evaluateRun({ ...generation2([metric()]), spec: { metrics: [metric()], invalidReason: 'template gone' } }, undefined, T0).status;
    expect(errored.phase).toBe('Error');
    expect(conditionsOf(errored).Stalled).toBe('True/RunError');
  });
});
