import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metric, type AnalysisRun, type JudgeSpec } from '../../../src/api/analysis.js';
import { runBacktest, type BacktestDeps, type BacktestWindow } from '../../../src/analysis/backtest.js';
import { lookIncrements } from '../../../src/analysis/judge-verdict.js';
import { judgeProvider } from '../../../src/analysis/providers/judge.js';
import { queryPrometheusRange } from '../../../src/analysis/providers/prometheus.js';
import type { MeasureContext } from '../../../src/analysis/providers/provider.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';
import { evaluateRun } from '../../../src/analysis/plan.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');

/** Per role and query kind, the value at every step: what a Prometheus range query over the run would give. */
interface Script {
  errors: Record<'baseline' | 'canary', number>;
  requests: Record<'baseline' | 'canary', number>;
  samples: Record<'baseline' | 'canary', number[]>;
  delayMs: number;
}

let server: Server;
let address: string;
const asked: Array<{ query: string; start: number; end: number; step: number }> = [];
/** Requests being answered at once, and the most seen. */
let inFlight = 0;
let mostInFlight = 0;
const script: Script = { errors: { baseline: 6, canary: 6 }, requests: { baseline: 100, canary: 100 }, samples: { baseline: [], canary: [] }, delayMs: 0 };

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = url.searchParams.get('query') ?? '';
    const [start, end, step] = ['start', 'end', 'step'].map((key) => Number(url.searchParams.get(key)));
    asked.push({ query, start: start as number, end: end as number, step: step as number });
    const role = query.includes('"canary"') ? 'canary' : 'baseline';
    const times: number[] = [];
    for (let t = start as number; t <= (end as number) + 1e-9; t += step as number) times.push(t);
    const values = query.startsWith('errors')
      ? times.map((t) => [t, String(script.errors[role])])
      : query.startsWith('requests')
        ? times.map((t) => [t, String(script.requests[role])])
        : script.samples[role].map((value, index) => [(start as number) + index * (step as number), String(value)]);
    const body = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: values.length > 0 ? [{ metric: { role }, values }] : [] } });
    mostInFlight = Math.max(mostInFlight, ++inFlight);
    setTimeout(() => {
      inFlight--;
      res.end(body);
    }, script.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const SEQUENTIAL: JudgeSpec = { errors: 'errors{role="{{args.role}}"}[{{args.window}}]', requests: 'requests{role="{{args.role}}"}[{{args.window}}]' };
const FIXED: JudgeSpec = { query: 'latency{role="{{args.role}}"}', step: '10s', minSamples: 20 };

function measure(spec: JudgeSpec, now: number, metric: Partial<Metric> = {}) {
  const provider = judgeProvider({ defaultAddress: address, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, readSecret: async () => '', now: () => now }, spec);
  const context: MeasureContext = {
    run: { name: 'run', namespace: 'shop', uid: 'u', startedAt: T0 },
    metric: { name: 'judged', provider: { judge: spec }, interval: '10s', ...metric } as MeasureContext['metric'],
    index: 0,
    args: {},
    conditions: {},
  };
  return provider.run(context);
}

describe('the judge provider against a Prometheus range API', () => {
  it('sequential: asks errors and requests for each role at the end of every look since the run started', async () => {
    asked.length = 0;
    script.errors = { baseline: 6, canary: 6 };
    const progress = await measure(SEQUENTIAL, T0 + 60_000);
    expect(progress.phase).toBe('Done');
    if (progress.phase !== 'Done') return;
    expect(progress.verdict.phase).toBe('Successful');
    expect(progress.verdict.judgement).toMatchObject({ mode: 'sequential', class: 'Pass', baseline: { n: 6, errors: 36, requests: 600 }, canary: { n: 6, errors: 36, requests: 600 } });
    expect(asked.map((call) => call.query).sort()).toEqual([
      'errors{role="baseline"}[10s]',
      'errors{role="canary"}[10s]',
      'requests{role="baseline"}[10s]',
      'requests{role="canary"}[10s]',
    ]);
    // Looks end at the run's start plus each interval: the same looks whenever the measurement is taken.
    for (const call of asked) expect(call).toMatchObject({ start: (T0 + 10_000) / 1000, end: (T0 + 60_000) / 1000, step: 10 });
  });

  it('sequential: a canary erring five times as often as its baseline fails, with the interval above 1', async () => {
    script.errors = { baseline: 6, canary: 30 };
    const progress = await measure(SEQUENTIAL, T0 + 60_000);
    if (progress.phase !== 'Done') throw new Error('not done');
    expect(progress.verdict.phase).toBe('Failed');
    expect(progress.verdict.judgement?.class).toBe('High');
    expect(progress.verdict.judgement?.lower).toBeGreaterThan(1);
    expect(progress.verdict.message).toMatch(/regression/);
  });

  it('sequential: before the first look has ended there is nothing to judge', async () => {
    const progress = await measure(SEQUENTIAL, T0 + 5_000);
    if (progress.phase !== 'Done') throw new Error('not done');
    expect(progress.verdict).toEqual({ phase: 'Error', message: 'no look has ended yet' });
  });

  it('fixed horizon: compares every sample of the run so far by Mann-Whitney', async () => {
    script.samples = { baseline: Array.from({ length: 30 }, (_, i) => 0.2 + (i % 5) * 0.01), canary: Array.from({ length: 30 }, (_, i) => 0.4 + (i % 5) * 0.01) };
    const progress = await measure(FIXED, T0 + 300_000, { interval: undefined });
    if (progress.phase !== 'Done') throw new Error('not done');
    expect(progress.verdict.phase).toBe('Failed');
    expect(progress.verdict.judgement).toMatchObject({ mode: 'fixed', class: 'High', baseline: { n: 30 }, canary: { n: 30 } });
    expect(progress.verdict.judgement?.estimate).toBeCloseTo(0.2, 6);
    script.samples.canary = [...script.samples.baseline];
    const same = await measure(FIXED, T0 + 300_000, { interval: undefined });
    if (same.phase !== 'Done') throw new Error('not done');
    expect(same.verdict.judgement?.class).toBe('Pass');
    script.samples.canary = script.samples.canary.slice(0, 5);
    const few = await measure(FIXED, T0 + 300_000, { interval: undefined });
    if (few.phase !== 'Done') throw new Error('not done');
    expect(few.verdict).toMatchObject({ phase: 'Inconclusive', judgement: { class: 'TooFewSamples' } });
  });

  it('holds the whole measurement to the metric timeout: its four queries go out together, each with that deadline', async () => {
    script.errors = { baseline: 6, canary: 6 };
    script.delayMs = 300;
    mostInFlight = 0;
    const progress = await measure({ ...SEQUENTIAL, timeout: '1s' }, T0 + 60_000);
    expect(mostInFlight).toBe(4);
    if (progress.phase !== 'Done') throw new Error('not done');
    expect(progress.verdict.phase).toBe('Successful');
    script.delayMs = 1_500;
    const late = await measure({ ...SEQUENTIAL, timeout: '1s' }, T0 + 60_000);
    script.delayMs = 0;
    if (late.phase !== 'Done') throw new Error('not done');
    expect(late.verdict).toMatchObject({ phase: 'Error', deadlineExceeded: true });
  });
});

describe('judge looks', () => {
  const run = (metric: Record<string, unknown>): AnalysisRun => ({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'AnalysisRun',
    metadata: { name: 'r', namespace: 'shop' },
    spec: { metrics: [{ name: 'judged', ...metric } as Metric] },
  });

  it('refuses a fixed-horizon judge that would look more than once, and a sequential one with no interval', () => {
    const repeated = evaluateRun(run({ provider: { judge: FIXED }, interval: '1m', count: 5 }), undefined, T0);
    expect(repeated.status).toMatchObject({ phase: 'Error' });
    expect(repeated.status.message).toMatch(/fixed-horizon judge \(query\) looks once/);
    const blind = evaluateRun(run({ provider: { judge: SEQUENTIAL } }), undefined, T0);
    expect(blind.status.message).toMatch(/sequential judge .* needs an interval/);
    // Its first measurement comes when its first look has ended, one interval after the run started.
    const fine = evaluateRun(run({ provider: { judge: SEQUENTIAL }, interval: '10s', count: 6 }), undefined, T0);
    expect(fine.status.phase).not.toBe('Error');
    expect(fine.due).toEqual([]);
    expect(fine.requeueAfterMs).toBe(10_000);
    expect(evaluateRun(run({ provider: { judge: SEQUENTIAL }, interval: '10s', count: 6 }), fine.status, T0 + 10_000).due.map((metric) => metric.name)).toEqual(['judged']);
  });

  it('a judge metric needs no condition, and the schema takes exactly one mode', () => {
    expect(Metric.safeParse({ name: 'm', provider: { judge: SEQUENTIAL }, interval: '10s' }).success).toBe(true);
    expect(Metric.safeParse({ name: 'm', provider: { judge: { ...FIXED, surprise: 1 } } }).success).toBe(true);
    expect(Metric.safeParse({ name: 'm', provider: { judge: FIXED, prometheus: { query: 'x' } } }).success).toBe(false);
  });
});

describe('look increments', () => {
  it('needs requests from both roles at a look, and reads a missing errors sample as none', () => {
    const series = (entries: Array<[number, number]>) => new Map(entries);
    const increments = lookIncrements(
      { baseline: series([[1, 2]]), canary: series([[2, 9]]) },
      { baseline: series([[1, 100], [2, 100], [3, 100]]), canary: series([[1, 50.4], [2, 8], [4, 10]]) },
    );
    expect(increments).toEqual([
      { baseline: { errors: 2, requests: 100 }, canary: { errors: 0, requests: 50 } },
      // Errors are capped at requests: increase() extrapolates each counter on its own.
      { baseline: { errors: 0, requests: 100 }, canary: { errors: 8, requests: 8 } },
    ]);
  });
});

describe('backtest replays the judge', () => {
  const backtestDeps = (): BacktestDeps => ({
    fetchRange: queryPrometheusRange,
    readSecret: async () => '',
    prometheusAddress: address,
    maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
    namespace: 'shop',
  });
  const window = (spec: JudgeSpec, metric: Partial<Metric>, endMs: number): BacktestWindow => ({
    label: 'release',
    startMs: T0,
    endMs,
    spec: { metrics: [{ name: 'judged', provider: { judge: spec }, ...metric } as Metric] },
  });

  it('sequential: at every look, the verdict the live provider gives at that instant', async () => {
    script.errors = { baseline: 3, canary: 9 };
    const report = await runBacktest([window(SEQUENTIAL, { interval: '10s', count: 12 }, T0 + 120_000)], backtestDeps());
    const [replayed] = report.windows;
    const looks = replayed?.metrics[0]?.series ?? [];
    expect(looks.length).toBeGreaterThan(1);
    for (const look of looks) {
      const live = await measure(SEQUENTIAL, Date.parse(look.time));
      if (live.phase !== 'Done') throw new Error('not done');
      expect({ phase: look.phase, value: look.value }, look.time).toEqual({ phase: live.verdict.phase, value: live.verdict.value });
    }
    // A canary erring three times as often fails before the run's end, on the look the live judge would fail it.
    expect(replayed).toMatchObject({ phase: 'Failed' });
    expect(Date.parse(replayed?.decidedAt ?? '')).toBeLessThan(T0 + 120_000);
    expect(looks.at(-1)?.phase).toBe('Failed');
  });

  it('sequential, on a bad day (both roles err at 6%): the replayed judge passes the release', async () => {
    script.errors = { baseline: 6, canary: 6 };
    const report = await runBacktest([window(SEQUENTIAL, { interval: '10s', count: 6 }, T0 + 60_000)], backtestDeps());
    expect(report.windows[0]).toMatchObject({ phase: 'Successful' });
    expect(report.windows[0]?.metrics[0]?.series).toHaveLength(6);
  });

  it('fixed horizon: one judgement at initialDelay over every sample since the start, as live', async () => {
    script.samples = { baseline: Array.from({ length: 30 }, (_, i) => 0.2 + (i % 5) * 0.01), canary: Array.from({ length: 30 }, (_, i) => 0.4 + (i % 5) * 0.01) };
    const report = await runBacktest([window(FIXED, { initialDelay: '300s' }, T0 + 600_000)], backtestDeps());
    const live = await measure(FIXED, T0 + 300_000, { interval: undefined });
    if (live.phase !== 'Done') throw new Error('not done');
    expect(report.windows[0]).toMatchObject({ phase: 'Failed', decidedAt: new Date(T0 + 300_000).toISOString() });
    expect(report.windows[0]?.metrics[0]?.series).toEqual([{ time: new Date(T0 + 300_000).toISOString(), phase: live.verdict.phase, value: live.verdict.value }]);
  });
});
