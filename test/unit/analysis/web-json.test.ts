import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebProvider } from '../../../src/api/analysis.js';
import { compileCondition, compileMetricConditions, ConditionError } from '../../../src/analysis/condition.js';
import { judge } from '../../../src/analysis/measure.js';
import { DEFAULT_MAX_RESPONSE_BYTES, formatValue } from '../../../src/analysis/providers/result.js';
import { interpretWebValue, queryWeb } from '../../../src/analysis/providers/web.js';
import type { NoDataPolicy } from '../../../src/api/analysis.js';

const BODIES: Record<string, unknown> = {
  '/argo': { data: { ok: true } },
  '/status': { status: 'ok', latency: 0.12, pods: ['a', 'b'] },
  '/degraded': { status: 'degraded' },
  '/string': { data: { state: 'healthy', rate: '0.97' } },
  '/null': { data: { ok: null } },
  '/number': { data: { rate: 0.97 } },
};

let server: Server;
let address: string;
beforeAll(async () => {
  server = createServer((req, res) => res.end(JSON.stringify(BODIES[new URL(req.url ?? '/', 'http://x').pathname] ?? {})));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** One web measurement as the controller takes it: the metric's conditions compiled for its provider, the answer judged. */
async function measure(path: string, jsonPath: string | undefined, conditions: { successCondition?: string; failureCondition?: string }, noDataPolicy?: NoDataPolicy) {
  const provider = { web: { url: `${address}${path}`, ...(jsonPath !== undefined && { jsonPath }) } };
  expect(WebProvider.safeParse(provider).success).toBe(true);
  const compiled = compileMetricConditions({ name: 'm', provider, ...conditions });
  const result = await queryWeb({ url: provider.web.url, method: 'GET', headers: {}, timeoutMs: 1000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, ...(jsonPath !== undefined && { jsonPath }) });
  return judge(result, compiled, noDataPolicy);
}

describe('web metric results of any JSON type (Argo semantics)', () => {
  it("passes Argo's documented example: jsonPath {$.data.ok}, successCondition result == true", async () => {
    expect(await measure('/argo', '{$.data.ok}', { successCondition: 'result == true' })).toEqual({ phase: 'Successful', value: 'true' });
    expect(await measure('/argo', '{$.data.ok}', { successCondition: 'result' })).toMatchObject({ phase: 'Successful' });
    expect(await measure('/argo', '{$.data.ok}', { failureCondition: '!result' })).toMatchObject({ phase: 'Successful' });
  });

  it('keeps a string a string, shown as JSON', async () => {
    expect(await measure('/string', '$.data.state', { successCondition: 'result == "healthy"' })).toEqual({ phase: 'Successful', value: '"healthy"' });
    expect(await measure('/string', '$.data.state', { successCondition: 'result.startsWith("un")' })).toMatchObject({ phase: 'Failed' });
    // A number sent as a string is the number it always was here, so Argo's asFloat(result), translated, reads it too.
    expect(await measure('/string', '$.data.rate', { successCondition: 'double(result) > 0.9' })).toEqual({ phase: 'Successful', value: '0.97' });
    expect(await measure('/string', '$.data.rate', { successCondition: 'result > 0.9' })).toEqual({ phase: 'Successful', value: '0.97' });
  });

  it('passes an object as a map: result.status == "ok"', async () => {
    expect(await measure('/status', '$', { successCondition: 'result.status == "ok"' })).toMatchObject({ phase: 'Successful' });
    expect(await measure('/degraded', '$', { successCondition: 'result.status == "ok"' })).toMatchObject({ phase: 'Failed', value: '{"status":"degraded"}' });
    expect(await measure('/status', '$', { successCondition: 'result.status == "ok" && result.latency < 0.5 && size(result.pods) == 2' })).toMatchObject({ phase: 'Successful' });
  });

  it('without a jsonPath, judges the whole answer (as Argo does)', async () => {
    expect(WebProvider.safeParse({ web: { url: 'http://x' } }).success).toBe(true);
    expect(await measure('/status', undefined, { successCondition: 'result.status == "ok"' })).toEqual({
      phase: 'Successful',
      value: '{"status":"ok","latency":0.12,"pods":["a","b"]}',
    });
    expect(await measure('/argo', undefined, { successCondition: 'result.data.ok' })).toMatchObject({ phase: 'Successful' });
  });

  it('keeps a JSON number a double under the usual rules', async () => {
    expect(await measure('/number', '$.data.rate', { successCondition: 'result > 0.9' })).toEqual({ phase: 'Successful', value: '0.97' });
    expect(await measure('/number', '$.data.rate', { successCondition: 'result >= 1' })).toMatchObject({ phase: 'Failed' });
    expect(judge({ kind: 'value', value: Number.POSITIVE_INFINITY }, compileMetricConditions({ name: 'm', provider: { web: { url: 'x' } }, failureCondition: 'result < 0.5' }))).toMatchObject({ phase: 'Inconclusive' });
  });

  it('makes null or a missing path no data, which the noDataPolicy decides', async () => {
    expect(await measure('/null', '$.data.ok', { successCondition: 'result == true' })).toMatchObject({ phase: 'Inconclusive', message: expect.stringContaining('no data: $.data.ok is null') });
    expect(await measure('/null', '$.data.ok', { successCondition: 'result == true' }, 'Fail')).toMatchObject({ phase: 'Failed' });
    expect(await measure('/argo', '$.data.nope', { successCondition: 'result == true' }, 'Pass')).toMatchObject({ phase: 'Successful' });
    expect(interpretWebValue(null, undefined)).toEqual({ kind: 'noData', message: 'the answer is null' });
  });

  it('makes a condition that cannot be evaluated on the value an Error, never Successful', async () => {
    const onString = await measure('/string', '$.data.state', { successCondition: 'result > 0.9' });
    expect(onString).toMatchObject({ phase: 'Error', value: '"healthy"', message: expect.stringMatching(/result > 0\.9.*cannot be evaluated with result the string "healthy": no such overload/) });
    // A failureCondition that errors does not fall through to a passing successCondition.
    expect(await measure('/argo', '$.data', { failureCondition: 'result > 0.5', successCondition: 'true' })).toMatchObject({ phase: 'Error' });
    expect(await measure('/degraded', '$', { successCondition: 'result.missing == "x"' })).toMatchObject({ phase: 'Error', message: expect.stringContaining('No such key') });
    // A condition that is dyn to the checker and turns out not to be bool.
    expect(await measure('/number', '$.data.rate', { successCondition: 'result' })).toMatchObject({ phase: 'Error', message: expect.stringContaining('not a bool') });
  });
});

describe('web conditions are checked before any measurement, result typed dyn', () => {
  it.each(['result == true', 'result', 'result.status == "ok"', 'result > 0.9', 'result.all(x, x > 1)', 'result[0] >= 0.95', 'has(result.status) && result.status == "ok"'])('accepts %s', (expression) => {
    expect(compileCondition(expression, 'json').resultType).toBe('json');
  });

  it.each([
    ['result + 1', /is int, not bool/],
    ['"ok"', /is string, not bool/],
    ['result.map(x, x * 2)', /not bool/],
    ['result >= ', /does not parse/],
    ['latency > 1.0', /Unknown variable: latency/],
  ])('refuses %s', (expression, reason) => {
    expect(() => compileCondition(expression, 'json')).toThrow(ConditionError);
    expect(() => compileCondition(expression, 'json')).toThrow(reason);
  });

  it('keeps Prometheus typing exactly: result is a double or a list of doubles', () => {
    const prometheus = { prometheus: { address: 'http://p', query: 'q' } };
    expect(() => compileMetricConditions({ name: 'm', provider: prometheus, successCondition: 'result == true' })).toThrow(/does not type-check to bool/);
    expect(() => compileMetricConditions({ name: 'm', provider: prometheus, successCondition: 'result.status == "ok"' })).toThrow(ConditionError);
    expect([...compileMetricConditions({ name: 'm', provider: prometheus, successCondition: 'result > 0.9' }).success!.kinds]).toEqual(['double']);
    expect(compileMetricConditions({ name: 'm', provider: { web: { url: 'x' } }, successCondition: 'result == true' }).success?.resultType).toBe('json');
  });
});

describe('a JSON value in a measurement', () => {
  it('is shown as compact JSON, cut at 256 characters', () => {
    expect(formatValue({ kind: 'json', value: true })).toBe('true');
    expect(formatValue({ kind: 'json', value: 'ok' })).toBe('"ok"');
    expect(formatValue({ kind: 'json', value: { a: [1, 'x'] } })).toBe('{"a":[1,"x"]}');
    const long = formatValue({ kind: 'json', value: { pad: 'x'.repeat(1000) } }) ?? '';
    expect(long).toHaveLength(256);
    expect(long.endsWith('...')).toBe(true);
  });
});
