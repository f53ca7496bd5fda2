import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Counter, Histogram, Registry } from 'prom-client';

/** How a version behaves, chosen by its image tag: `-bad` errs and is slow, `-slow` is only slow. */
export interface Profile {
  errorRatio: number;
  latencySeconds: number;
}

export function profileForImage(image: string): Profile {
  // The tag follows the last colon after the last slash; a colon before it belongs to a registry port.
  const name = image.slice(image.lastIndexOf('/') + 1);
  const tag = name.includes(':') ? name.slice(name.lastIndexOf(':') + 1) : '';
  if (tag.includes('bad')) return { errorRatio: 0.2, latencySeconds: 0.8 };
  if (tag.includes('slow')) return { errorRatio: 0, latencySeconds: 0.8 };
  return { errorRatio: 0, latencySeconds: 0.05 };
}

/**
 * Whole requests owed to a pod after `elapsedSeconds` more of traffic, carrying the fraction over, so
 * counts are exact and deterministic (no randomness: a test can predict the error ratio).
 */
export class TrafficAccumulator {
  private owed = 0;
  private errorsOwed = 0;

  constructor(
    private readonly requestsPerSecond: number,
    private readonly profile: Profile,
  ) {}

  tick(elapsedSeconds: number): { ok: number; errors: number } {
    this.owed += this.requestsPerSecond * elapsedSeconds;
    const total = Math.floor(this.owed);
    this.owed -= total;
    this.errorsOwed += total * this.profile.errorRatio;
    const errors = Math.floor(this.errorsOwed + 1e-9);
    this.errorsOwed -= errors;
    return { ok: total - errors, errors };
  }
}

export interface SimulatorOptions {
  kubeconfig: string;
  namespaces: string[];
  /** Prometheus file_sd directory: the simulator registers itself there. */
  targetsDir: string;
  port?: number;
  tickMs?: number;
  requestsPerSecond?: number;
}

export interface Simulator {
  url: string;
  stop(): Promise<void>;
}

const LABEL_HASH = 'fledge.dev/pod-template-hash';

function isReady(pod: k8s.V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined && (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);
}

/**
 * Serves, for every Ready Pod of a Rollout (by its pod-template-hash label), the metrics that Pod would
 * produce under steady traffic: http_requests_total by status code and a latency histogram. The fake
 * nodes run no containers, so this is what real Prometheus scrapes in tests and the demo.
 */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const registry = new Registry();
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'Requests served, by status code.',
    labelNames: ['namespace', 'pod', 'pod_template_hash', 'code'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Request latency.',
    labelNames: ['namespace', 'pod', 'pod_template_hash'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  interface Live {
    namespace: string;
    hash: string;
    traffic: TrafficAccumulator;
    profile: Profile;
  }
  const live = new Map<string, Live>();
  const forget = (pod: k8s.V1Pod): void => {
    const name = pod.metadata?.name ?? '';
    const known = live.get(name);
    if (known === undefined) return;
    live.delete(name);
    for (const code of ['200', '500']) requests.remove({ namespace: known.namespace, pod: name, pod_template_hash: known.hash, code });
    latency.remove({ namespace: known.namespace, pod: name, pod_template_hash: known.hash });
  };
  const observe = (pod: k8s.V1Pod): void => {
    const name = pod.metadata?.name ?? '';
    if (!isReady(pod)) return forget(pod);
    if (live.has(name)) return;
    const profile = profileForImage(pod.spec?.containers[0]?.image ?? '');
    live.set(name, {
      namespace: pod.metadata?.namespace ?? '',
      hash: pod.metadata?.labels?.[LABEL_HASH] ?? '',
      traffic: new TrafficAccumulator(opts.requestsPerSecond ?? 20, profile),
      profile,
    });
  };

  const informers = opts.namespaces.map((namespace) => {
    const informer = k8s.makeInformer<k8s.V1Pod>(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: LABEL_HASH }),
      LABEL_HASH,
    );
    informer.on(k8s.ADD, observe);
    informer.on(k8s.UPDATE, observe);
    informer.on(k8s.DELETE, forget);
    informer.on(k8s.ERROR, () => setTimeout(() => void informer.start().catch(() => undefined), 1000));
    return informer;
  });
  await Promise.all(informers.map((informer) => informer.start()));

  const tickMs = opts.tickMs ?? 250;
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    const elapsed = (now - last) / 1000;
    last = now;
    for (const [pod, state] of live) {
      const { ok, errors } = state.traffic.tick(elapsed);
      const labels = { namespace: state.namespace, pod, pod_template_hash: state.hash };
      if (ok > 0) requests.inc({ ...labels, code: '200' }, ok);
      if (errors > 0) requests.inc({ ...labels, code: '500' }, errors);
      // Latency samples spread evenly around the profile's typical value.
      for (let i = 0; i < ok + errors; i++) latency.observe(labels, state.profile.latencySeconds * (0.75 + (i % 5) * 0.125));
    }
  }, tickMs);

  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    void registry.metrics().then((text) => {
      res.setHeader('Content-Type', registry.contentType);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const targetFile = join(opts.targetsDir, `simulator-${port}.json`);
  writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: 'workload-simulator' } }]));

  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      clearInterval(ticker);
      rmSync(targetFile, { force: true });
      await Promise.all(informers.map((informer) => informer.stop()));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
