/** What a provider got back, before any condition is applied. */
export type ProviderResult =
  | { kind: 'value'; value: number }
  | { kind: 'values'; values: number[] }
  | { kind: 'noData'; message: string }
  | { kind: 'error'; message: string };

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
  return undefined;
}

/**
 * The default largest answer a provider may send (--max-provider-response-bytes). A metric endpoint
 * has no reason to send more, and a larger one would be buffered whole in the controller's memory.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export function describeError(err: unknown, maxResponseBytes?: number): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; response?: { status?: number; data?: unknown } };
    if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT') return `timed out: ${String(e.message)}`;
    // axios stops reading, and drops what it read, once an answer passes maxContentLength.
    if (typeof e.message === 'string' && e.message.startsWith('maxContentLength')) {
      return `the answer is larger than ${maxResponseBytes ?? '?'} bytes (--max-provider-response-bytes); refused`;
    }
    if (e.response?.status !== undefined) {
      const body = typeof e.response.data === 'string' ? e.response.data : JSON.stringify(e.response.data);
      return `HTTP ${e.response.status}: ${(body ?? '').slice(0, 200)}`;
    }
    if (typeof e.message === 'string') return e.message;
  }
  return String(err);
}
