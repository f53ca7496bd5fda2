import type { AnalysisPhase, AnalysisRun, AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplateSpec, MeasurementPhase } from '../api/analysis.js';
import { parseDuration } from '../api/duration.js';
import { API_VERSION, type RolloutAnalysis } from '../api/rollout.js';
import type { JudgeSpec } from '../api/analysis.js';
import { judgeQueries, judgeRanges, judgeRoleArgs, judgeSampling, JUDGE_ROLES, type JudgeSampling } from './judge-verdict.js';
import { judge, type MeasurementVerdict } from './measure.js';
import type { ResolvedMetric } from './metric-args.js';
import { evaluateRun, recordMeasurement, RUN_DEFAULTS } from './plan.js';
import { argumentValues, type SecretReader } from './providers/provider.js';
import { prometheusRequest, samplesToResult, type PrometheusRequest, type RangeAnswer, type RangeSeries } from './providers/prometheus.js';
import type { ProviderResult } from './providers/result.js';
import { isTerminal } from './run-machine.js';
import { buildRunSpec, type TemplateLookup } from './templates.js';

/**
 * A backtest replays an analysis against history: a synthetic AnalysisRun per window, advanced on a simulated
 * clock by the controller's own evaluateRun and recordMeasurement, each measurement judged by the same judge()
 * from what Prometheus's query_range answered for that instant. Nothing here re-states a verdict rule.
 */

export class BacktestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BacktestError';
  }
}

/** One simulated run: when it starts, when it is cut short at the latest, and what it measures with. */
export interface BacktestWindow {
  label: string;
  startMs: number;
  /** The run is terminated here if it has not reached a verdict by itself (as a Rollout would). */
  endMs: number;
  spec: AnalysisRunSpec;
}

export interface SeriesPoint {
  time: string;
  value?: string;
  phase: MeasurementPhase;
}

export interface WindowMetric {
  name: string;
  phase: AnalysisPhase;
  dryRun?: boolean;
  /** Every measurement the simulated run took, oldest first. */
  series: SeriesPoint[];
}

export interface WindowMargin {
  metric: string;
  /** Distance of the closest measured value from the condition's threshold: positive on the passing side. */
  margin: number;
  time: string;
  value: number;
}

export interface WindowVerdict {
  label: string;
  start: string;
  end: string;
  phase: AnalysisPhase;
  /** When the run reached its verdict. */
  decidedAt?: string;
  message?: string;
  /** The last measurement of each deciding metric at the verdict. */
  deciding: Array<{ metric: string; phase: MeasurementPhase; value?: string; time: string }>;
  margin?: WindowMargin;
  metrics: WindowMetric[];
}

export interface BacktestSummary {
  windows: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  /** The passing window that came closest to failing, and how close. */
  closestPass?: WindowMargin & { window: string };
}

export interface BacktestReport {
  windows: WindowVerdict[];
  summary: BacktestSummary;
  /** Range queries Prometheus did not answer: their measurements are Errors, as live, but the cause is worth saying once. */
  queryErrors: Array<{ query: string; message: string }>;
}

/** A judge's verdict, reached from its own range answers (it has no condition to apply). */
export interface JudgedAnswer {
  kind: 'judged';
  verdict: MeasurementVerdict;
}

/** Where a simulated run takes its answers: the provider's result for `metric` at `atMs`, or a judge's verdict. */
export type AnswerSource = (metric: ResolvedMetric, atMs: number) => ProviderResult | JudgedAnswer;

const toTime = (ms: number): string => new Date(ms).toISOString();

/**
 * Runs one window: evaluateRun at the simulated `now` says which metrics are due and when to look again;
 * each due metric is judged from `answer` and recorded; a run still undecided at endMs is terminated, as
 * its Rollout would. The same loop the reconciler runs, with the clock and the provider replaced.
 */
