import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';
import { queryPrometheus } from '../../../src/analysis/providers/prometheus.js';
import { parseSampleValue } from '../../../src/analysis/providers/result.js';
import { queryWeb, selectJsonPath } from '../../../src/analysis/providers/web.js';

const vector = (...values: string[]): unknown => ({
  status: 'success',
  data: { resultType: 'vector', result: values.map((value, i) => ({ metric: { pod: `p${i}` }, value: [1700000000, value] })) },
});

/** Canned answers by query text, served by a real HTTP server on loopback. */
const ANSWERS: Record<string, (res: import('node:http').ServerResponse) => void> = {
  one: (res) => res.end(JSON.stringify(vector('0.97'))),
  three: (res) => res.end(JSON.stringify(vector('0.5', '0.6', '0.7'))),
  empty: (res) => res.end(JSON.stringify(vector())),
  scalar: (res) => res.end(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1700000000, '42'] } })),
  nan: (res) => res.end(JSON.stringify(vector('NaN'))),
  inf: (res) => res.end(JSON.stringify(vector('+Inf'))),
  neginf: (res) => res.end(JSON.stringify(vector('-Inf'))),
  envelope: (res) => {
    res.statusCode = 400;
    res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 5' }));
  },
  http500: (res) => {
    res.statusCode = 500;
    res.end('internal error');
  },
  garbage: (res) => res.end('<html>proxy login</html>'),
  slow: (res) => void setTimeout(() => res.end(JSON.stringify(vector('1'))), 2000),
  matrix: (res) => res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } })),
};

let server: Server;
let address: string;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/query') {
      const answer = ANSWERS[url.searchParams.get('query') ?? ''];
      if (answer) return answer(res);
    }
    if (url.pathname === '/web/ok') return void res.end(JSON.stringify({ data: { successRate: '0.99', series: [1, 2] } }));
    if (url.pathname === '/web/missing') return void res.end(JSON.stringify({ data: {} }));
    if (url.pathname === '/web/text') return void res.end(JSON.stringify({ data: { successRate: 'high' } }));
    res.statusCode = 404;
    res.end('no');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const prom = (query: string, timeoutMs = 1000) => queryPrometheus({ address, query, timeoutMs, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, headers: { 'X-Scope-OrgID': 'team-a' }, auth: { bearerToken: 's3cret' } });

describe('prometheus provider', () => {
  it('reads a single-sample vector as one number, a multi-sample one as a list, a scalar as a number', async () => {
    expect(await prom('one')).toEqual({ kind: 'value', value: 0.97 });
    expect(await prom('three')).toEqual({ kind: 'values', values: [0.5, 0.6, 0.7] });
    expect(await prom('scalar')).toEqual({ kind: 'value', value: 42 });
  });

  it('sends headers and the bearer token', async () => {
    await prom('one');
    const request = seen.at(-1);
    expect(request?.headers['x-scope-orgid']).toBe('team-a');
    expect(request?.headers.authorization).toBe('Bearer s3cret');
  });

  it('reports an empty vector as no data', async () => {
    expect(await prom('empty')).toMatchObject({ kind: 'noData' });
  });

  it('parses NaN, +Inf and -Inf from their string forms', async () => {
    const nan = await prom('nan');
    expect(nan.kind === 'value' && Number.isNaN(nan.value)).toBe(true);
    expect(await prom('inf')).toEqual({ kind: 'value', value: Number.POSITIVE_INFINITY });
    expect(await prom('neginf')).toEqual({ kind: 'value', value: Number.NEGATIVE_INFINITY });
    expect(Number('+Inf')).toBeNaN();
  });

  it('turns an error envelope, a 500, a non-JSON body, a matrix and a timeout into errors', async () => {
    expect(await prom('envelope')).toEqual({ kind: 'error', message: 'HTTP 400: Prometheus error (bad_data): parse error at char 5' });
    expect(await prom('http500')).toMatchObject({ kind: 'error', message: expect.stringContaining('HTTP 500') });
    expect(await prom('garbage')).toMatchObject({ kind: 'error', message: expect.stringContaining('not JSON') });
    expect(await prom('matrix')).toMatchObject({ kind: 'error', message: expect.stringContaining('matrix') });
    expect(await prom('slow', 200)).toMatchObject({ kind: 'error', message: expect.stringContaining('did not finish within its 200 ms deadline') });
  });

  it('reports an unreachable server as an error', async () => {
    const result = await queryPrometheus({ address: 'http://127.0.0.1:1', query: 'one', timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, headers: {} });
    expect(result).toMatchObject({ kind: 'error', message: expect.stringContaining('ECONNREFUSED') });
  });
});

describe('web provider', () => {
  const web = (path: string, jsonPath: string) => queryWeb({ url: `${address}${path}`, method: 'GET', headers: {}, timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, jsonPath });

  it('selects a value by JSON path, numeric strings read as numbers; any other string stays a string', async () => {
    expect(await web('/web/ok', '$.data.successRate')).toEqual({ kind: 'value', value: 0.99 });
    expect(await web('/web/ok', '$.data.series')).toEqual({ kind: 'values', values: [1, 2] });
    expect(await web('/web/ok', '$.data.series[1]')).toEqual({ kind: 'value', value: 2 });
  });

  it('treats a missing path as no data and a 404 as an error', async () => {
    expect(await web('/web/missing', '$.data.successRate')).toMatchObject({ kind: 'noData' });
    expect(await web('/web/text', '$.data.successRate')).toEqual({ kind: 'json', value: 'high' });
    expect(await web('/nope', '$.x')).toMatchObject({ kind: 'error', message: expect.stringContaining('HTTP 404') });
  });

  it('never follows inherited properties', () => {
    expect(selectJsonPath({}, '$.constructor')).toBeUndefined();
    expect(selectJsonPath({ a: [5] }, '$.a[0]')).toBe(5);
  });
});

describe('sample values', () => {
  it('accepts numbers and special floats, rejects anything else', () => {
    expect(parseSampleValue('1e3')).toBe(1000);
    expect(parseSampleValue('-0.5')).toBe(-0.5);
    expect(parseSampleValue('0x10')).toBeUndefined();
    expect(parseSampleValue('')).toBeUndefined();
    expect(parseSampleValue('12abc')).toBeUndefined();
  });
});
