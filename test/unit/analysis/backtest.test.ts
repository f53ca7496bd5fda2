import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analysisLengthMs,
  backtestSpec,
  BacktestError,
  conditionMargin,
  lookupIn,
  resultAt,
  runBacktest,
  simulateRun,
  slidingWindows,
  type BacktestDeps,
  type BacktestWindow,
} from '../../../src/analysis/backtest.js';
import { interpretRangeResponse, MAX_RANGE_POINTS, queryPrometheusRange, type RangeAnswer } from '../../../src/analysis/providers/prometheus.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';
import type { AnalysisRun, AnalysisRunSpec, AnalysisTemplateSpec, Metric, NoDataPolicy } from '../../../src/api/analysis.js';
import { fakeAnalysisReconciler, FakeKube, reconcileAnswered, wakeups } from '../fake-kube.js';
import { propertyParameters } from '../property.js';

const T0 = Date.parse('2026-04-01T10:00:00Z');
const STEP = 5000;

const successRate = (overrides: Partial<Metric> = {}): Metric => ({
  name: 'success-rate',
  interval: '5s',
  count: 4,
  successCondition: 'result >= 0.95',
  provider: { prometheus: { query: 'rate_ok' } },
  ...overrides,
});
/** An HTTP server on loopback while the enclosing describe runs. */
function serveDuringSuite(handler: RequestListener): { address: () => string } {
  let server: Server | undefined;
  let address = '';
  beforeAll(async () => {
    const started = createServer(handler);
    server = started;
    await new Promise<void>((resolve) => started.listen(0, '127.0.0.1', resolve));
    address = `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });
  return { address: () => address };
}

const windowOf = (metrics: Metric[], startMs = T0, endMs = T0 + 600_000): BacktestWindow => ({ label: 'w', startMs, endMs, spec: { metrics } });
const value = (v: number) => ({ kind: 'value' as const, value: v });

describe('resultAt: an instant read from a range answer', () => {
  const answer: RangeAnswer = {
    kind: 'series',
    series: [
      { labels: { pod: 'a' }, samples: [[T0, '0.9'], [T0 + 5000, '0.8'], [T0 + 10_000, 'NaN']] },
      { labels: { pod: 'b' }, samples: [[T0 + 5000, '1']] },
    ],
  };

  it('takes each series’ sample in (t - step, t], one value per series present then', () => {
    expect(resultAt(answer, T0, STEP)).toEqual(value(0.9));
    expect(resultAt(answer, T0 + 7000, STEP)).toEqual({ kind: 'values', values: [0.8, 1] });
    expect(resultAt(answer, T0 + 10_000, STEP)).toEqual(value(Number.NaN));
  });

  it('is no data where no series has a sample, and an error for an error or a value it cannot read', () => {
    expect(resultAt(answer, T0 - 1, STEP)).toEqual({ kind: 'noData', message: 'the query returned no series' });
    expect(resultAt(answer, T0 + 20_000, STEP)).toMatchObject({ kind: 'noData' });
    expect(resultAt({ kind: 'error', message: 'HTTP 503' }, T0, STEP)).toEqual({ kind: 'error', message: 'HTTP 503' });
    expect(resultAt({ kind: 'series', series: [{ labels: {}, samples: [[T0, 'zero']] }] }, T0, STEP)).toEqual({ kind: 'error', message: 'unparseable sample value "zero"' });
  });
});

describe('simulateRun: the controller’s verdict rules on a simulated clock', () => {
  it('measures at initialDelay, then every interval, and fails at the first bad value', () => {
    const answers = [0.99, 0.98, 0.5, 0.99];
    const verdict = simulateRun(windowOf([successRate({ initialDelay: '10s' })]), (_metric, at) => value(answers[(at - T0 - 10_000) / 5000] ?? 1));
    expect(verdict.phase).toBe('Failed');
    expect(verdict.decidedAt).toBe(new Date(T0 + 20_000).toISOString());
    expect(verdict.metrics[0]?.series).toEqual([
      { time: new Date(T0 + 10_000).toISOString(), value: '0.99', phase: 'Successful' },
      { time: new Date(T0 + 15_000).toISOString(), value: '0.98', phase: 'Successful' },
      { time: new Date(T0 + 20_000).toISOString(), value: '0.5', phase: 'Failed' },
    ]);
    expect(verdict.deciding).toEqual([{ metric: 'success-rate', phase: 'Failed', value: '0.5', time: new Date(T0 + 20_000).toISOString() }]);
    expect(verdict.message).toMatch(/metric success-rate failed .*last value 0.5/);
    expect(verdict.margin).toMatchObject({ metric: 'success-rate', value: 0.5, margin: -0.45 });
  });

  it('honours failureLimit and passes with the closest margin of the values it saw', () => {
    const answers = [0.96, 0.9, 0.99, 0.97];
    const verdict = simulateRun(windowOf([successRate({ failureLimit: 1 })]), (_m, at) => value(answers[(at - T0) / 5000] ?? 1));
    expect(verdict.phase).toBe('Successful');
    expect(verdict.metrics[0]?.series.map((point) => point.phase)).toEqual(['Successful', 'Failed', 'Successful', 'Successful']);
    expect(verdict.margin).toMatchObject({ margin: -0.05, value: 0.9 });
  });

  it('follows noDataPolicy for missing samples, exactly as live', () => {
    const none = () => ({ kind: 'noData' as const, message: 'the query returned no series' });
    expect(simulateRun(windowOf([successRate()]), none).phase).toBe('Inconclusive');
    expect(simulateRun(windowOf([successRate({ noDataPolicy: 'Fail' })]), none).phase).toBe('Failed');
    expect(simulateRun(windowOf([successRate({ noDataPolicy: 'Pass' })]), none).phase).toBe('Successful');
  });

  it('retries errors 5 s apart and errors the run past consecutiveErrorLimit', () => {
    const verdict = simulateRun(windowOf([successRate({ consecutiveErrorLimit: 2 })]), () => ({ kind: 'error', message: 'HTTP 500' }));
    expect(verdict.phase).toBe('Error');
    expect(verdict.metrics[0]?.series).toHaveLength(3);
  });

  it('terminates a run without an end at the window’s end, as its Rollout would', () => {
    const verdict = simulateRun(windowOf([successRate({ count: undefined })], T0, T0 + 60_000), () => value(0.99));
    expect(verdict.phase).toBe('Successful');
    expect(verdict.decidedAt).toBe(new Date(T0 + 60_000).toISOString());
    expect(verdict.message).toMatch(/^terminated by its Rollout/);
    expect(verdict.metrics[0]?.series).toHaveLength(13);
  });

  it('refuses a timing that never moves the clock', () => {
    expect(() => simulateRun(windowOf([successRate({ interval: '0s', count: undefined })]), () => value(1))).toThrow(BacktestError);
  });
});

describe('margins, windows and specs', () => {
  it('reads the threshold of `result OP number` conditions, positive on the passing side', () => {
    expect(conditionMargin('result >= 0.95', 'pass', 0.97)).toBeCloseTo(0.02);
    expect(conditionMargin('result[0] <= 0.5', 'pass', 0.8)).toBeCloseTo(-0.3);
    expect(conditionMargin('result > 0.1', 'fail', 0.04)).toBeCloseTo(0.06);
    expect(conditionMargin('result < 1e-3', 'fail', 0.01)).toBeCloseTo(0.009);
    expect(conditionMargin('result.all(x, x < 0.5)', 'pass', 0.2)).toBeUndefined();
  });

  it('lays back-to-back windows of initialDelay + count × interval; one window for an analysis without an end', () => {
    const spec: AnalysisRunSpec = { metrics: [successRate({ initialDelay: '10s' })] };
    expect(analysisLengthMs(spec, 1000)).toBe(30_000);
    // The step only spaces measurements that have no interval of their own.
    expect(analysisLengthMs(spec, 60_000)).toBe(30_000);
    expect(slidingWindows(spec, T0, T0 + 95_000, 1000).map((w) => [w.startMs - T0, w.endMs - T0])).toEqual([
      [0, 30_000],
      [30_000, 60_000],
      [60_000, 90_000],
    ]);
    expect(slidingWindows({ metrics: [successRate({ count: undefined })] }, T0, T0 + 95_000, 1000)).toHaveLength(1);
    // One measurement without an interval: one window per step.
    expect(analysisLengthMs({ metrics: [successRate({ count: undefined, interval: undefined })] }, 60_000)).toBe(60_000);
  });

  it('builds the run spec as the controller does: templated counts resolved, missing arguments refused', () => {
    const template: AnalysisTemplateSpec = {
      args: [{ name: 'hash' }, { name: 'count', value: '3' }],
      metrics: [successRate({ count: '{{args.count}}', provider: { prometheus: { query: 'ok{hash="{{args.hash}}"}' } } })],
    };
    const lookup = lookupIn([{ name: 'rate', clusterScope: false, spec: template }]);
    const spec = backtestSpec([{ templateName: 'rate' }], lookup, new Map([['hash', 'abc']]));
    expect(spec.metrics[0]?.count).toBe(3);
    expect(spec.args).toEqual([{ name: 'hash', value: 'abc' }, { name: 'count', value: '3' }]);
    expect(() => backtestSpec([{ templateName: 'rate' }], lookup, new Map())).toThrow(/argument hash has no value/);
    expect(() => backtestSpec([{ templateName: 'other' }], lookup, new Map())).toThrow(/AnalysisTemplate other not found/);
  });
});

describe('runBacktest', () => {
  const deps = (answers: Map<string, RangeAnswer>, asked: string[]): BacktestDeps => ({
    fetchRange: async (request) => {
      asked.push(request.query);
      return answers.get(request.query) ?? { kind: 'error', message: 'unknown query' };
    },
    readSecret: async () => {
      throw new Error('no Secrets here');
    },
    prometheusAddress: 'http://prometheus.test',
    maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
    namespace: 'shop',
  });
  const samples = (values: number[]): RangeAnswer => ({ kind: 'series', series: [{ labels: {}, samples: values.map((v, i) => [T0 + i * STEP, String(v)]) }] });

  it('asks each distinct query once over all its windows, renders arguments, and sums up', async () => {
    const metric = successRate({ provider: { prometheus: { query: 'ok{hash="{{args.hash}}"}' } } });
    const spec = (hash: string): AnalysisRunSpec => ({ metrics: [metric], args: [{ name: 'hash', value: hash }] });
    const windows: BacktestWindow[] = [
      { label: 'good-1', startMs: T0, endMs: T0 + 20_000, spec: spec('good') },
      { label: 'good-2', startMs: T0 + 20_000, endMs: T0 + 40_000, spec: spec('good') },
      { label: 'bad', startMs: T0, endMs: T0 + 20_000, spec: spec('bad') },
    ];
    const answers = new Map([
      ['ok{hash="good"}', samples([0.99, 0.99, 0.97, 0.99, 0.99, 0.98, 0.96, 0.99])],
      ['ok{hash="bad"}', samples([0.99, 0.8, 0.7, 0.6])],
    ]);
    const asked: string[] = [];
    const report = await runBacktest(windows, deps(answers, asked));
    expect(asked.sort()).toEqual(['ok{hash="bad"}', 'ok{hash="good"}']);
    expect(report.queryErrors).toEqual([]);
    expect(report.windows.map((w) => [w.label, w.phase])).toEqual([
      ['good-1', 'Successful'],
      ['good-2', 'Successful'],
      ['bad', 'Failed'],
    ]);
    expect(report.summary).toMatchObject({ windows: 3, successful: 2, failed: 1, inconclusive: 0, error: 0, closestPass: { window: 'good-2', value: 0.96 } });
    expect(report.summary.closestPass?.margin).toBeCloseTo(0.01);

    // Past runs start at any instant: each gets its own query, its samples aligned with its start.
    const starts: number[] = [];
    const perWindow = await runBacktest(windows, {
      ...deps(answers, asked),
      queryPerWindow: true,
      fetchRange: async (request, startMs) => {
        starts.push(startMs);
        return answers.get(request.query) ?? { kind: 'error', message: 'unknown query' };
      },
    });
    expect(starts).toEqual([T0, T0 + 20_000, T0]);
    expect(perWindow.windows.map((w) => w.phase)).toEqual(['Successful', 'Successful', 'Failed']);
  });

  it('makes an argument that cannot go into PromQL, or an unreadable Secret, Error measurements, as live', async () => {
    const metric = successRate({ consecutiveErrorLimit: 0, provider: { prometheus: { query: 'ok{x="1"} > {{args.n}}' } } });
    const bad = await runBacktest([{ label: 'a', startMs: T0, endMs: T0 + 20_000, spec: { metrics: [metric], args: [{ name: 'n', value: '1 or vector(1)' }] } }], deps(new Map(), []));
    expect(bad.windows[0]).toMatchObject({ phase: 'Error', message: expect.stringMatching(/not a single number/) });
    expect(bad.queryErrors, 'nothing was asked of Prometheus').toEqual([]);
    const secret = await runBacktest(
      [{ label: 'a', startMs: T0, endMs: T0 + 20_000, spec: { metrics: [metric], args: [{ name: 'n', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] } }],
      deps(new Map(), []),
    );
    expect(secret.windows[0]).toMatchObject({ phase: 'Error', message: expect.stringMatching(/no Secrets here/) });
  });

  it('says which queries Prometheus did not answer; their measurements are Errors', async () => {
    const report = await runBacktest([windowOf([successRate({ consecutiveErrorLimit: 1 })])], deps(new Map(), []));
    expect(report.queryErrors).toEqual([{ query: 'rate_ok', message: 'unknown query' }]);
    expect(report.windows[0]?.phase).toBe('Error');
  });

  it('refuses metrics that have no history to replay', async () => {
    const web = successRate({ provider: { web: { url: 'http://x', jsonPath: '$.v' } } });
    await expect(runBacktest([windowOf([web])], deps(new Map(), []))).rejects.toThrow(/only Prometheus and judge metrics/);
  });
});

/**
 * A Prometheus on loopback whose answers follow a script of the clock: instant queries answer for the fake
 * clock's now (as the controller would see them live), range queries for every step (what the backtest reads).
 */
describe('a backtest reaches the verdict the live controller reaches on the same answers', () => {
  type Sample = string | undefined;
  /** Per step from T0: the samples of series 0 and 1 (undefined: the series is absent then). */
  let script: Array<[Sample, Sample]> = [];
  let clock = T0;
  const samplesAt = (ms: number): Array<[number, string]> =>
    (script[Math.floor((ms - T0) / STEP)] ?? [undefined, undefined]).flatMap((sample, series) => (sample === undefined ? [] : [[series, sample] as [number, string]]));

  const prometheus = serveDuringSuite((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/query') {
      const result = samplesAt(clock).map(([series, sample]) => ({ metric: { series: String(series) }, value: [clock / 1000, sample] }));
      return void res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
    }
    const start = Number(url.searchParams.get('start')) * 1000;
    const end = Number(url.searchParams.get('end')) * 1000;
    const step = Number(url.searchParams.get('step')) * 1000;
    const bySeries = new Map<number, Array<[number, string]>>();
    for (let t = start; t <= end; t += step) for (const [series, sample] of samplesAt(t)) bySeries.set(series, [...(bySeries.get(series) ?? []), [t / 1000, sample]]);
    const result = [...bySeries].map(([series, values]) => ({ metric: { series: String(series) }, values }));
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } }));
  });

  async function live(spec: AnalysisRunSpec): Promise<AnalysisRun> {
    clock = T0;
    const kube = new FakeKube();
    kube.put('analysisruns', { apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'run', namespace: 'shop' }, spec });
    const { requeue, woken } = wakeups();
    const reconciler = fakeAnalysisReconciler(kube, { now: () => clock, prometheusAddress: prometheus.address(), maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, requeue });
    kube.sync();
    for (let look = 0; look < 200; look++) {
      const result = await reconcileAnswered(kube, reconciler, 'shop/run', woken);
      kube.sync();
      const run = kube.get<AnalysisRun>('analysisruns', 'shop', 'run') as AnalysisRun;
      if (['Successful', 'Failed', 'Error', 'Inconclusive'].includes(run.status?.phase ?? '')) return run;
      clock += result && 'requeueAfterMs' in result ? (result.requeueAfterMs ?? 0) : 0;
    }
    throw new Error('the live run never finished');
  }

  const sample = fc.oneof(
    fc.constantFrom<Sample>(undefined, 'NaN', '+Inf', 'garbage', '0.95'),
    fc.double({ min: 0.5, max: 1, noNaN: true }).map((n) => String(Number(n.toFixed(3)))),
  );
  const metricArb = fc.record({
    count: fc.integer({ min: 1, max: 5 }),
    initialDelay: fc.constantFrom(undefined, '5s', '10s'),
    failureLimit: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    inconclusiveLimit: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    consecutiveErrorLimit: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    noDataPolicy: fc.constantFrom<NoDataPolicy | undefined>(undefined, 'Fail', 'Pass'),
    conditions: fc.constantFrom<Partial<Metric>>(
      { successCondition: 'result >= 0.95' },
      { failureCondition: 'result < 0.9' },
      { successCondition: 'result >= 0.95', failureCondition: 'result < 0.9' },
      { successCondition: 'result.all(x, x >= 0.95)' },
    ),
  });

  it('for generated templates and histories (measurement by measurement)', async () => {
    const verdicts = new Set<string>();
    await fc.assert(
      fc.asyncProperty(metricArb, fc.array(fc.tuple(sample, sample), { minLength: 1, maxLength: 16 }), async (generated, history) => {
        script = history;
        const { conditions, ...timing } = generated;
        const metric = { name: 'm', interval: '5s', provider: { prometheus: { query: 'scripted' } }, ...conditions } as Metric;
        for (const [key, field] of Object.entries(timing)) if (field !== undefined) (metric as Record<string, unknown>)[key] = field;
        const spec: AnalysisRunSpec = { metrics: [metric], measurementRetention: 100 };
        const liveRun = await live(spec);
        const report = await runBacktest([{ label: 'replay', startMs: T0, endMs: T0 + 600_000, spec }], {
          fetchRange: queryPrometheusRange,
          readSecret: async () => '',
          prometheusAddress: prometheus.address(),
          maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
          namespace: 'shop',
        });
        const replay = report.windows[0];
        const liveSeries = liveRun.status?.metricResults?.[0]?.measurements.map((m) => ({ time: m.startedAt, phase: m.phase, ...(m.value !== undefined && { value: m.value }) }));
        expect(replay?.metrics[0]?.series).toEqual(liveSeries);
        expect(replay?.phase).toBe(liveRun.status?.phase);
        expect(replay?.decidedAt).toBe(liveRun.status?.completedAt);
        expect(replay?.message).toBe(liveRun.status?.message);
        verdicts.add(replay?.phase ?? '');
      }),
      propertyParameters(40),
    );
    // The histories reach every verdict, so the replay was compared on each.
    expect([...verdicts].sort()).toEqual(['Error', 'Failed', 'Inconclusive', 'Successful']);
  }, 120_000);

  it('never passes a run fed only errors, NaN, ±Inf or missing samples', () => {
    const junk = fc.constantFrom<string | undefined>(undefined, 'NaN', '+Inf', '-Inf', 'garbage');
    fc.assert(
      fc.property(metricArb.filter((m) => m.noDataPolicy !== 'Pass'), fc.array(junk, { minLength: 1, maxLength: 20 }), fc.boolean(), (generated, history, failWhole) => {
        const { conditions, ...timing } = generated;
        const metric = { name: 'm', interval: '5s', provider: { prometheus: { query: 'q' } }, ...conditions } as Metric;
        for (const [key, field] of Object.entries(timing)) if (field !== undefined) (metric as Record<string, unknown>)[key] = field;
        const answer: RangeAnswer = failWhole
          ? { kind: 'error', message: 'HTTP 503' }
          : { kind: 'series', series: [{ labels: {}, samples: history.flatMap((s, i) => (s === undefined ? [] : [[T0 + i * STEP, s] as [number, string]])) }] };
        const verdict = simulateRun(windowOf([metric]), (_m, at) => resultAt(answer, at, STEP));
        expect(verdict.phase).not.toBe('Successful');
      }),
      propertyParameters(500),
    );
  });
});

describe('queryPrometheusRange', () => {
  const asked: Array<{ start: number; end: number; step: number }> = [];
  const prometheus = serveDuringSuite((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [start, end, step] = ['start', 'end', 'step'].map((name) => Number(url.searchParams.get(name)));
    asked.push({ start: start as number, end: end as number, step: step as number });
    if (url.searchParams.get('query') === 'huge') return void res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] }, pad: 'x'.repeat(4096) }));
    // Series b only in the first request, a only in the later ones: the answer must still list a before b.
    const result = [
      ...(start === T0 / 1000 ? [] : [{ metric: { pod: 'a' }, values: [[start, '1']] }]),
      ...(start === T0 / 1000 ? [{ metric: { pod: 'b' }, values: [[start, '0.5'], [end, '0.6']] }] : []),
    ];
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } }));
  });

  it('asks in requests of at most MAX_RANGE_POINTS points, back to back, and joins series by labels in label order', async () => {
    const points = 2 * MAX_RANGE_POINTS + 500;
    const answer = await queryPrometheusRange({ address: prometheus.address(), query: 'up', timeoutMs: 1000, headers: {}, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES }, T0, T0 + (points - 1) * 1000, 1000);
    expect(asked.map(({ start, end }) => [(start * 1000 - T0) / 1000, (end * 1000 - T0) / 1000])).toEqual([
      [0, MAX_RANGE_POINTS - 1],
      [MAX_RANGE_POINTS, 2 * MAX_RANGE_POINTS - 1],
      [2 * MAX_RANGE_POINTS, points - 1],
    ]);
    expect(answer).toEqual({
      kind: 'series',
      series: [
        { labels: { pod: 'a' }, samples: [[T0 + MAX_RANGE_POINTS * 1000, '1'], [T0 + 2 * MAX_RANGE_POINTS * 1000, '1']] },
        { labels: { pod: 'b' }, samples: [[T0, '0.5'], [T0 + (MAX_RANGE_POINTS - 1) * 1000, '0.6']] },
      ],
    });
  });

  it('reads only a matrix; anything else is an error, never samples', () => {
    expect(interpretRangeResponse({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[1700000000.5, '1']] }] } })).toEqual({
      kind: 'series',
      series: [{ labels: {}, samples: [[1700000000500, '1']] }],
    });
    expect(interpretRangeResponse({ status: 'success', data: { resultType: 'vector', result: [] } })).toMatchObject({ kind: 'error', message: expect.stringMatching(/^unexpected Prometheus range response/) });
    expect(interpretRangeResponse({ status: 'error', errorType: 'bad_data', error: 'exceeded maximum resolution of 11,000 points' })).toEqual({
      kind: 'error',
      message: 'Prometheus error (bad_data): exceeded maximum resolution of 11,000 points',
    });
    expect(interpretRangeResponse('<html>')).toMatchObject({ kind: 'error' });
  });

  it('refuses an answer over the response-size limit, as the instant query does', async () => {
    const answer = await queryPrometheusRange({ address: prometheus.address(), query: 'huge', timeoutMs: 1000, headers: {}, maxResponseBytes: 1024 }, T0, T0 + 60_000, 1000);
    expect(answer).toEqual({ kind: 'error', message: 'the answer is larger than 1024 bytes (--max-provider-response-bytes); refused' });
  });
});