export function simulateRun(window: BacktestWindow, answer: AnswerSource): WindowVerdict {
  let run: AnalysisRun = { apiVersion: API_VERSION, kind: 'AnalysisRun', metadata: { name: window.label }, spec: window.spec };
  const retention = window.spec.measurementRetention ?? RUN_DEFAULTS.measurementRetention;
  const series = new Map<string, SeriesPoint[]>(window.spec.metrics.map((metric) => [metric.name, []]));
  let status: AnalysisRunStatus | undefined;
  let now = window.startMs;
  for (let lastMeasuredAt: number | undefined; ; ) {
    const evaluation = evaluateRun(run, status, now);
    status = evaluation.status;
    if (isTerminal(status.phase ?? 'Pending')) break;
    if (evaluation.due.length > 0 && lastMeasuredAt === now) throw new BacktestError(`window ${window.label}: measures again at the same instant; is an interval 0?`);
    for (const metric of evaluation.due) {
      const answered = answer(metric, now);
      const verdict = answered.kind === 'judged' ? answered.verdict : judge(answered, evaluation.conditions.get(metric.name) ?? {}, metric.noDataPolicy);
      status = recordMeasurement(status, metric, verdict, now, now, retention);
      series.get(metric.name)?.push({ time: toTime(now), ...(verdict.value !== undefined && { value: verdict.value }), phase: verdict.phase });
    }
    // Measured now: the next evaluation (at the same instant) is the reconciler's settled one.
    if (evaluation.due.length > 0) {
      lastMeasuredAt = now;
      continue;
    }
    const next = now + (evaluation.requeueAfterMs ?? Number.POSITIVE_INFINITY);
    if (next > window.endMs) {
      now = Math.max(now, window.endMs);
      run = { ...run, spec: { ...run.spec, terminate: true } };
      status = evaluateRun(run, status, now).status;
      break;
    }
    now = next;
  }
  return verdictOf(window, status, series);
}

function verdictOf(window: BacktestWindow, status: AnalysisRunStatus, series: Map<string, SeriesPoint[]>): WindowVerdict {
  const results = status.metricResults ?? [];
  const metrics: WindowMetric[] = window.spec.metrics.map((metric) => {
    const result = results.find((candidate) => candidate.name === metric.name);
    return { name: metric.name, phase: result?.phase ?? 'Pending', ...(metric.dryRun === true && { dryRun: true }), series: series.get(metric.name) ?? [] };
  });
  const deciding = metrics.flatMap((metric) => {
    const last = metric.dryRun === true ? undefined : metric.series.at(-1);
    return last === undefined ? [] : [{ metric: metric.name, phase: last.phase, time: last.time, ...(last.value !== undefined && { value: last.value }) }];
  });
  const margin = closestMargin(window.spec.metrics, metrics);
  return {
    label: window.label,
    start: toTime(window.startMs),
    end: toTime(window.endMs),
    phase: status.phase ?? 'Pending',
    ...(status.completedAt !== undefined && { decidedAt: status.completedAt }),
    ...(status.message !== undefined && { message: status.message }),
    deciding,
    ...(margin !== undefined && { margin }),
    metrics,
  };
}

const COMPARISON = /^\s*result(?:\[0\])?\s*(>=|>|<=|<)\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;

/**
 * How far `value` is from a condition of the form `result OP number` (or Argo's `result[0] OP number`), positive
 * on the side that passes; undefined for any other condition, whose threshold cannot be read off.
 */
export function conditionMargin(expression: string | undefined, trueMeans: 'pass' | 'fail', value: number): number | undefined {
  const match = COMPARISON.exec(expression ?? '');
  if (match === null) return undefined;
  const threshold = Number(match[2]);
  const above = value - threshold;
  const trueWhenAbove = match[1] === '>=' || match[1] === '>';
  const signed = trueWhenAbove ? above : -above;
  return trueMeans === 'pass' ? signed : -signed;
}

