import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PHASES = ['Progressing', 'Paused', 'Healthy', 'Degraded'] as const;

/**
 * The controller's own metrics. Labels are bounded by design: Rollouts by namespace and name only,
 * API requests by verb, resource kind and status code (never by object name), reasons and phases from
 * fixed sets. Argo Rollouts' per-object request counter is the cautionary tale.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly rolloutInfo = new Gauge({
    name: 'fledge_rollout_info',
    help: 'One per Rollout, with its current phase as a label value of 1.',
    labelNames: ['namespace', 'name', 'phase'] as const,
    registers: [this.registry],
  });
  readonly rolloutPhase = new Gauge({
    name: 'fledge_rollout_phase',
    help: '1 for the phase the Rollout is in, 0 for the others.',
    labelNames: ['namespace', 'name', 'phase'] as const,
    registers: [this.registry],
  });
  readonly canaryWeight = new Gauge({
    name: 'fledge_rollout_canary_weight',
    help: 'Percent of traffic (without a router: of available pods) on the canary.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'fledge_reconcile_duration_seconds',
    help: 'Time to reconcile one object.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'fledge_reconcile_errors_total',
    help: 'Reconciles that failed and were retried with backoff.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly analysisMeasurements = new Counter({
    name: 'fledge_analysis_measurements_total',
    help: 'Analysis measurements taken, by metric name and outcome.',
    labelNames: ['namespace', 'metric', 'phase'] as const,
    registers: [this.registry],
  });
  readonly measurementsInFlight = new Gauge({
    name: 'fledge_analysis_measurements_in_flight',
    help: 'Measurements asked of a backend and not yet answered, by backend (scheme, host and port).',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });
  readonly measurementsQueued = new Gauge({
    name: 'fledge_analysis_measurements_queued',
    help: "Measurements waiting for a slot of their backend's in-flight limit, by backend.",
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });
  readonly measurementsAnswered = new Counter({
    name: 'fledge_analysis_measurements_answered_total',
    help: 'Measurements a backend answered (or failed to within its deadline), by backend and outcome: ok, error or deadline.',
    labelNames: ['backend', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly aborts = new Counter({
    name: 'fledge_rollout_aborts_total',
    help: 'Rollouts aborted, by what aborted them.',
    labelNames: ['namespace', 'name', 'reason'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'fledge_workqueue_depth',
    help: 'Keys waiting in the work queue.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'fledge_workqueue_latency_seconds',
    help: 'Time a key waited in the work queue before a worker took it.',
    labelNames: ['controller'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'fledge_api_requests_total',
    help: 'Kubernetes API requests by verb, resource kind and HTTP status code.',
    labelNames: ['verb', 'resource', 'code'] as const,
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'fledge_rollout_status_writes_total',
    help: 'Rollout status changes: written, or deferred (only counts changed; written with the next decided change, or once they are 30 s old).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'fledge_events_total',
    help: 'Kubernetes Events recorded, by outcome: created, aggregated (a repeat counted on an earlier Event), combined (a transition told within its object\'s next one), dropped (too many waiting), failed.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'fledge_leader',
    help: '1 while this process holds the leader Lease.',
    registers: [this.registry],
  });
  readonly shardHeld = new Gauge({
    name: 'fledge_shard_held',
    help: 'With --shards: 1 for each shard this replica holds the Lease of and acts on, 0 for the others.',
    labelNames: ['shard'] as const,
    registers: [this.registry],
  });

  /** The phase label each Rollout's info series carries, so the old series can be removed exactly. */
  private readonly infoPhase = new Map<string, string>();
  /** The abort reasons counted per Rollout, likewise. */
  private readonly abortReasons = new Map<string, Set<string>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'fledge_' });
  }

  /** Sets the phase gauges of one Rollout: exactly one phase is 1. */
  observeRollout(namespace: string, name: string, phase: string | undefined, weight: number | undefined): void {
    for (const candidate of PHASES) this.rolloutPhase.set({ namespace, name, phase: candidate }, candidate === phase ? 1 : 0);
    const key = `${namespace}/${name}`;
    const previous = this.infoPhase.get(key);
    if (previous !== undefined && previous !== phase) this.rolloutInfo.remove({ namespace, name, phase: previous });
    if (phase !== undefined) {
      this.rolloutInfo.set({ namespace, name, phase }, 1);
      this.infoPhase.set(key, phase);
    }
    if (weight !== undefined) this.canaryWeight.set({ namespace, name }, weight);
  }

  /** fledge_cache_objects: objects held in each informer cache, counted at scrape time (memory grows with them). */
  countCachedObjects(caches: ReadonlyArray<{ name: string; list(): ReadonlyArray<unknown> }>): void {
    new Gauge({
      name: 'fledge_cache_objects',
      help: 'Objects held in each informer cache.',
      labelNames: ['informer'] as const,
      registers: [this.registry],
      collect() {
        for (const cache of caches) this.set({ informer: cache.name }, cache.list().length);
      },
    });
  }

  /**
   * fledge_shard_rollouts and fledge_shard_queue_depth, by shard, counted at scrape time: the Rollouts of each shard
   * this replica holds (0 for the others, so a sum over replicas counts each Rollout once), and the keys waiting in the
   * work queues, by the shard they belong to.
   */
  countShards(counts: { rollouts: () => readonly number[]; queued: () => readonly number[] }): void {
    const perShard = (name: string, help: string, count: () => readonly number[]): void =>
      void new Gauge({
        name,
        help,
        labelNames: ['shard'] as const,
        registers: [this.registry],
        collect() {
          count().forEach((value, shard) => this.set({ shard: String(shard) }, value));
        },
      });
    perShard('fledge_shard_rollouts', 'Rollouts of each shard this replica holds (0 for shards it does not).', counts.rollouts);
    perShard('fledge_shard_queue_depth', 'Keys waiting in the work queues, by shard.', counts.queued);
  }

  recordAbort(namespace: string, name: string, reason: string): void {
    this.aborts.inc({ namespace, name, reason });
    const key = `${namespace}/${name}`;
    this.abortReasons.set(key, (this.abortReasons.get(key) ?? new Set()).add(reason));
  }

  /** Drops every series of a deleted Rollout, so label sets do not outlive their objects. */
  forgetRollout(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    for (const phase of PHASES) this.rolloutPhase.remove({ namespace, name, phase });
    const phase = this.infoPhase.get(key);
    if (phase !== undefined) this.rolloutInfo.remove({ namespace, name, phase });
    this.infoPhase.delete(key);
    this.canaryWeight.remove({ namespace, name });
    for (const reason of this.abortReasons.get(key) ?? []) this.aborts.remove({ namespace, name, reason });
    this.abortReasons.delete(key);
  }

}

