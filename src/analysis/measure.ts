import type { Judgement, MeasurementPhase, NoDataPolicy } from '../api/analysis.js';
import { ConditionError, type MetricConditions } from './condition.js';
import { formatValue, type ProviderResult } from './providers/result.js';

export interface MeasurementVerdict {
  phase: MeasurementPhase;
  value?: string;
  message?: string;
  /** An Error because the backend did not answer within the metric's deadline (counted per backend in /metrics). */
  deadlineExceeded?: true;
  /** A judge metric's verdict, explained; kept in the metric's result. */
  judgement?: Judgement;
}

/** What no data becomes under each noDataPolicy. */
export const NO_DATA: Record<NoDataPolicy, MeasurementPhase> = { Inconclusive: 'Inconclusive', Fail: 'Failed', Pass: 'Successful' };

function isNoData(result: ProviderResult): boolean {
  if (result.kind === 'noData') return true;
  // NaN is what a ratio over no traffic gives (0/0): treat it as no data, never as a number a condition can pass.
  if (result.kind === 'value') return Number.isNaN(result.value);
  if (result.kind === 'values') return result.values.every((value) => Number.isNaN(value));
  return false;
}

/**
 * One measurement's verdict, with Argo Rollouts' semantics for the conditions: failureCondition is
 * checked first and true means Failed; then successCondition, true means Successful. When neither is
 * true: with both conditions given it is Inconclusive, with only successCondition it is Failed, with
 * only failureCondition it is Successful. No data follows the metric's noDataPolicy (Inconclusive by
 * default), a value of ±Inf can fail but never pass (Inconclusive instead), and a provider error is
 * an Error measurement, counted against consecutiveErrorLimit, as is a condition that cannot be evaluated
 * to a bool for the value at hand (a web metric's `result > 0.9` when the JSON is a string).
 */
export function judge(result: ProviderResult, conditions: MetricConditions, noDataPolicy: NoDataPolicy = 'Inconclusive'): MeasurementVerdict {
  const value = formatValue(result);
  const withValue = value !== undefined ? { value } : {};
  if (result.kind === 'error') return { phase: 'Error', message: result.message, ...(result.deadlineExceeded === true && { deadlineExceeded: true as const }) };
  if (isNoData(result)) {
    const why = result.kind === 'noData' ? result.message : 'the query returned NaN (no traffic?)';
    return { phase: NO_DATA[noDataPolicy], ...withValue, message: `no data: ${why}; noDataPolicy ${noDataPolicy}` };
  }
  const input = result.kind === 'value' ? result.value : result.kind === 'values' ? result.values : (result as { value: unknown }).value;
  try {
    if (conditions.failure?.evaluate(input) === true) return { phase: 'Failed', ...withValue, message: `failureCondition ${conditions.failure.expression} is true` };
    if (conditions.success !== undefined && !conditions.success.evaluate(input)) {
      return conditions.failure !== undefined
        ? { phase: 'Inconclusive', ...withValue, message: 'neither condition is true' }
        : { phase: 'Failed', ...withValue, message: `successCondition ${conditions.success.expression} is false` };
    }
    // ±Inf is what a division by zero or an overflowing quantile gives: it may fail a canary, never pass one.
    const numbers = result.kind === 'value' ? [result.value] : result.kind === 'values' ? result.values : [];
    if (numbers.some((n) => !Number.isFinite(n))) {
      return { phase: 'Inconclusive', ...withValue, message: 'the value is not finite: it can fail a condition but never pass one' };
    }
    return { phase: 'Successful', ...withValue };
  } catch (err) {
    if (err instanceof ConditionError) return { phase: 'Error', ...withValue, message: err.message };
    throw err;
  }
}
