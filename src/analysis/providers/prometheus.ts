import axios, { type AxiosRequestConfig } from 'axios';
import { z } from 'zod';
import type { PrometheusProvider } from '../../api/analysis.js';
import { parseDuration } from '../../api/duration.js';
import { judge } from '../measure.js';
import { renderPromQL, renderUrl } from '../query.js';
import { DEFAULT_TIMEOUT_MS, renderHeaders, requestResponse, type MeasurementProvider, type SecretReader } from './provider.js';
import { describeError, parseSampleValue, type ProviderResult } from './result.js';

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
  timeoutMs: number;
  headers: Record<string, string>;
  /** A larger answer is an Error, not buffered: a query that matches every series must not exhaust the controller. */
  maxResponseBytes: number;
  auth?: { bearerToken?: string; basic?: { username: string; password: string } };
}

/** Turns a Prometheus answer into a result; everything unexpected is an error, never a number. */
export function interpretPrometheusResponse(body: unknown): ProviderResult {
  const parsed = QueryResponse.safeParse(body);
  if (!parsed.success) return { kind: 'error', message: `unexpected Prometheus response: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const response = parsed.data;
  if (response.status === 'error') return { kind: 'error', message: `Prometheus error${response.errorType ? ` (${response.errorType})` : ''}: ${response.error}` };
  const data = response.data;
  if (data.resultType === 'matrix' || data.resultType === 'string') {
    return { kind: 'error', message: `the query returned a ${data.resultType}; use an instant vector or scalar query` };
  }
  const samples = data.resultType === 'scalar' ? [data.result[1]] : data.result.map((series) => series.value[1]);
  if (samples.length === 0) return { kind: 'noData', message: 'the query returned no series' };
  const values: number[] = [];
  for (const sample of samples) {
    const value = parseSampleValue(sample);
    if (value === undefined) return { kind: 'error', message: `unparseable sample value ${JSON.stringify(sample)}` };
    values.push(value);
  }
  return values.length === 1 ? { kind: 'value', value: values[0] as number } : { kind: 'values', values };
}

export async function queryPrometheus(request: PrometheusRequest): Promise<ProviderResult> {
  const config: AxiosRequestConfig = {
    params: { query: request.query },
    timeout: request.timeoutMs,
    maxContentLength: request.maxResponseBytes,
    headers: { Accept: 'application/json', ...request.headers },
    // The envelope of a 4xx (bad query) says why; read it instead of throwing it away.
    validateStatus: () => true,
    responseType: 'text',
    transformResponse: (text: unknown) => text,
  };
  if (request.auth?.bearerToken !== undefined) config.headers = { ...config.headers, Authorization: `Bearer ${request.auth.bearerToken}` };
  if (request.auth?.basic !== undefined) config.auth = request.auth.basic;
  try {
    const response = await axios.get<string>(`${request.address.replace(/\/$/, '')}/api/v1/query`, config);
    let body: unknown;
    try {
      body = JSON.parse(response.data);
    } catch {
      return { kind: 'error', message: `HTTP ${response.status}: the answer is not JSON: ${String(response.data).slice(0, 120)}` };
    }
    const result = interpretPrometheusResponse(body);
    if (response.status !== 200 && result.kind !== 'error') return { kind: 'error', message: `HTTP ${response.status}` };
    if (response.status !== 200 && result.kind === 'error') return { kind: 'error', message: `HTTP ${response.status}: ${result.message}` };
    return result;
  } catch (err) {
    return { kind: 'error', message: describeError(err, request.maxResponseBytes) };
  }
}

export interface PrometheusProviderDeps {
  /** --prometheus-address: for metrics that name none. */
  defaultAddress: string | undefined;
  maxResponseBytes: number;
  readSecret: SecretReader;
}

/** One instant query per measurement, judged by the metric's conditions. */
export function prometheusProvider(deps: PrometheusProviderDeps, spec: PrometheusProvider['prometheus']): MeasurementProvider {
  return requestResponse(async ({ metric, args, run, conditions }) => {
    const address = spec.address ?? deps.defaultAddress;
    if (address === undefined) return { phase: 'Error', message: 'no Prometheus address: set provider.prometheus.address or the controller flag --prometheus-address' };
    const auth = spec.authentication;
    const result = await queryPrometheus({
      address: renderUrl(address, args),
      query: renderPromQL(spec.query, args),
      timeoutMs: spec.timeout !== undefined ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
      headers: renderHeaders(spec.headers, args),
      maxResponseBytes: deps.maxResponseBytes,
      ...(auth !== undefined && {
        auth: {
          ...(auth.bearerTokenSecretRef !== undefined && { bearerToken: await deps.readSecret(auth.bearerTokenSecretRef, run.namespace) }),
          ...(auth.basic !== undefined && {
            basic: { username: await deps.readSecret(auth.basic.usernameSecretRef, run.namespace), password: await deps.readSecret(auth.basic.passwordSecretRef, run.namespace) },
          }),
        },
      }),
    });
    return judge(result, conditions, metric.noDataPolicy);
  });
}
