import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestNamespace, eventually, kubectl, prometheusUrl, testKubeConfig } from '../harness/e2e.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string): Promise<Sample[]> {
  const res = await axios.get<{ status: string; data: { resultType: string; result: Sample[] } }>(`${prometheusUrl()}/api/v1/query`, {
    params: { query: promql },
  });
  expect(res.data.status).toBe('success');
  return res.data.data.result;
}

/** The single value of an instant query, or undefined while Prometheus has no sample (or only NaN). */
async function scalar(promql: string): Promise<number | undefined> {
  const [first] = await query(promql);
  if (first === undefined) return undefined;
  const value = Number(first.value[1]);
  return Number.isNaN(value) ? undefined : value;
}

const log = (line: string): void => void process.stderr.write(`simulator e2e: ${line}\n`);

describe('the workload simulator, scraped by the real Prometheus', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let simulator: Simulator;
  let apps: k8s.AppsV1Api;
  let startedAt: number;

  const replicaSet = (name: string, hash: string, image: string): k8s.V1ReplicaSet => {
    const labels = { app: 'sim', 'fledge.dev/pod-template-hash': hash };
    return {
      metadata: { name },
      spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image }] } } },
    };
  };
  const errorRatio = (hash: string): string =>
    `sum(rate(http_requests_total{namespace="${ns.name}",pod_template_hash="${hash}",code=~"5.."}[10s]))` +
    ` / sum(rate(http_requests_total{namespace="${ns.name}",pod_template_hash="${hash}"}[10s]))`;
  const p99 = (hash: string): string =>
    `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="${ns.name}",pod_template_hash="${hash}"}[10s])))`;
  const metricsText = async (): Promise<string> => (await axios.get<string>(`${simulator.url}/metrics`, { responseType: 'text' })).data;

  beforeAll(async () => {
    ns = await createTestNamespace('simulator');
    apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedReplicaSet({ namespace: ns.name, body: replicaSet('bad', 'abc', 'demo:v2-bad') });
    await apps.createNamespacedReplicaSet({ namespace: ns.name, body: replicaSet('good', 'good', 'demo:v1') });
    startedAt = Date.now();
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
  });
  afterAll(async () => {
    await simulator.stop();
    await ns.remove();
  });

  it('serves one series set per Ready pod, labelled with its namespace, pod, pod-template-hash and role label', async () => {
    const text = await eventually('4 Ready pods in /metrics', async () => {
      const body = await metricsText();
      const pods = new Set([...body.matchAll(/http_requests_total\{[^}]*pod="([^"]+)"/g)].map((m) => m[1]));
      return pods.size === 4 ? body : undefined;
    });
    for (const hash of ['abc', 'good']) {
      const pods = new Set([...text.matchAll(new RegExp(`http_requests_total\\{namespace="${ns.name}",pod="([^"]+)",pod_template_hash="${hash}",role="",code="200"\\}`, 'g'))].map((m) => m[1]));
      expect(pods.size, hash).toBe(2);
      for (const pod of pods) expect(pod).toMatch(hash === 'abc' ? /^bad-/ : /^good-/);
    }
    // Both codes exist from the start, so "no errors" is a measured 0 rather than an empty result.
    expect(text).toMatch(new RegExp(`http_requests_total\\{namespace="${ns.name}",pod="good-[^"]+",pod_template_hash="good",role="",code="500"\\} 0\\n`));
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="2.5",namespace="[^"]+",pod="bad-[^"]+",pod_template_hash="abc",role=""\}/);
  });

  it('gives Prometheus a 20% error ratio and ~0.8 s latency for the bad version, none and ~0.05 s for the good one', async () => {
    const firstRate = await eventually('a first rate sample in Prometheus', async () =>
      (await scalar(`sum(rate(http_requests_total{namespace="${ns.name}",pod_template_hash="abc"}[10s]))`)) !== undefined ? Date.now() : undefined,
      { intervalMs: 100 },
    );
    log(`first rate sample ${firstRate - startedAt} ms after the simulator started (ReplicaSets created just before it)`);

    const bad = await eventually('the bad version at a 20% error ratio', async () => {
      const ratio = await scalar(errorRatio('abc'));
      return ratio !== undefined && ratio >= 0.15 && ratio <= 0.25 ? ratio : undefined;
    }, { intervalMs: 250 });
    log(`bad error ratio ${bad.toFixed(4)} after ${Date.now() - startedAt} ms`);
    expect(bad).toBeGreaterThanOrEqual(0.15);
    expect(bad).toBeLessThanOrEqual(0.25);

    const good = await scalar(errorRatio('good'));
    expect(good).toBe(0);

    // Each pod serves ~20 req/s. rate() over [10s] reads low until the window holds 10 s of samples.
    const badRate = await eventually('2 pods × 20 req/s', async () => {
      const rate = await scalar(`sum(rate(http_requests_total{namespace="${ns.name}",pod_template_hash="abc"}[10s]))`);
      return rate !== undefined && rate > 2 * 20 * 0.8 && rate < 2 * 20 * 1.2 ? rate : undefined;
    }, { timeoutMs: 30_000 });
    log(`bad request rate ${badRate.toFixed(2)}/s (full window) after ${Date.now() - startedAt} ms`);
    expect(await scalar(errorRatio('abc'))).toBeCloseTo(0.2, 2);

    const badP99 = await scalar(p99('abc'));
    const goodP99 = await scalar(p99('good'));
    log(`p99: bad ${badP99} s, good ${goodP99} s`);
    expect(badP99).toBeGreaterThan(0.5);
    expect(badP99).toBeLessThanOrEqual(1);
    expect(goodP99).toBeGreaterThan(0);
    expect(goodP99).toBeLessThanOrEqual(0.1);
  });

  it('drops the series of pods that go away, in /metrics and then in Prometheus', async () => {
    const scaled = await kubectl(['scale', 'replicaset', 'bad', '--replicas=0', '-n', ns.name]);
    expect(scaled.code, scaled.stderr).toBe(0);
    const scaledAt = Date.now();

    await eventually('the bad pods gone from /metrics', async () => ((await metricsText()).includes('pod_template_hash="abc"') ? undefined : true));
    log(`bad series gone from /metrics ${Date.now() - scaledAt} ms after scaling to 0`);
    const text = await metricsText();
    expect(text).toMatch(/pod_template_hash="good"/);
    expect(text).not.toMatch(/pod="bad-/);

    // A series missing from a scrape is marked stale at once, so the instant query stops returning it.
    await eventually('the bad series stale in Prometheus', async () =>
      (await query(`http_requests_total{namespace="${ns.name}",pod_template_hash="abc"}`)).length === 0 ? true : undefined,
    );
    log(`bad series stale in Prometheus ${Date.now() - scaledAt} ms after scaling to 0`);
    const goodSeries = await query(`http_requests_total{namespace="${ns.name}",pod_template_hash="good"}`);
    expect(goodSeries).toHaveLength(4);
  });

  it('unregisters from Prometheus and closes /metrics when stopped', async () => {
    const port = new URL(simulator.url).port;
    const targetFile = join(inject('prometheusTargetsDir'), `simulator-${port}.json`);
    expect(existsSync(targetFile)).toBe(true);
    await simulator.stop();
    expect(existsSync(targetFile)).toBe(false);
    await expect(axios.get(`${simulator.url}/metrics`, { timeout: 2000 })).rejects.toThrow();
  });
});
