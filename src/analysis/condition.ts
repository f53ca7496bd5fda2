import { Environment } from '@marcbachmann/cel-js';

/** The shape of `result`: one number (a scalar or a single-series vector), or one number per series. */
export type ResultKind = 'double' | 'list';

/**
 * What a metric's `result` can be: `number` for Prometheus (a double or a list of doubles, checked against both);
 * `json` for a web metric, whose result is whatever JSON the endpoint sends, checked as CEL's `dyn`.
 */
export type ResultType = 'number' | 'json';

/** The result type a provider gives its conditions: a web metric's follows its JSON answer. */
export function resultTypeOf(provider: object | undefined): ResultType {
  return provider !== undefined && 'web' in provider ? 'json' : 'number';
}

// Conditions are one-liners; the limits turn a pasted query or a runaway literal into a parse error
// at check time instead of a slow evaluation on every measurement.
const LIMITS = { maxAstNodes: 1000, maxDepth: 64, maxListElements: 100, maxMapEntries: 100, maxCallArguments: 8 };

const environments: Record<ResultKind, Environment> = {
  double: new Environment({ limits: LIMITS }).registerVariable('result', 'double'),
  list: new Environment({ limits: LIMITS }).registerVariable('result', 'list<double>'),
};

const jsonEnvironment = new Environment({ limits: LIMITS }).registerVariable('result', 'dyn');

/**
 * Why a condition cannot be used: `parse` (not CEL), `type` (not bool for either shape of result,
 * or an unknown variable or overload), `shape` (at evaluation, the result's shape is one the condition
 * does not accept), `missing` (a metric with neither condition).
 */
export type ConditionProblem = 'parse' | 'type' | 'shape' | 'missing';

export class ConditionError extends Error {
  constructor(
    readonly expression: string,
    readonly reason: string,
    readonly problem: ConditionProblem = 'type',
  ) {
    super(`${JSON.stringify(expression.length > 160 ? `${expression.slice(0, 157)}...` : expression)}: ${reason}`);
    this.name = 'ConditionError';
  }
}