/** The measurement of a deciding metric closest to (or furthest past) its threshold. */
function closestMargin(declared: AnalysisRunSpec['metrics'], metrics: WindowMetric[]): WindowMargin | undefined {
  let closest: WindowMargin | undefined;
  for (const metric of metrics) {
    const spec = declared.find((candidate) => candidate.name === metric.name);
    if (spec === undefined || metric.dryRun === true) continue;
    for (const point of metric.series) {
      const value = Number(point.value);
      if (point.value === undefined || !Number.isFinite(value)) continue;
      const margins = [conditionMargin(spec.successCondition, 'pass', value), conditionMargin(spec.failureCondition, 'fail', value)].filter((m) => m !== undefined);
      if (margins.length === 0) continue;
      const margin = Math.min(...margins);
      if (closest === undefined || margin < closest.margin) closest = { metric: metric.name, margin: Number(margin.toPrecision(12)), time: point.time, value };
    }
  }
  return closest;
}

/**
 * What an instant query at `atMs` would have answered, read from a range answer sampled every `stepMs`: per
 * series, its sample in (atMs - stepMs, atMs]; a series without one is absent at that instant, as it would be.
 */
export function resultAt(answer: RangeAnswer, atMs: number, stepMs: number): ProviderResult {
  if (answer.kind === 'error') return answer;
  const samples: string[] = [];
  for (const { samples: points } of answer.series) {
    let low = 0;
    let high = points.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if ((points[middle] as [number, string])[0] <= atMs) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    const point = points[found];
    if (point !== undefined && point[0] > atMs - stepMs) samples.push(point[1]);
  }
  return samplesToResult(samples);
}

/**
 * How long one run of the analysis lasts when every metric has an end: the longest initialDelay + count × interval,
 * a metric without an interval counting `stepMs` per measurement (so a single check is one window per step).
 */
export function analysisLengthMs(spec: AnalysisRunSpec, stepMs: number): number | undefined {
  let longest = 0;
  const ms = (value: unknown): number => (typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : 0);
  for (const metric of spec.metrics) {
    if (metric.count === undefined && metric.interval !== undefined) return undefined;
    const count = typeof metric.count === 'number' ? metric.count : 1;
    longest = Math.max(longest, ms(metric.initialDelay) + count * (metric.interval === undefined ? stepMs : ms(metric.interval)));
  }
  return longest;
}

/** Back-to-back windows of the analysis's length from `fromMs` to `toMs`; one window for an analysis without an end. */
export function slidingWindows(spec: AnalysisRunSpec, fromMs: number, toMs: number, stepMs: number): BacktestWindow[] {
  const length = analysisLengthMs(spec, stepMs);
  if (length === undefined) return [{ label: '1', startMs: fromMs, endMs: toMs, spec }];
  const windows: BacktestWindow[] = [];
  for (let start = fromMs; start + length <= toMs; start += length) windows.push({ label: String(windows.length + 1), startMs: start, endMs: start + length, spec });
  return windows;
}

/**
 * The run spec for a backtest: the templates' metrics with their arguments filled from `args`, exactly as the
 * controller builds an AnalysisRun for a Rollout (missing arguments and bad templated counts included).
 */
export function backtestSpec(templates: RolloutAnalysis['templates'], lookup: TemplateLookup, args: ReadonlyMap<string, string>): AnalysisRunSpec {
  const analysis: RolloutAnalysis = { templates, args: [...args].map(([name, value]) => ({ name, value })) };
  // Every argument given here is a literal, so no Rollout field is ever read from this context.
  const context = { rollout: {}, stableHash: undefined, canaryHash: '' };
  const spec = buildRunSpec(analysis, lookup, context);
  if (spec.invalidReason !== undefined) throw new BacktestError(`the analysis cannot run: ${spec.invalidReason}`);
  return spec;
}

/** A template lookup over templates read from files. */
export function lookupIn(templates: ReadonlyArray<{ name: string; clusterScope: boolean; spec: AnalysisTemplateSpec }>): TemplateLookup {
  return (name, clusterScope) => templates.find((template) => template.name === name && template.clusterScope === clusterScope)?.spec;
}

export interface BacktestDeps {
  fetchRange(request: PrometheusRequest, startMs: number, endMs: number, stepMs: number): Promise<RangeAnswer>;
  readSecret: SecretReader;
  /** Used for every metric when set: where the history is, seen from here. */
  prometheusAddress: string | undefined;
  maxResponseBytes: number;
  /** The namespace Secret-backed arguments and credentials are read from. */
  namespace: string;
  /** Resolution of the replay; default each metric's interval (one minute for a metric without one). */
  stepMs?: number;
  /**
   * One query per window, its samples aligned with the window's start (past runs start at any instant), instead of
   * one per distinct query over all the windows (back-to-back windows of a range, which share the grid).
   */
  queryPerWindow?: boolean;
}

