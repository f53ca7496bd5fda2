import { z } from 'zod';
import type { PrometheusProvider } from '../../api/analysis.js';
import { parseDuration } from '../../api/duration.js';
import { DeadlineExceeded } from '../../http/deadline.js';
import { describeHttpError, sendRequest } from '../../http/request.js';
import { judge } from '../measure.js';
import { renderPromQL, renderUrl } from '../query.js';
import { backendOf, DEFAULT_TIMEOUT_MS, renderHeaders, requestResponse, type MeasurementProvider, type SecretReader } from './provider.js';
import { MAX_RESPONSE_BYTES_FLAG, parseSampleValue, type ProviderResult } from './result.js';

const SampleValue = z.tuple([z.number(), z.string()]);

/** The instant-query envelope, parsed rather than trusted. */
const QueryResponse = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('scalar'), result: SampleValue }),
      z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: SampleValue })) }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: SampleValue }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string() }),
]);

export interface PrometheusRequest {
  address: string;
  query: string;
  /** The metric's `timeout`: a deadline for the whole exchange, however steadily the answer trickles in. */
  timeoutMs: number;
  headers: Record<string, string>;
  /** A larger answer is an Error, not buffered: a query that matches every series must not exhaust the controller. */
  maxResponseBytes: number;
  auth?: { bearerToken?: string; basic?: { username: string; password: string } };
}

/** The values of one instant's samples, one per series, as a result; an unparseable one is an error. */
export function samplesToResult(samples: readonly string[]): ProviderResult {
  if (samples.length === 0) return { kind: 'noData', message: 'the query returned no series' };
  const values: number[] = [];
  for (const sample of samples) {
    const value = parseSampleValue(sample);
    if (value === undefined) return { kind: 'error', message: `unparseable sample value ${JSON.stringify(sample)}` };
    values.push(value);
  }
  return values.length === 1 ? { kind: 'value', value: values[0] as number } : { kind: 'values', values };
}

/** Turns a Prometheus answer into a result; everything unexpected is an error, never a number. */
export function interpretPrometheusResponse(body: unknown): ProviderResult {
  const parsed = QueryResponse.safeParse(body);
  if (!parsed.success) return { kind: 'error', message: `unexpected Prometheus response: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const response = parsed.data;
  if (response.status === 'error') return prometheusError(response);
  const data = response.data;
  if (data.resultType === 'matrix' || data.resultType === 'string') {
    return { kind: 'error', message: `the query returned a ${data.resultType}; use an instant vector or scalar query` };
  }
  return samplesToResult(data.resultType === 'scalar' ? [data.result[1]] : data.result.map((series) => series.value[1]));
}

const prometheusError = (response: { errorType?: string | undefined; error: string }): ProviderError => ({
  kind: 'error',
  message: `Prometheus error${response.errorType ? ` (${response.errorType})` : ''}: ${response.error}`,
});

type ProviderError = Extract<ProviderResult, { kind: 'error' }>;

/** One GET of Prometheus's HTTP API, its answer read by `interpret`; transport failures and non-200 answers are errors. */
async function getPrometheus<T extends { kind: string }>(
  request: PrometheusRequest,
  call: { what: string; path: string; params: Record<string, string> },
  interpret: (body: unknown) => T | ProviderError,
): Promise<T | ProviderError> {
  const bearer = request.auth?.bearerToken;
  try {
    const response = await sendRequest<string>({
      what: call.what,
      url: `${request.address.replace(/\/$/, '')}${call.path}`,
      method: 'GET',
      params: call.params,
      deadlineMs: request.timeoutMs,
      maxResponseBytes: request.maxResponseBytes,
      sizeBudget: MAX_RESPONSE_BYTES_FLAG,
      headers: { Accept: 'application/json', ...request.headers, ...(bearer !== undefined && { Authorization: `Bearer ${bearer}` }) },
      ...(request.auth?.basic !== undefined && { auth: request.auth.basic }),
      // The envelope of a 4xx (bad query) says why; read it instead of throwing it away.
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: (text: unknown) => text,
    });
    let body: unknown;
    try {
      body = JSON.parse(response.data);
    } catch {
      return { kind: 'error', message: `HTTP ${response.status}: the answer is not JSON: ${String(response.data).slice(0, 120)}` };
    }
    const result = interpret(body);
    if (response.status !== 200 && result.kind !== 'error') return { kind: 'error', message: `HTTP ${response.status}` };
    if (response.status !== 200 && result.kind === 'error') return { kind: 'error', message: `HTTP ${response.status}: ${(result as ProviderError).message}` };
    return result;
  } catch (err) {
    return { kind: 'error', message: describeHttpError(err), ...(err instanceof DeadlineExceeded && { deadlineExceeded: true as const }) };
  }
}

export async function queryPrometheus(request: PrometheusRequest): Promise<ProviderResult> {
  return getPrometheus(request, { what: 'the Prometheus query', path: '/api/v1/query', params: { query: request.query } }, interpretPrometheusResponse);
}

/** One series of a range query: its labels and its samples, oldest first, with times in ms. */
export interface RangeSeries {
  labels: Record<string, string>;
  samples: Array<[number, string]>;
}

export type RangeAnswer = { kind: 'series'; series: RangeSeries[] } | ProviderError;

const RangeResponse = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(SampleValue) })) }),
  }),
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string() }),
]);

/** A range answer, parsed rather than trusted: anything but a matrix is an error. */
export function interpretRangeResponse(body: unknown): RangeAnswer {
  const parsed = RangeResponse.safeParse(body);
  if (!parsed.success) return { kind: 'error', message: `unexpected Prometheus range response: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const response = parsed.data;
  if (response.status === 'error') return prometheusError(response);
  return {
    kind: 'series',
    series: response.data.result.map((series) => ({ labels: series.metric, samples: series.values.map(([time, value]) => [Math.round(time * 1000), value] as [number, string]) })),
  };
}

/** Prometheus refuses a range of more than 11,000 points per series; ask for at most this many at once. */
export const MAX_RANGE_POINTS = 10_000;

/**
 * `query_range` from `startMs` to `endMs` every `stepMs`, in as many requests as Prometheus's points limit needs;
 * each request is held to the same deadline and response-size limit as an instant query. Series are joined by labels.
 */
export async function queryPrometheusRange(request: PrometheusRequest, startMs: number, endMs: number, stepMs: number): Promise<RangeAnswer> {
  const bySeries = new Map<string, RangeSeries>();
  for (let from = startMs; from <= endMs; from += stepMs * MAX_RANGE_POINTS) {
    const to = Math.min(endMs, from + stepMs * (MAX_RANGE_POINTS - 1));
    const params = { query: request.query, start: String(from / 1000), end: String(to / 1000), step: String(stepMs / 1000) };
    const answer = await getPrometheus(request, { what: 'the Prometheus range query', path: '/api/v1/query_range', params }, interpretRangeResponse);
    if (answer.kind === 'error') return answer;
    for (const series of answer.series) {
      const key = JSON.stringify(Object.entries(series.labels).sort(([a], [b]) => a.localeCompare(b)));
      const known = bySeries.get(key);
      if (known === undefined) bySeries.set(key, series);
      else known.samples.push(...series.samples);
    }
  }
  // In label order, as Prometheus orders a matrix: a series missing from the first chunk must not move to the end.
  const ordered = [...bySeries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, series]) => series);
  return { kind: 'series', series: ordered };
}

