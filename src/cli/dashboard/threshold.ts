/** A comparison of `result` with one number: what a plot can draw as a horizontal line. */
export interface Threshold {
  /** Read as `result <op> value`. */
  op: '<' | '<=' | '>' | '>=';
  value: number;
  /** Which condition it came from: passing is above/below it (success) or failing is (failure). */
  condition: 'success' | 'failure';
  expression: string;
}

const NUMBER = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const RESULT = String.raw`result(?:\s*\[\s*0\s*\])?`;
const OP = String.raw`<=|>=|<|>`;
const RESULT_FIRST = new RegExp(String.raw`^${RESULT}\s*(${OP})\s*(${NUMBER})$`);
const NUMBER_FIRST = new RegExp(String.raw`^(${NUMBER})\s*(${OP})\s*${RESULT}$`);
const MIRROR: Record<Threshold['op'], Threshold['op']> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

function unwrap(expression: string): string {
  let text = expression.trim();
  while (text.startsWith('(') && text.endsWith(')') && !text.slice(1, -1).includes('(')) text = text.slice(1, -1).trim();
  return text;
}

/**
 * The threshold of a condition that is a simple comparison (`result < 0.05`, `result[0] >= 0.95`,
 * `100 >= result`), or undefined for anything else (`&&`, functions, several series): only then is one
 * line on a plot an honest picture of the condition.
 */
export function simpleComparison(expression: string, condition: Threshold['condition']): Threshold | undefined {
  const text = unwrap(expression);
  const resultFirst = RESULT_FIRST.exec(text);
  if (resultFirst !== null) return { op: resultFirst[1] as Threshold['op'], value: Number(resultFirst[2]), condition, expression };
  const numberFirst = NUMBER_FIRST.exec(text);
  if (numberFirst !== null) return { op: MIRROR[numberFirst[2] as Threshold['op']], value: Number(numberFirst[1]), condition, expression };
  return undefined;
}

/** The line to draw for a metric: its success condition's, else its failure condition's, when simple. */
export function metricThreshold(metric: { successCondition?: string; failureCondition?: string }): Threshold | undefined {
  return (
    (metric.successCondition !== undefined ? simpleComparison(metric.successCondition, 'success') : undefined) ??
    (metric.failureCondition !== undefined ? simpleComparison(metric.failureCondition, 'failure') : undefined)
  );
}