export const DEFAULT_STEP_MS = 60_000;

function stepOf(metric: ResolvedMetric, override: number | undefined): number {
  if (override !== undefined) return override;
  return metric.interval === undefined ? DEFAULT_STEP_MS : Math.max(1000, parseDuration(metric.interval));
}

interface PlannedQuery {
  kind: 'query';
  request: PrometheusRequest;
  stepMs: number;
  startMs: number;
  endMs: number;
  answer?: RangeAnswer;
}

type PrometheusSpec = Parameters<typeof prometheusRequest>[1];

/**
 * The range query a metric's measurements read from: each distinct query (the same rendered request, step and key) is
 * asked once, over every window that uses it. A query that cannot be built is the Error its measurements get, as live.
 */
async function planQuery(
  queries: Map<string, PlannedQuery>,
  deps: BacktestDeps,
  spec: PrometheusSpec,
  args: Record<string, string>,
  range: { key: string; startMs: number; endMs: number; stepMs: number },
): Promise<PlannedQuery | ProviderResult> {
  let request: Awaited<ReturnType<typeof prometheusRequest>>;
  try {
    const providerDeps = { defaultAddress: undefined, maxResponseBytes: deps.maxResponseBytes, readSecret: deps.readSecret };
    request = await prometheusRequest(providerDeps, deps.prometheusAddress === undefined ? spec : { ...spec, address: deps.prometheusAddress }, args, deps.namespace);
  } catch (err) {
    // As live: an argument unsafe for PromQL, or a credential that cannot be read, is an Error measurement.
    if (!(err instanceof Error)) throw err;
    request = { kind: 'error', message: err.message };
  }
  if ('kind' in request) return request;
  const key = JSON.stringify([request, range.stepMs, range.key]);
  const known = queries.get(key);
  if (known === undefined) {
    const planned: PlannedQuery = { kind: 'query', request, stepMs: range.stepMs, startMs: range.startMs, endMs: range.endMs };
    queries.set(key, planned);
    return planned;
  }
  known.startMs = Math.min(known.startMs, range.startMs);
  known.endMs = Math.max(known.endMs, range.endMs);
  return known;
}

/** A judge metric's planned ranges, in judgeQueries × JUDGE_ROLES order, each a query or the error that stopped it. */
interface PlannedJudge {
  kind: 'judge';
  spec: JudgeSpec;
  sampling: JudgeSampling;
  ranges: Array<PlannedQuery | ProviderResult>;
}

type PlannedMetric = PlannedQuery | PlannedJudge | ProviderResult;

/** What the live judge would have said at `atMs`: its ranges cut at that instant, judged by the same pure verdict. */
function judgedAt(planned: PlannedJudge, atMs: number, noDataPolicy: ResolvedMetric['noDataPolicy']): MeasurementVerdict {
  if (planned.sampling.firstSampleMs > atMs) return { phase: 'Error', message: 'no look has ended yet' };
  const answers: RangeSeries[][] = [];
  for (const range of planned.ranges) {
    const answer: RangeAnswer | ProviderResult = range.kind === 'query' ? (range.answer ?? { kind: 'error', message: 'not queried' }) : range;
    if (answer.kind === 'error') return { phase: 'Error', message: answer.message };
    if (answer.kind !== 'series') return { phase: 'Error', message: `a judge range answered ${answer.kind}` };
    answers.push(answer.series.map((series) => ({ ...series, samples: series.samples.filter(([time]) => time <= atMs) })));
  }
  return judgeRanges(planned.spec, answers, noDataPolicy);
}

/**
 * Replays every window. Each distinct query (the same template and arguments across windows) is asked of
 * Prometheus once, over all the windows that use it; a query that cannot be built (an argument unsafe for
 * PromQL, a Secret missing) is an Error answer for its measurements, as it would be live.
 */