export interface HttpEndpoint {
  url: string;
  close(): Promise<void>;
}

export interface HttpReply {
  status: number;
  body: string;
  contentType?: string;
}

/** A tiny HTTP server for a fixed set of GET paths (metrics, probes). */
export async function serveHttp(host: string, port: number, routes: Record<string, () => Promise<HttpReply>>): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const route = routes[(req.url ?? '/').split('?')[0] ?? '/'];
    if (route === undefined) {
      res.statusCode = 404;
      res.end('not found\n');
      return;
    }
    route()
      .then((reply) => {
        res.statusCode = reply.status;
        res.setHeader('Content-Type', reply.contentType ?? 'text/plain; charset=utf-8');
        res.end(reply.body);
      })
      .catch((err: unknown) => {
        res.statusCode = 500;
        res.end(`${err instanceof Error ? err.message : String(err)}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function metricsRoutes(metrics: ControllerMetrics): Record<string, () => Promise<HttpReply>> {
  return {
    '/metrics': async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
  };
}

/** /healthz: the process serves requests. /readyz: its caches have synced (and, with leader election, it runs). */
export function healthRoutes(ready: () => boolean): Record<string, () => Promise<HttpReply>> {
  return {
    '/healthz': async () => ({ status: 200, body: 'ok\n' }),
    '/readyz': async () => (ready() ? { status: 200, body: 'ok\n' } : { status: 503, body: 'caches not synced\n' }),
  };
}
