import { Agent } from 'node:https';
import type { WebProvider } from '../../api/analysis.js';
import { parseDuration } from '../../api/duration.js';
import { DeadlineExceeded } from '../../http/deadline.js';
import { describeHttpError, sendRequest } from '../../http/request.js';
import { judge } from '../measure.js';
import { renderText, renderUrl } from '../query.js';
import { backendOf, DEFAULT_TIMEOUT_MS, renderHeaders, requestResponse, type MeasurementProvider } from './provider.js';
import { MAX_RESPONSE_BYTES_FLAG, parseSampleValue, type ProviderResult } from './result.js';

export interface WebRequest {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  headers: Record<string, string>;
  body?: string;
  /** The metric's `timeout`: a deadline for the whole exchange, however steadily the answer trickles in. */
  timeoutMs: number;
  /** Where the value is in the answer; without it the whole answer is the value (as in Argo). */
  jsonPath?: string;
  /** Skip TLS certificate verification (web.insecure), for this request only. */
  insecure?: boolean;
  /** A larger answer is an Error, not buffered. */
  maxResponseBytes: number;
}

/** `$.a.b`, from Argo's Kubernetes JSONPath form `{$.a.b}` or `{.a.b}` too. */
export function plainJsonPath(path: string): string {
  if (!path.startsWith('{') || !path.endsWith('}')) return path;
  const inner = path.slice(1, -1);
  return inner.startsWith('$') ? inner : `$${inner}`;
}

// One agent for every insecure request: keep-alive sockets are shared, and no other request ever uses it.
const insecureAgent = new Agent({ rejectUnauthorized: false, keepAlive: true });

/** Follows `$.a.b[0]` or `{$.a.b[0]}` (the only forms the schema admits) through parsed JSON; undefined when a step is missing. */
export function selectJsonPath(document: unknown, path: string): unknown {
  let current: unknown = document;
  for (const [, key, index] of plainJsonPath(path).slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]/g)) {
    if (current === null || typeof current !== 'object') return undefined;
    if (key !== undefined) {
      if (Array.isArray(current) || !Object.hasOwn(current, key)) return undefined;
      current = (current as Record<string, unknown>)[key];
    } else {
      if (!Array.isArray(current)) return undefined;
      current = current[Number(index)];
    }
  }
  return current;
}

/**
 * The value at jsonPath (or the whole answer, without one) as the condition's `result`, following the JSON as
 * Argo does: a number is a double, a non-empty list of numbers a list of doubles, and a bool, a string, an
 * object or any other list is passed through as it is (`result == true`, `result.status == "ok"`). One departure:
 * a number sent as text ("0.95", "+Inf") is that number, as it always was here, so existing conditions keep
 * working (Argo's `asFloat(result)`, translated to `double(result)`, reads it too). null, a missing path or an
 * empty list is no data.
 */
export function interpretWebValue(selected: unknown, path: string | undefined): ProviderResult {
  const where = path ?? 'the answer';
  if (selected === undefined) return { kind: 'noData', message: `${where} is absent from the answer` };
  if (selected === null) return { kind: 'noData', message: `${where} is null` };
  // Many metric APIs (Prometheus's own among them) send numbers as text: "0.95" stays the number it always was here,
  // so a condition written for it keeps working. Any other string, bool or object is passed on as JSON.
  const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : typeof value === 'string' ? parseSampleValue(value) : undefined);
  const single = number(selected);
  if (single !== undefined) return { kind: 'value', value: single };
  if (Array.isArray(selected)) {
    if (selected.length === 0) return { kind: 'noData', message: `${where} is an empty list` };
    const values = selected.map(number);
    if (values.every((value) => value !== undefined)) return { kind: 'values', values: values as number[] };
  }
  return { kind: 'json', value: selected };
}

/**
 * The Content-Type for a body the template did not label. Left to itself axios sends a string as
 * application/x-www-form-urlencoded, which JSON APIs reject or misread.
 */
function bodyContentType(body: string): string {
  try {
    JSON.parse(body);
    return 'application/json';
  } catch {
    return 'text/plain; charset=utf-8';
  }
}

export async function queryWeb(request: WebRequest): Promise<ProviderResult> {
  const labelled = Object.keys(request.headers).some((key) => key.toLowerCase() === 'content-type');
  const headers: Record<string, string> = {
    Accept: 'application/json',
    ...(request.body !== undefined && !labelled && { 'Content-Type': bodyContentType(request.body) }),
    ...request.headers,
  };
  try {
    const response = await sendRequest<string>({
      what: 'the web metric request',
      url: request.url,
      method: request.method,
      headers,
      ...(request.body !== undefined && { data: request.body }),
      deadlineMs: request.timeoutMs,
      ...(request.insecure === true && { httpsAgent: insecureAgent }),
      maxResponseBytes: request.maxResponseBytes,
      sizeBudget: MAX_RESPONSE_BYTES_FLAG,
      responseType: 'text',
      transformResponse: (text: unknown) => text,
      validateStatus: () => true,
    });
    if (response.status < 200 || response.status > 299) return { kind: 'error', message: `HTTP ${response.status}: ${String(response.data).slice(0, 120)}` };
    let document: unknown;
    try {
      document = JSON.parse(response.data);
    } catch {
      return { kind: 'error', message: `the answer is not JSON: ${String(response.data).slice(0, 120)}` };
    }
    return interpretWebValue(request.jsonPath === undefined ? document : selectJsonPath(document, request.jsonPath), request.jsonPath);
  } catch (err) {
    return { kind: 'error', message: describeHttpError(err), ...(err instanceof DeadlineExceeded && { deadlineExceeded: true as const }) };
  }
}

/** One request per measurement, the JSON value at jsonPath (or the whole answer) judged by the metric's conditions. */
export function webProvider(deps: { maxResponseBytes: number }, spec: WebProvider['web']): MeasurementProvider {
  return requestResponse(async ({ metric, args, conditions }) => {
    const result = await queryWeb({
      url: renderUrl(spec.url, args),
      method: spec.method ?? 'GET',
      headers: renderHeaders(spec.headers, args),
      ...(spec.body !== undefined && { body: renderText(spec.body, args) }),
      timeoutMs: spec.timeout !== undefined ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
      ...(spec.jsonPath !== undefined && { jsonPath: spec.jsonPath }),
      insecure: spec.insecure === true,
      maxResponseBytes: deps.maxResponseBytes,
    });
    return judge(result, conditions, metric.noDataPolicy);
  }, ({ args }) => backendOf(spec.url, args));
}
