import type { AnalysisRun, AnalysisRunStatus, MetricResult } from '../api/analysis.js';
import { resolveRunMetrics, type ResolvedMetric } from './metric-args.js';
import { RUN_DEFAULTS } from './plan.js';
import { isTerminal } from './run-machine.js';

/**
 * What an AnalysisRun promises, as predicates over its status (and the one before it). Each returns
 * the violations it finds, so property tests check them after every measurement and e2e tests on
 * live objects.
 *
 * 1. Errors never count: a metric's count is its successful + failed + inconclusive measurements,
 *    and never more than the metric asks for.
 * 2. A run is Successful only if every deciding (non-dry-run) metric measured the canary
 *    successfully at least once, took its `count` measurements that were not errors (or was cut
 *    short by its Rollout), and stayed within failureLimit, inconclusiveLimit and
 *    consecutiveErrorLimit.
 * 3. A metric over a limit decides the run: past failureLimit the run cannot be Successful.
 * 4. A verdict is final: a finished run never changes phase, and completedAt is set exactly when it finishes.
 * 5. A run that has not finished always has a next look: a measurement due now or a requeue.
 */
function plannedCount(metric: ResolvedMetric): number {
  if (metric.count !== undefined) return metric.count;
  return metric.interval === undefined ? 1 : Number.POSITIVE_INFINITY;
}

function overLimit(metric: ResolvedMetric, result: MetricResult): string | undefined {
  if (result.failed > (metric.failureLimit ?? RUN_DEFAULTS.failureLimit)) return `${result.failed} failed`;
  if (result.consecutiveError > (metric.consecutiveErrorLimit ?? RUN_DEFAULTS.consecutiveErrorLimit)) return `${result.consecutiveError} consecutive errors`;
  if (result.inconclusive > (metric.inconclusiveLimit ?? RUN_DEFAULTS.inconclusiveLimit)) return `${result.inconclusive} inconclusive`;
  return undefined;
}

export function runViolations(run: AnalysisRun, status: AnalysisRunStatus): string[] {
  const violations: string[] = [];
  const terminated = run.spec.terminate === true;
  const resolved = resolveRunMetrics(run.spec);
  if ('problem' in resolved) return status.phase === 'Successful' ? [`Successful, yet its metrics cannot be resolved: ${resolved.problem}`] : [];
  for (const metric of resolved.metrics) {
    const result = status.metricResults?.find((candidate) => candidate.name === metric.name);
    if (result === undefined) continue;
    if (result.count !== result.successful + result.failed + result.inconclusive) {
      violations.push(`${metric.name}: count ${result.count} is not successful + failed + inconclusive (errors counted?)`);
    }
    if (result.count > plannedCount(metric)) violations.push(`${metric.name}: ${result.count} measurements, more than ${plannedCount(metric)} asked for`);
    if (metric.dryRun === true) continue;
    const over = overLimit(metric, result);
    if (over !== undefined && !['Failed', 'Error', 'Inconclusive'].includes(status.phase ?? 'Pending')) {
      violations.push(`${metric.name} has ${over}, yet the run is ${status.phase}`);
    }
    if (status.phase !== 'Successful') continue;
    if (result.successful === 0) violations.push(`Successful, yet ${metric.name} never measured a success`);
    if (result.count < plannedCount(metric) && !terminated) violations.push(`Successful after ${result.count} of ${metric.count} measurements of ${metric.name}`);
  }
  if ((status.completedAt !== undefined) !== isTerminal(status.phase ?? 'Pending')) {
    violations.push(`completedAt ${status.completedAt ?? 'unset'} while the run is ${status.phase}`);
  }
  // A verdict stops every measurement; one left in progress would be a Job nobody deletes until the run goes.
  if (isTerminal(status.phase ?? 'Pending')) {
    for (const result of status.metricResults ?? []) if (result.inProgress !== undefined) violations.push(`${result.name} still has a measurement in progress, yet the run is ${status.phase}`);
  }
  return violations;
}

/** A verdict, once reached, stands. */
export function verdictViolations(before: AnalysisRunStatus | undefined, after: AnalysisRunStatus): string[] {
  const was = before?.phase ?? 'Pending';
  return isTerminal(was) && after.phase !== was ? [`verdict ${was} changed to ${after.phase}`] : [];
}
