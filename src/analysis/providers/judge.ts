import { isSequential, type JudgeSpec } from '../../api/analysis.js';
import { parseDuration } from '../../api/duration.js';
import { fixedVerdict, JUDGE_ROLES, lookIncrements, sequentialVerdict, type JudgeRole, type RoleSeries } from '../judge-verdict.js';
import type { MeasurementVerdict } from '../measure.js';
import { prometheusRequest, queryPrometheusRange, type PrometheusProviderDeps, type RangeSeries } from './prometheus.js';
import { backendOf, requestResponse, type MeasureContext, type MeasurementProvider } from './provider.js';
import { parseSampleValue } from './result.js';

export interface JudgeProviderDeps extends PrometheusProviderDeps {
  now: () => number;
}

const DEFAULT_STEP_MS = 30_000;

/** Every finite sample of every series: the fixed-horizon judge compares the two roles' distributions. */
const samplesOf = (series: readonly RangeSeries[]): number[] =>
  series.flatMap((one) => one.samples.map(([, text]) => parseSampleValue(text) ?? Number.NaN)).filter((value) => Number.isFinite(value));

/** The series of an answer added up per sample time: one count per look. */
function totalsOf(series: readonly RangeSeries[]): RoleSeries {
  const totals = new Map<number, number>();
  for (const one of series) {
    for (const [time, text] of one.samples) {
      const value = parseSampleValue(text);
      if (value !== undefined && Number.isFinite(value)) totals.set(time, (totals.get(time) ?? 0) + value);
    }
  }
  return totals;
}

type Ranged = { kind: 'series'; series: RangeSeries[] } | { kind: 'error'; message: string; deadlineExceeded?: true };

/**
 * The judge's measurement: the queries rendered once per role and asked as range queries over the run so far, all at
 * once, each within the metric's timeout (so the whole measurement is too); then the pure verdict.
 */
async function measure(deps: JudgeProviderDeps, spec: JudgeSpec, context: MeasureContext): Promise<MeasurementVerdict> {
  const { metric, args, run } = context;
  const now = deps.now();
  const startedAt = run.startedAt ?? now;
  const sequential = isSequential(spec);
  // Sequential looks are the metric's intervals since the run started, sampled at the end of each, so every look
  // sees the same counts for the same interval however late or often it is taken.
  const stepMs = sequential ? parseDuration(metric.interval ?? 0) : spec.step !== undefined ? parseDuration(spec.step) : DEFAULT_STEP_MS;
  const firstSample = sequential ? startedAt + stepMs : startedAt;
  if (stepMs <= 0) return { phase: 'Error', message: 'a sequential judge needs the metric to have an interval: its looks' };
  // Not a verdict on the canary: an Error is taken again shortly and counts towards nothing.
  if (firstSample > now) return { phase: 'Error', message: 'no look has ended yet' };

  const ask = async (query: string, role: JudgeRole): Promise<Ranged> => {
    const roleArgs = { ...args, role, window: `${Math.round(stepMs / 1000)}s` };
    const request = await prometheusRequest(deps, { ...spec, query }, roleArgs, run.namespace);
    if ('kind' in request) return request;
    return queryPrometheusRange(request, firstSample, now, stepMs);
  };
  const queries = sequential ? [spec.errors as string, spec.requests as string] : [spec.query as string];
  const answers = await Promise.all(queries.flatMap((query) => JUDGE_ROLES.map((role) => ask(query, role))));
  const failed = answers.find((answer) => answer.kind === 'error');
  if (failed !== undefined && failed.kind === 'error') return { phase: 'Error', message: failed.message, ...(failed.deadlineExceeded === true && { deadlineExceeded: true as const }) };
  const series = answers.map((answer) => (answer.kind === 'series' ? answer.series : []));
  if (!sequential) return fixedVerdict(spec, samplesOf(series[0] ?? []), samplesOf(series[1] ?? []), metric.noDataPolicy);
  const byRole = (first: number) => ({ baseline: totalsOf(series[first] ?? []), canary: totalsOf(series[first + 1] ?? []) });
  return sequentialVerdict(spec, lookIncrements(byRole(0), byRole(2)), metric.noDataPolicy);
}

/** A metric judged by comparing the canary with its baseline (see JudgeProvider in src/api/analysis.ts). */
export function judgeProvider(deps: JudgeProviderDeps, spec: JudgeSpec): MeasurementProvider {
  return requestResponse(
    (context) => measure(deps, spec, context),
    ({ args }) => backendOf(spec.address ?? deps.defaultAddress, args),
  );
}
