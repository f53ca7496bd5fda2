import { getSimplePaths } from 'xstate/graph';
import { transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { AnalysisRun, AnalysisRunStatus, MeasurementPhase, Metric } from '../../../src/api/analysis.js';
import { runViolations } from '../../../src/analysis/invariants.js';
import { evaluateRun, recordMeasurement } from '../../../src/analysis/plan.js';
import { isTerminal, runMachine, type RunEvent } from '../../../src/analysis/run-machine.js';

const T0 = Date.parse('2026-04-01T10:00:00Z');
const VERDICTS: MeasurementPhase[] = ['Successful', 'Failed', 'Inconclusive', 'Error'];

const metric = (name: string, overrides: Partial<Metric>): Metric => ({
  name,
  provider: { prometheus: { query: 'up' } },
  successCondition: 'result >= 0.95',
  interval: '10s',
  ...overrides,
});

const run = (metrics: Metric[]): AnalysisRun => ({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec: { metrics } });

interface Visit {
  status: AnalysisRunStatus;
  now: number;
  history: string[];
}

/** Every outcome sequence the metrics can produce, explored exhaustively: each due measurement branches on all four verdicts. */
function explore(subject: AnalysisRun, retention: number, check: (visit: Visit, subject: AnalysisRun) => void): number {
  let leaves = 0;
  const walk = (status: AnalysisRunStatus | undefined, now: number, history: string[]): void => {
    const evaluation = evaluateRun(subject, status, now);
    check({ status: evaluation.status, now, history }, subject);
    const phase = evaluation.status.phase ?? 'Pending';
    if (isTerminal(phase)) {
      expect(evaluation.due, `${history.join(' ')}: a finished run measures nothing`).toEqual([]);
      expect(evaluation.requeueAfterMs).toBeUndefined();
      // Final: later looks, with more time passed, never change the verdict.
      expect(evaluateRun(subject, evaluation.status, now + 3_600_000).status.phase).toBe(phase);
      leaves++;
      return;
    }
    // Live: a run that has not finished always has a measurement due now or a time to look again.
    expect(evaluation.due.length > 0 || evaluation.requeueAfterMs !== undefined, `${history.join(' ')}: stuck in ${phase}`).toBe(true);
    if (evaluation.due.length === 0) return walk(evaluation.status, now + (evaluation.requeueAfterMs ?? 0), history);
    const branch = (index: number, current: AnalysisRunStatus, steps: string[]): void => {
      const due = evaluation.due[index];
      if (due === undefined) return walk(current, now, [...history, ...steps]);
      for (const verdict of VERDICTS) {
        branch(index + 1, recordMeasurement(current, due, { phase: verdict, value: '1' }, now, now + 50, retention), [...steps, `${due.name}:${verdict[0]}`]);
      }
    };
    branch(0, evaluation.status, []);
  };
  walk(undefined, T0, []);
  return leaves;
}

function invariants({ status, history }: Visit, subject: AnalysisRun, retention: number): void {
  const where = history.join(' ') || '(start)';
  expect(runViolations(subject, status), where).toEqual([]);
  for (const result of status.metricResults ?? []) {
    expect(result.consecutiveError, where).toBeLessThanOrEqual(result.error);
    expect(result.measurements.length, where).toBeLessThanOrEqual(retention);
  }
}

describe('analysis run planner (exhaustive model)', () => {
  it('holds its invariants over every outcome sequence of a deciding and a dry-run metric', () => {
    const subject = run([
      metric('rate', { count: 3, failureLimit: 1, consecutiveErrorLimit: 1, initialDelay: '5s' }),
      metric('latency', { count: 2, dryRun: true, interval: '15s' }),
    ]);
    const leaves = explore(subject, 2, (visit, s) => invariants(visit, s, 2));
    expect(leaves).toBeGreaterThan(100);
  }, 60_000);

  it('reaches every verdict, and dry-run failures alone never fail the run', () => {
    const subject = run([metric('rate', { count: 2, inconclusiveLimit: 1, consecutiveErrorLimit: 0 }), metric('shadow', { count: 1, dryRun: true })]);
    const verdicts = new Set<string>();
    explore(subject, 10, (visit, s) => {
      invariants(visit, s, 10);
      const phase = visit.status.phase ?? 'Pending';
      if (!isTerminal(phase)) return;
      verdicts.add(phase);
      const rate = visit.status.metricResults?.find((r) => r.name === 'rate');
      if (rate?.successful === rate?.count && rate?.count === 2) expect(phase, visit.history.join(' ')).toBe('Successful');
    });
    expect([...verdicts].sort()).toEqual(['Error', 'Failed', 'Inconclusive', 'Successful']);
  });

  it('finishes a run of dry-run metrics only as Successful, whatever they measure', () => {
    const subject = run([metric('a', { count: 2, dryRun: true }), metric('b', { count: 1, dryRun: true })]);
    const verdicts = new Set<string>();
    explore(subject, 10, (visit, s) => {
      invariants(visit, s, 10);
      if (isTerminal(visit.status.phase ?? 'Pending')) verdicts.add(visit.status.phase ?? '');
    });
    expect([...verdicts]).toEqual(['Successful']);
  });
});

describe('analysis run machine (simple paths)', () => {
  const events: RunEvent[] = [
    { type: 'START' },
    { type: 'INVALID' },
    ...(['Pending', 'Running', 'Successful', 'Failed', 'Error', 'Inconclusive'] as const).map((phase) => ({ type: 'EVALUATED', phase }) as RunEvent),
    ...(['Successful', 'Failed', 'Error', 'Inconclusive'] as const).map((phase) => ({ type: 'TERMINATE', phase }) as RunEvent),
  ];

  it('leaves Pending only by starting, erroring or terminating, and never returns to Pending or Running from a verdict', () => {
    const paths = getSimplePaths(runMachine, { events });
    expect(paths.length).toBeGreaterThan(6);
    for (const path of paths) {
      const values = [path.steps[0]?.state.value, ...path.steps.map((step) => step.state.value)].map(String);
      const firstVerdict = values.findIndex((value) => isTerminal(value as never));
      if (firstVerdict >= 0) expect(new Set(values.slice(firstVerdict)).size, values.join(' → ')).toBe(1);
      // An EVALUATED verdict is ignored before START: the run cannot skip Running by evaluation alone.
      for (const step of path.steps) {
        if (step.event.type === 'EVALUATED' && step.state.value !== 'Pending') {
          const before = values[path.steps.indexOf(step)];
          expect(before, values.join(' → ')).not.toBe('Pending');
        }
      }
    }
  });

  it('errors from INVALID whatever it was doing, unless a verdict was already reached', () => {
    for (const from of ['Pending', 'Running'] as const) {
      const [next] = transition(runMachine, runMachine.resolveState({ value: from, context: undefined }), { type: 'INVALID' });
      expect(next.value).toBe('Error');
    }
    const [kept] = transition(runMachine, runMachine.resolveState({ value: 'Failed', context: undefined }), { type: 'INVALID' });
    expect(kept.value).toBe('Failed');
  });
});
