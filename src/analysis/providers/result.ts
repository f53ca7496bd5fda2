/** What a provider got back, before any condition is applied. */
export type ProviderResult =
  | { kind: 'value'; value: number }
  | { kind: 'values'; values: number[] }
  /** A web metric's JSON value that is not a number or a list of numbers: a bool, a string, an object, a mixed list. */
  | { kind: 'json'; value: unknown }
  | { kind: 'noData'; message: string }
  /** deadlineExceeded: the backend did not answer in time (counted per backend in /metrics). */
  | { kind: 'error'; message: string; deadlineExceeded?: true };

/** Prometheus and most JSON APIs send special floats as strings; Number('+Inf') is NaN in JavaScript. */
export function parseSampleValue(text: string): number | undefined {
  switch (text) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text.trim())) return undefined;
  return Number(text);
}

export function formatValue(result: ProviderResult): string | undefined {
  // Twelve significant digits keep every real difference and drop float noise (0.7999999999999999 is 0.8).
  const show = (n: number): string => (Number.isNaN(n) ? 'NaN' : n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(Number(n.toPrecision(12))));
  if (result.kind === 'value') return show(result.value);
  if (result.kind === 'values') return `[${result.values.map(show).join(', ')}]`;
  if (result.kind === 'json') return formatJson(result.value);
  return undefined;
}

/** The longest a JSON value is shown in a measurement; a whole answer body can be much larger. */
export const MAX_SHOWN_JSON = 256;

/** A JSON value as a measurement shows it: `true`, `"ok"`, `{"status":"ok"}`, compact and cut at MAX_SHOWN_JSON characters. */
export function formatJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > MAX_SHOWN_JSON ? `${text.slice(0, MAX_SHOWN_JSON - 3)}...` : text;
}

/**
 * The default largest answer a provider may send (--max-provider-response-bytes). A metric endpoint
 * has no reason to send more, and a larger one would be buffered whole in the controller's memory.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** Named in the message for an answer over that limit, so the reader knows what to raise. */
export const MAX_RESPONSE_BYTES_FLAG = '--max-provider-response-bytes';