export interface PrometheusProviderDeps {
  /** --prometheus-address: for metrics that name none. */
  defaultAddress: string | undefined;
  maxResponseBytes: number;
  readSecret: SecretReader;
}

/** The request a metric's measurement makes: address, query and headers rendered from `args`, credentials read. */
export async function prometheusRequest(
  deps: PrometheusProviderDeps,
  spec: PrometheusProvider['prometheus'],
  args: Record<string, string>,
  namespace: string,
): Promise<PrometheusRequest | ProviderError> {
  const address = spec.address ?? deps.defaultAddress;
  if (address === undefined) return { kind: 'error', message: 'no Prometheus address: set provider.prometheus.address or the controller flag --prometheus-address' };
  const auth = spec.authentication;
  return {
    address: renderUrl(address, args),
    query: renderPromQL(spec.query, args),
    timeoutMs: spec.timeout !== undefined ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
    headers: renderHeaders(spec.headers, args),
    maxResponseBytes: deps.maxResponseBytes,
    ...(auth !== undefined && {
      auth: {
        ...(auth.bearerTokenSecretRef !== undefined && { bearerToken: await deps.readSecret(auth.bearerTokenSecretRef, namespace) }),
        ...(auth.basic !== undefined && {
          basic: { username: await deps.readSecret(auth.basic.usernameSecretRef, namespace), password: await deps.readSecret(auth.basic.passwordSecretRef, namespace) },
        }),
      },
    }),
  };
}

/** One instant query per measurement, judged by the metric's conditions. */
export function prometheusProvider(deps: PrometheusProviderDeps, spec: PrometheusProvider['prometheus']): MeasurementProvider {
  return requestResponse(async ({ metric, args, run, conditions }) => {
    const request = await prometheusRequest(deps, spec, args, run.namespace);
    if ('kind' in request) return { phase: 'Error', message: request.message };
    return judge(await queryPrometheus(request), conditions, metric.noDataPolicy);
  }, ({ args }) => backendOf(spec.address ?? deps.defaultAddress, args));
}
