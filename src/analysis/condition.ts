import { Environment } from '@marcbachmann/cel-js';

/** The shape of `result`: one number (a scalar or a single-series vector), or one number per series. */
export type ResultKind = 'double' | 'list';

const environments: Record<ResultKind, Environment> = {
  double: new Environment().registerVariable('result', 'double'),
  list: new Environment().registerVariable('result', 'list<double>'),
};

export class ConditionError extends Error {
  constructor(
    readonly expression: string,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(expression)}: ${reason}`);
    this.name = 'ConditionError';
  }
}

/** A condition that type-checked to bool for each result kind it accepts. */
export interface CompiledCondition {
  expression: string;
  kinds: ReadonlySet<ResultKind>;
  evaluate(result: number | number[]): boolean;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/**
 * Parses and type-checks a CEL condition before any measurement: it must be bool for `result` as a
 * double, or as a list(double), or both. Evaluation goes through cel-js's interpreter, never eval.
 */
export function compileCondition(expression: string): CompiledCondition {
  const kinds = new Set<ResultKind>();
  const problems: string[] = [];
  for (const kind of ['double', 'list'] as const) {
    const checked = environments[kind].check(expression);
    if (!checked.valid) {
      const message = firstLine(checked.error?.message ?? 'invalid');
      if (checked.error?.name === 'ParseError') throw new ConditionError(expression, `does not parse: ${message}`);
      problems.push(`with result as ${kind === 'double' ? 'double' : 'list(double)'}: ${message}`);
    } else if (checked.type !== 'bool') {
      problems.push(`with result as ${kind === 'double' ? 'double' : 'list(double)'} it is ${checked.type}, not bool`);
    } else {
      kinds.add(kind);
    }
  }
  if (kinds.size === 0) throw new ConditionError(expression, `does not type-check to bool (${problems.join('; ')})`);
  const programs = { double: environments.double.parse(expression), list: environments.list.parse(expression) };
  return {
    expression,
    kinds,
    evaluate(result) {
      const kind: ResultKind = Array.isArray(result) ? 'list' : 'double';
      if (!kinds.has(kind)) {
        throw new ConditionError(expression, kind === 'list' ? 'expects one number but the query returned several series' : 'expects a list but the query returned one number');
      }
      const value: unknown = programs[kind]({ result });
      if (typeof value !== 'boolean') throw new ConditionError(expression, `evaluated to ${typeof value}, not bool`);
      return value;
    },
  };
}

export interface MetricConditions {
  success?: CompiledCondition;
  failure?: CompiledCondition;
}

/** Both conditions of a metric, compiled, or the first problem found (for the run, the Rollout and an Event). */
export function compileMetricConditions(metric: { name: string; successCondition?: string; failureCondition?: string }): MetricConditions {
  if (metric.successCondition === undefined && metric.failureCondition === undefined) {
    throw new ConditionError('', `metric ${metric.name} needs a successCondition or a failureCondition`);
  }
  const compile = (which: string, expression: string | undefined): CompiledCondition | undefined => {
    if (expression === undefined) return undefined;
    try {
      return compileCondition(expression);
    } catch (err) {
      if (err instanceof ConditionError) throw new ConditionError(expression, `metric ${metric.name} ${which}: ${err.reason}`);
      throw err;
    }
  };
  const success = compile('successCondition', metric.successCondition);
  const failure = compile('failureCondition', metric.failureCondition);
  return { ...(success && { success }), ...(failure && { failure }) };
}