/** A condition that type-checked to bool for each result kind it accepts (none for a JSON result, checked as dyn). */
export interface CompiledCondition {
  expression: string;
  resultType: ResultType;
  kinds: ReadonlySet<ResultKind>;
  /** true or false; a ConditionError when the value is one the condition cannot evaluate to a bool. */
  evaluate(result: unknown): boolean;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

const kindName = (kind: ResultKind): string => (kind === 'double' ? 'double' : 'list(double)');

/**
 * Parses and type-checks a CEL condition before any measurement. Which shape `result` will have is
 * only known once a query answers (a vector can hold one series today and three tomorrow), so the
 * condition is checked against both and must be bool for at least one: `result >= 0.95` accepts a
 * double, `result.all(x, x < 0.5)` and Argo's `result[0] >= 0.95` accept a list. Evaluation goes
 * through cel-js's interpreter, never eval.
 */
export function compileCondition(expression: string, resultType: ResultType = 'number'): CompiledCondition {
  const key = `${resultType}:${expression}`;
  const known = compiled.get(key);
  if (known !== undefined) return known;
  const condition = resultType === 'json' ? compileJson(expression) : compileUncached(expression);
  // Every evaluation of a run compiles its conditions again: a backtest does so for thousands of simulated runs.
  if (compiled.size >= COMPILED_CACHE_SIZE) compiled.clear();
  compiled.set(key, condition);
  return condition;
}

/** Compiled conditions are immutable, so one per expression and result type serves every run; bounded, as expressions come from users. */
const COMPILED_CACHE_SIZE = 1000;
const compiled = new Map<string, CompiledCondition>();

function compileUncached(expression: string): CompiledCondition {
  const kinds = new Set<ResultKind>();
  const problems: string[] = [];
  for (const kind of ['double', 'list'] as const) {
    let checked: ReturnType<Environment['check']>;
    try {
      checked = environments[kind].check(expression);
    } catch (err) {
      // Structural limits are enforced while parsing and may surface as a throw rather than a result.
      throw new ConditionError(expression, `does not parse: ${firstLine(err instanceof Error ? err.message : String(err))}`, 'parse');
    }
    if (!checked.valid) {
      const message = firstLine(checked.error?.message ?? 'invalid');
      if (checked.error?.name === 'ParseError') throw new ConditionError(expression, `does not parse: ${message}`, 'parse');
      problems.push(`with result as ${kindName(kind)}: ${message}`);
    } else if (checked.type !== 'bool') {
      problems.push(`with result as ${kindName(kind)} it is ${checked.type}, not bool`);
    } else {
      kinds.add(kind);
    }
  }
  if (kinds.size === 0) throw new ConditionError(expression, `does not type-check to bool (${problems.join('; ')})`, 'type');
  const programs = { double: environments.double.parse(expression), list: environments.list.parse(expression) };
  return {
    expression,
    resultType: 'number',
    kinds,
    evaluate(result) {
      let input = result as number | number[];
      if (!Array.isArray(input) && !kinds.has('double')) {
        // A single series is a list of one: `result[0] >= 0.95` (Argo's idiom) must not error when
        // only one pod reports. The converse is refused: a scalar condition over several series is ambiguous.
        input = [input];
      }
      const kind: ResultKind = Array.isArray(input) ? 'list' : 'double';
      if (!kinds.has(kind)) {
        throw new ConditionError(expression, 'expects one number but the query returned several series', 'shape');
      }
      let value: unknown;
      try {
        value = programs[kind]({ result: input });
      } catch (err) {
        // `result[2]` over two series: an Error measurement, never an exception out of the provider.
        throw new ConditionError(expression, `cannot be evaluated: ${firstLine(err instanceof Error ? err.message : String(err))}`, 'shape');
      }
      if (typeof value !== 'boolean') throw new ConditionError(expression, `evaluated to ${typeof value}, not bool`, 'shape');
      return value;
    },
  };
}

/** A JSON value named in a message: its CEL type and a short rendering. */
function describeJson(value: unknown): string {
  const type = Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value === 'object' ? 'map' : typeof value === 'number' ? 'double' : typeof value;
  const text = JSON.stringify(value) ?? String(value);
  return `${type} ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
}

/**
 * A web metric's condition, over whatever JSON the endpoint sends. `result` is `dyn` to the type checker, so
 * `result == true`, `result.status == "ok"` and `result > 0.9` all compile; what cannot be bool whatever the
 * value is (`result + 1`, a string literal) is still refused. Whether the actual value suits the condition is
 * only known when it arrives: a condition that fails on it (`result > 0.9` on a string) is a ConditionError.
 */
function compileJson(expression: string): CompiledCondition {
  let checked: ReturnType<Environment['check']>;
  try {
    checked = jsonEnvironment.check(expression);
  } catch (err) {
    throw new ConditionError(expression, `does not parse: ${firstLine(err instanceof Error ? err.message : String(err))}`, 'parse');
  }
  if (!checked.valid) {
    const message = firstLine(checked.error?.message ?? 'invalid');
    if (checked.error?.name === 'ParseError') throw new ConditionError(expression, `does not parse: ${message}`, 'parse');
    throw new ConditionError(expression, `does not type-check (result is the JSON value, dyn): ${message}`, 'type');
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new ConditionError(expression, `is ${checked.type}, not bool, whatever JSON value result is`, 'type');
  }
  const program = jsonEnvironment.parse(expression);
  return {
    expression,
    resultType: 'json',
    kinds: new Set(),
    evaluate(result) {
      let value: unknown;
      try {
        value = program({ result });
      } catch (err) {
        throw new ConditionError(expression, `cannot be evaluated with result the ${describeJson(result)}: ${firstLine(err instanceof Error ? err.message : String(err))}`, 'shape');
      }
      if (typeof value !== 'boolean') throw new ConditionError(expression, `evaluated to ${describeJson(value)} with result the ${describeJson(result)}, not a bool`, 'shape');
      return value;
    },
  };
}

export interface MetricConditions {
  success?: CompiledCondition;
  failure?: CompiledCondition;
}

/**
 * Both conditions of a metric, compiled, or the first problem found (for the run, the Rollout and an
 * Event). The run planner calls it before the first measurement, so a bad condition errors the run
 * without querying anything.
 */
export function compileMetricConditions(metric: { name: string; successCondition?: string; failureCondition?: string; provider?: object }): MetricConditions {
  const resultType = resultTypeOf(metric.provider);
  if (metric.successCondition === undefined && metric.failureCondition === undefined) {
    throw new ConditionError('', `metric ${metric.name} needs a successCondition or a failureCondition`, 'missing');
  }
  const compile = (which: string, expression: string | undefined): CompiledCondition | undefined => {
    if (expression === undefined) return undefined;
    try {
      return compileCondition(expression, resultType);
    } catch (err) {
      if (err instanceof ConditionError) throw new ConditionError(expression, `metric ${metric.name} ${which}: ${err.reason}`, err.problem);
      throw err;
    }
  };
  const success = compile('successCondition', metric.successCondition);
  const failure = compile('failureCondition', metric.failureCondition);
  return { ...(success && { success }), ...(failure && { failure }) };
}