export async function runBacktest(windows: readonly BacktestWindow[], deps: BacktestDeps): Promise<BacktestReport> {
  const queries = new Map<string, PlannedQuery>();
  const plans = new Map<BacktestWindow, Map<string, PlannedMetric>>();
  for (const window of windows) {
    const metrics = new Map<string, PlannedMetric>();
    plans.set(window, metrics);
    let args: Record<string, string> | Error;
    try {
      args = await argumentValues(window.spec.args, deps.namespace, deps.readSecret);
    } catch (err) {
      args = err instanceof Error ? err : new Error(String(err));
    }
    const plan = (spec: PrometheusSpec, metricArgs: Record<string, string>, key: string, startMs: number, stepMs: number) =>
      planQuery(queries, deps, spec, metricArgs, { key, startMs, endMs: window.endMs, stepMs });
    for (const metric of window.spec.metrics) {
      if (!('prometheus' in metric.provider || 'judge' in metric.provider)) {
        throw new BacktestError(`metric ${metric.name}: only Prometheus and judge metrics have a history to replay; this one uses the ${Object.keys(metric.provider)[0]} provider`);
      }
      if (args instanceof Error) {
        metrics.set(metric.name, { kind: 'error', message: args.message });
        continue;
      }
      if ('judge' in metric.provider) {
        const spec = metric.provider.judge;
        const sampling = judgeSampling(spec, metric.interval, window.startMs);
        if (sampling === undefined) {
          metrics.set(metric.name, { kind: 'error', message: 'a sequential judge needs the metric to have an interval: its looks' });
          continue;
        }
        // Its samples fall where the live judge's would, from this run's start: one range per window and role. Its step
        // is its looks (or its own step), never --step.
        const ranges = judgeQueries(spec).flatMap((query) => JUDGE_ROLES.map((role) => plan({ ...spec, query }, judgeRoleArgs(args, role, sampling.stepMs), window.label, sampling.firstSampleMs, sampling.stepMs)));
        metrics.set(metric.name, { kind: 'judge', spec, sampling, ranges: await Promise.all(ranges) });
        continue;
      }
      const stepMs = stepOf(metric as ResolvedMetric, deps.stepMs);
      metrics.set(metric.name, await plan(metric.provider.prometheus, args, deps.queryPerWindow === true ? window.label : '', window.startMs, stepMs));
    }
  }
  for (const query of queries.values()) query.answer = await deps.fetchRange(query.request, query.startMs, query.endMs, query.stepMs);
  const verdicts = windows.map((window) => {
    const metrics = plans.get(window) as Map<string, PlannedMetric>;
    return simulateRun(window, (metric, atMs) => {
      const planned = metrics.get(metric.name);
      if (planned === undefined) return { kind: 'error', message: `metric ${metric.name} was not planned` };
      if (planned.kind === 'judge') return { kind: 'judged', verdict: judgedAt(planned, atMs, metric.noDataPolicy) };
      if (planned.kind !== 'query') return planned;
      return resultAt(planned.answer ?? { kind: 'error', message: 'not queried' }, atMs, planned.stepMs);
    });
  });
  const queryErrors = [...queries.values()].flatMap(({ request, answer }) => (answer?.kind === 'error' ? [{ query: request.query, message: answer.message }] : []));
  return { windows: verdicts, summary: summarize(verdicts), queryErrors };
}

export function summarize(windows: readonly WindowVerdict[]): BacktestSummary {
  const count = (phase: AnalysisPhase): number => windows.filter((window) => window.phase === phase).length;
  let closestPass: BacktestSummary['closestPass'];
  for (const window of windows) {
    if (window.phase !== 'Successful' || window.margin === undefined) continue;
    if (closestPass === undefined || window.margin.margin < closestPass.margin) closestPass = { ...window.margin, window: window.label };
  }
  return {
    windows: windows.length,
    successful: count('Successful'),
    failed: count('Failed'),
    inconclusive: count('Inconclusive'),
    error: count('Error'),
    ...(closestPass !== undefined && { closestPass }),
  };
}
