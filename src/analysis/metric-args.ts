import type { AnalysisArg, Metric } from '../api/analysis.js';
import { DurationError, parseDuration } from '../api/duration.js';

/** The fields Argo lets a template fill from its arguments: `interval: "{{args.interval}}"`. */
type TemplatedField = 'interval' | 'initialDelay' | 'count' | 'failureLimit' | 'inconclusiveLimit' | 'consecutiveErrorLimit';

/** `{{args.name}}` anywhere in a condition: Argo's thresholds from arguments, `result[0] >= {{args.threshold}}`. */
const CONDITION_PLACEHOLDER = /\{\{\s*args\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g;

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * An argument's value as a CEL literal: a number becomes a double (every answer a condition sees is one, and CEL
 * never compares int with double), anything else a quoted string. Either way it is one literal, so a value can
 * never change the condition's structure.
 */
export function celLiteral(value: string): string {
  const trimmed = value.trim();
  const number = Number(trimmed);
  if (!NUMBER.test(trimmed) || !Number.isFinite(number)) return JSON.stringify(value);
  // JavaScript's own spelling is valid CEL (`0.5`, `1e-7`, `1e+21`); a whole number gets `.0` to be a double.
  const spelled = String(number);
  return /[.e]/.test(spelled) ? spelled : `${spelled}.0`;
}

/** The condition with each `{{args.name}}` replaced by `value(name)` as a literal; what `value` cannot give is thrown. */
export function substituteConditionArgs(expression: string, value: (name: string) => string): string {
  return expression.replace(CONDITION_PLACEHOLDER, (_, name: string) => celLiteral(value(name)));
}

/**
 * The condition as lint and convert type-check it before any run exists: an argument with a literal default
 * stands for that value, any other for a number, the usual threshold.
 */
export function conditionForTypeCheck(expression: string, args: readonly AnalysisArg[] | undefined): string {
  const defaults = literalArgs(args);
  return substituteConditionArgs(expression, (name) => defaults.get(name) ?? '0');
}

/** A metric whose timing and limits are values, no longer `{{args.x}}`: what the run planner measures with. */
export type ResolvedMetric = Omit<Metric, TemplatedField> & {
  interval?: string | number;
  initialDelay?: string | number;
  count?: number;
  failureLimit?: number;
  inconclusiveLimit?: number;
  consecutiveErrorLimit?: number;
};

export class MetricArgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricArgError';
  }
}

const WHOLE_PLACEHOLDER = /^\{\{\s*args\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$/;

/** The argument a field names, when it is `{{args.name}}`. */
export function templatedArgument(value: unknown): string | undefined {
  return typeof value === 'string' ? WHOLE_PLACEHOLDER.exec(value)?.[1] : undefined;
}

/** Literal argument values; Secret-backed ones are absent, as they are read only when measuring. */
export function literalArgs(args: readonly AnalysisArg[] | undefined): Map<string, string> {
  return new Map((args ?? []).flatMap((arg) => (arg.value !== undefined ? [[arg.name, arg.value] as const] : [])));
}

function resolveValue(metric: Metric, field: TemplatedField, args: ReadonlyMap<string, string>, secretArgs: ReadonlySet<string>): string | number | undefined {
  const value = metric[field];
  const name = templatedArgument(value);
  if (name === undefined) return value;
  if (secretArgs.has(name)) throw new MetricArgError(`metric ${metric.name}: ${field} ${String(value)} comes from a Secret, which is read only when measuring; give it a value`);
  const resolved = args.get(name);
  if (resolved === undefined) throw new MetricArgError(`metric ${metric.name}: ${field} ${String(value)} has no value`);
  return resolved;
}

function asDuration(metric: Metric, field: TemplatedField, value: string | number | undefined): string | number | undefined {
  if (value === undefined) return undefined;
  try {
    parseDuration(value);
  } catch (err) {
    if (err instanceof DurationError) throw new MetricArgError(`metric ${metric.name}: ${field} ${String(metric[field])} is ${JSON.stringify(value)}, not a duration (30s, 5m, 1h or seconds)`);
    throw err;
  }
  return value;
}

function asInteger(metric: Metric, field: TemplatedField, value: string | number | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'number' ? value : /^[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min) {
    throw new MetricArgError(`metric ${metric.name}: ${field} ${String(metric[field])} is ${JSON.stringify(value)}, not an integer of at least ${min}`);
  }
  return number;
}

/**
 * The metric with its templated interval, count, limits and condition thresholds replaced by the arguments'
 * values. A value that is missing, Secret-backed, or not a duration or integer throws MetricArgError: the run then
 * errors before any measurement, since a guessed count or limit could let a canary pass.
 */
export function resolveMetric(metric: Metric, args: ReadonlyMap<string, string>, secretArgs: ReadonlySet<string> = new Set()): ResolvedMetric {
  const value = (field: TemplatedField): string | number | undefined => resolveValue(metric, field, args, secretArgs);
  const interval = asDuration(metric, 'interval', value('interval'));
  const initialDelay = asDuration(metric, 'initialDelay', value('initialDelay'));
  const count = asInteger(metric, 'count', value('count'), 1);
  const failureLimit = asInteger(metric, 'failureLimit', value('failureLimit'), 0);
  const inconclusiveLimit = asInteger(metric, 'inconclusiveLimit', value('inconclusiveLimit'), 0);
  const consecutiveErrorLimit = asInteger(metric, 'consecutiveErrorLimit', value('consecutiveErrorLimit'), 0);
  const { interval: _i, initialDelay: _d, count: _c, failureLimit: _f, inconclusiveLimit: _n, consecutiveErrorLimit: _e, successCondition, failureCondition, ...rest } = metric;
  const condition = (field: 'successCondition' | 'failureCondition', expression: string | undefined): string | undefined =>
    expression === undefined
      ? undefined
      : substituteConditionArgs(expression, (name) => {
          if (secretArgs.has(name)) throw new MetricArgError(`metric ${metric.name}: ${field} uses {{args.${name}}}, which comes from a Secret; a condition is kept in the run's spec, so give it a value`);
          const resolved = args.get(name);
          if (resolved === undefined) throw new MetricArgError(`metric ${metric.name}: ${field} uses {{args.${name}}}, which has no value`);
          return resolved;
        });
  const success = condition('successCondition', successCondition);
  const failure = condition('failureCondition', failureCondition);
  return {
    ...rest,
    ...(success !== undefined && { successCondition: success }),
    ...(failure !== undefined && { failureCondition: failure }),
    ...(interval !== undefined && { interval }),
    ...(initialDelay !== undefined && { initialDelay }),
    ...(count !== undefined && { count }),
    ...(failureLimit !== undefined && { failureLimit }),
    ...(inconclusiveLimit !== undefined && { inconclusiveLimit }),
    ...(consecutiveErrorLimit !== undefined && { consecutiveErrorLimit }),
  };
}

/** Every metric of a run resolved from its literal arguments, or why one cannot be. */
export function resolveRunMetrics(spec: { metrics: Metric[]; args?: AnalysisArg[] | undefined }): { metrics: ResolvedMetric[] } | { problem: string } {
  const secretArgs = new Set((spec.args ?? []).filter((arg) => arg.value === undefined && arg.valueFrom !== undefined).map((arg) => arg.name));
  const args = literalArgs(spec.args);
  try {
    return { metrics: spec.metrics.map((metric) => resolveMetric(metric, args, secretArgs)) };
  } catch (err) {
    if (err instanceof MetricArgError) return { problem: err.message };
    throw err;
  }
}
