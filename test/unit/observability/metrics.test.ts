import axios from 'axios';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerMetrics, healthRoutes, metricsRoutes, serveHttp, type HttpEndpoint } from '../../../src/observability/metrics.js';

const open: HttpEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((endpoint) => endpoint.close()));
});

describe('ControllerMetrics', () => {
  it('keeps exactly one phase at 1 per Rollout and forgets deleted Rollouts', async () => {
    const metrics = new ControllerMetrics();
    metrics.observeRollout('shop', 'api', 'Progressing', 20);
    metrics.observeRollout('shop', 'api', 'Paused', 20);
    let text = await metrics.registry.metrics();
    expect(text).toContain('fledge_rollout_phase{namespace="shop",name="api",phase="Paused"} 1');
    expect(text).toContain('fledge_rollout_phase{namespace="shop",name="api",phase="Progressing"} 0');
    expect(text).toContain('fledge_rollout_info{namespace="shop",name="api",phase="Paused"} 1');
    expect(text).not.toContain('fledge_rollout_info{namespace="shop",name="api",phase="Progressing"}');
    expect(text).toContain('fledge_rollout_canary_weight{namespace="shop",name="api"} 20');
    metrics.recordAbort('shop', 'api', 'Analysis');
    metrics.recordAbort('shop', 'api', 'Manual');
    metrics.recordAbort('shop', 'web', 'Manual');
    text = await metrics.registry.metrics();
    expect(text).toContain('fledge_rollout_aborts_total{namespace="shop",name="api",reason="Analysis"} 1');
    metrics.forgetRollout('shop', 'api');
    text = await metrics.registry.metrics();
    expect(text).not.toContain('name="api"');
    expect(text, 'another Rollout keeps its series').toContain('fledge_rollout_aborts_total{namespace="shop",name="web",reason="Manual"} 1');
  });
});

describe('fledge_cache_objects', () => {
  it('counts what each cache holds when scraped', async () => {
    const metrics = new ControllerMetrics();
    const services: string[] = ['a'];
    metrics.countCachedObjects([{ name: 'services', list: () => services }, { name: 'rollouts', list: () => [] }]);
    expect(await metrics.registry.metrics()).toContain('fledge_cache_objects{informer="services"} 1');
    services.push('b');
    const text = await metrics.registry.metrics();
    expect(text).toContain('fledge_cache_objects{informer="services"} 2');
    expect(text).toContain('fledge_cache_objects{informer="rollouts"} 0');
  });
});

describe('serveHttp', () => {
  it('serves /metrics, /healthz, and /readyz that is 503 until ready', async () => {
    const metrics = new ControllerMetrics();
    metrics.reconcileErrors.inc({ controller: 'rollout' });
    let ready = false;
    const endpoint = await serveHttp('127.0.0.1', 0, { ...metricsRoutes(metrics), ...healthRoutes(() => ready) });
    open.push(endpoint);
    const get = (path: string) => axios.get<string>(`${endpoint.url}${path}`, { validateStatus: () => true, responseType: 'text' });
    const scraped = await get('/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.data).toContain('fledge_reconcile_errors_total{controller="rollout"} 1');
    expect(scraped.data).toContain('fledge_process_cpu_seconds_total');
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
  });
});
