import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryPrometheus } from '../../../src/analysis/providers/prometheus.js';
import { queryWeb } from '../../../src/analysis/providers/web.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';
import { renderPromQL } from '../../../src/analysis/query.js';

interface Seen {
  method: string;
  path: string;
  query: string | null;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let address: string;
const seen: Seen[] = [];

const ok = (value: string): string =>
  JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1700000000, value] }] } });

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      seen.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams.get('query'), headers: req.headers, body });
      if (url.pathname === '/api/v1/query') return void res.end(ok('0.99'));
      if (url.pathname === '/big/api/v1/query') return void res.end('<html>'.repeat(1000));
      if (url.pathname === '/huge') return void res.end(`{"pad":"${'x'.repeat(DEFAULT_MAX_RESPONSE_BYTES + 1024)}","v":1}`);
      if (url.pathname === '/slow') return void setTimeout(() => res.end('{"v":1}'), 2000);
      if (url.pathname === '/boom') {
        res.statusCode = 503;
        return void res.end('upstream down');
      }
      if (url.pathname === '/special') return void res.end(JSON.stringify({ v: ['+Inf', '-Inf', 'NaN'] }));
      if (url.pathname === '/flag') return void res.end(JSON.stringify({ healthy: true }));
      res.end(JSON.stringify({ data: { rates: [{ value: 0.5 }, { value: '0.97' }] } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('prometheus provider over HTTP', () => {
  it('sends basic credentials', async () => {
    await queryPrometheus({ address: `${address}/`, query: 'up', timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, headers: {}, auth: { basic: { username: 'ops', password: 'p@ss' } } });
    expect(seen.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from('ops:p@ss').toString('base64')}`);
    expect(seen.at(-1)?.path).toBe('/api/v1/query');
  });

  it('delivers an injection attempt to Prometheus as one escaped string literal', async () => {
    const query = renderPromQL('sum(rate(http_requests_total{pod_template_hash="{{args.hash}}"}[5m]))', { hash: '"} or vector(1) #' });
    expect(await queryPrometheus({ address, query, timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, headers: {} })).toEqual({ kind: 'value', value: 0.99 });
    // What arrives is the template with the value inside its quotes; the quote the attacker sent is escaped.
    expect(seen.at(-1)?.query).toBe('sum(rate(http_requests_total{pod_template_hash="\\"} or vector(1) #"}[5m]))');
  });

  it('refuses an answer over the size limit as an error', async () => {
    expect(await queryPrometheus({ address: `${address}/big`, query: 'up', timeoutMs: 1000, maxResponseBytes: 1024, headers: {} })).toEqual({
      kind: 'error',
      message: 'the answer is larger than 1024 bytes (--max-provider-response-bytes); refused',
    });
  });

  it('refuses an injection attempt outside a string before anything is sent', () => {
    expect(() => renderPromQL('rate(x[{{args.window}}]) > 0', { window: '5m]) or vector(1) #' })).toThrow(/only be used inside a quoted string/);
  });
});

describe('web provider over HTTP', () => {
  const web = (path: string, jsonPath: string | undefined, extra: Partial<Parameters<typeof queryWeb>[0]> = {}) =>
    queryWeb({ url: `${address}${path}`, method: 'GET', headers: {}, timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, ...(jsonPath !== undefined && { jsonPath }), ...extra });

  it('posts a JSON body as application/json, unless the template names a Content-Type', async () => {
    await web('/metrics', '$.data.rates[1].value', { method: 'POST', body: '{"service":"api"}' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', body: '{"service":"api"}' });
    expect(seen.at(-1)?.headers['content-type']).toBe('application/json');
    await web('/metrics', '$.x', { method: 'PUT', body: 'service=api' });
    expect(seen.at(-1)?.headers['content-type']).toBe('text/plain; charset=utf-8');
    await web('/metrics', '$.x', { method: 'POST', body: '{}', headers: { 'content-type': 'application/vnd.api+json', 'X-Team': 'a' } });
    expect(seen.at(-1)?.headers).toMatchObject({ 'content-type': 'application/vnd.api+json', 'x-team': 'a' });
  });

  it('follows object keys and array indexes', async () => {
    expect(await web('/metrics', '$.data.rates[1].value')).toEqual({ kind: 'value', value: 0.97 });
    expect(await web('/metrics', '$.data.rates[0].value')).toEqual({ kind: 'value', value: 0.5 });
    expect(await web('/metrics', '$.data.rates[2].value')).toMatchObject({ kind: 'noData' });
    expect(await web('/metrics', '$.data.rates')).toEqual({ kind: 'json', value: [{ value: 0.5 }, { value: '0.97' }] });
  });

  it('reads numbers written as strings, special floats included, as the numbers they always were', async () => {
    const result = await web('/special', '$.v');
    expect(result.kind).toBe('values');
    const values = result.kind === 'values' ? result.values : [];
    expect(values.slice(0, 2)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(values[2]).toBeNaN();
  });

  it('passes a bool through, and the whole answer without a jsonPath', async () => {
    expect(await web('/flag', '$.healthy')).toEqual({ kind: 'json', value: true });
    expect(await web('/flag', '{$}')).toEqual({ kind: 'json', value: { healthy: true } });
    expect(await web('/flag', undefined)).toEqual({ kind: 'json', value: { healthy: true } });
  });

  it('turns a non-2xx, a timeout and an oversized answer into errors', async () => {
    expect(await web('/boom', '$.v')).toEqual({ kind: 'error', message: 'HTTP 503: upstream down' });
    expect(await web('/slow', '$.v', { timeoutMs: 150 })).toMatchObject({ kind: 'error', message: expect.stringContaining('did not finish within its 150 ms deadline') });
    expect(await web('/huge', '$.v')).toEqual({ kind: 'error', message: `the answer is larger than ${DEFAULT_MAX_RESPONSE_BYTES} bytes (--max-provider-response-bytes); refused` });
    expect(await web('/metrics', '$.data.rates[0].value', { maxResponseBytes: 16 })).toMatchObject({ kind: 'error', message: expect.stringContaining('larger than 16 bytes') });
  });
});
