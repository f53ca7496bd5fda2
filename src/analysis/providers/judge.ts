import type { JudgeSpec } from '../../api/analysis.js';
import { JUDGE_ROLES, judgeQueries, judgeRanges, judgeRoleArgs, judgeSampling, type JudgeRole } from '../judge-verdict.js';
import type { MeasurementVerdict } from '../measure.js';
import { prometheusRequest, queryPrometheusRange, type PrometheusProviderDeps, type RangeSeries } from './prometheus.js';
import { backendOf, requestResponse, type MeasureContext, type MeasurementProvider } from './provider.js';

export interface JudgeProviderDeps extends PrometheusProviderDeps {
  now: () => number;
}

type Ranged = { kind: 'series'; series: RangeSeries[] } | { kind: 'error'; message: string; deadlineExceeded?: true };

/**
 * The judge's measurement: the queries rendered once per role and asked as range queries over the run so far, all at
 * once, each within the metric's timeout (so the whole measurement is too); then the pure verdict.
 */
async function measure(deps: JudgeProviderDeps, spec: JudgeSpec, context: MeasureContext): Promise<MeasurementVerdict> {
  const { metric, args, run } = context;
  const now = deps.now();
  const sampling = judgeSampling(spec, metric.interval, run.startedAt ?? now);
  if (sampling === undefined) return { phase: 'Error', message: 'a sequential judge needs the metric to have an interval: its looks' };
  // Not a verdict on the canary: an Error is taken again shortly and counts towards nothing.
  if (sampling.firstSampleMs > now) return { phase: 'Error', message: 'no look has ended yet' };

  const ask = async (query: string, role: JudgeRole): Promise<Ranged> => {
    const request = await prometheusRequest(deps, { ...spec, query }, judgeRoleArgs(args, role, sampling.stepMs), run.namespace);
    if ('kind' in request) return request;
    return queryPrometheusRange(request, sampling.firstSampleMs, now, sampling.stepMs);
  };
  const answers = await Promise.all(judgeQueries(spec).flatMap((query) => JUDGE_ROLES.map((role) => ask(query, role))));
  const failed = answers.find((answer) => answer.kind === 'error');
  if (failed !== undefined && failed.kind === 'error') return { phase: 'Error', message: failed.message, ...(failed.deadlineExceeded === true && { deadlineExceeded: true as const }) };
  return judgeRanges(spec, answers.map((answer) => (answer.kind === 'series' ? answer.series : [])), metric.noDataPolicy);
}

/** A metric judged by comparing the canary with its baseline (see JudgeProvider in src/api/analysis.ts). */
export function judgeProvider(deps: JudgeProviderDeps, spec: JudgeSpec): MeasurementProvider {
  return requestResponse(
    (context) => measure(deps, spec, context),
    ({ args }) => backendOf(spec.address ?? deps.defaultAddress, args),
  );
}
