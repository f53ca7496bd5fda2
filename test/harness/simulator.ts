import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Counter, Histogram, Registry } from 'prom-client';
import { Rng, streamSeed } from './random.js';

/**
 * How a version behaves, chosen by its image tag: `-bad` errs and is slow, `-slow` is only slow, and
 * `errors<NN>` fails NN% of requests (with the latency the rest of the tag gives): exactly that share by default,
 * each request with that probability in the simulator's random error mode.
 */
export interface Profile {
  errorRatio: number;
  latencySeconds: number;
}

/** The tag of an image reference: after the last colon of the last path segment, before any `@digest`. */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] ?? '';
  // A colon before the last slash belongs to a registry port, not a tag.
  const name = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  return name.includes(':') ? name.slice(name.lastIndexOf(':') + 1) : '';
}

export function profileForImage(image: string): Profile {
  const tag = imageTag(image).toLowerCase();
  const latencySeconds = tag.includes('bad') || tag.includes('slow') ? 0.8 : 0.05;
  const percent = /errors(\d{1,3})/.exec(tag)?.[1];
  if (percent !== undefined) return { errorRatio: Math.min(100, Number(percent)) / 100, latencySeconds };
  return { errorRatio: tag.includes('bad') ? 0.2 : 0, latencySeconds };
}

/**
 * Whole requests owed to a pod after `elapsedSeconds` more of traffic, carrying the fraction over. Without `random`
 * the errors are exact and deterministic too (a test can predict the error ratio); with it each request fails with
 * the profile's probability, drawn from that stream (binomial counts, as the judge's offline bench draws them).
 */
export class TrafficAccumulator {
  private owed = 0;
  private errorsOwed = 0;

  constructor(
    private readonly requestsPerSecond: number,
    private readonly profile: Profile,
    private readonly random?: Rng,
  ) {}

  tick(elapsedSeconds: number): { ok: number; errors: number } {
    this.owed += this.requestsPerSecond * Math.max(0, elapsedSeconds);
    const total = Math.floor(this.owed + 1e-9);
    this.owed = Math.max(0, this.owed - total);
    const errors = this.random === undefined ? this.exactErrors(total) : this.random.binomial(total, this.profile.errorRatio);
    return { ok: total - errors, errors };
  }

  private exactErrors(total: number): number {
    this.errorsOwed += total * this.profile.errorRatio;
    const errors = Math.floor(this.errorsOwed + 1e-9);
    this.errorsOwed = Math.max(0, this.errorsOwed - errors);
    return errors;
  }
}

/** The simulator's random error mode: every pod draws its failures from a stream of its own, derived from `seed`. */
export interface RandomErrors {
  seed: number;
}

/**
 * One pod's stream for one purpose (its real requests, or its synthetic series): seeded from the run's seed and the
 * pod's namespace/name, so the same seed fails the same requests of the same pod. Undefined in the exact mode.
 */
export function podStream(random: RandomErrors | undefined, purpose: 'requests' | 'series', pod: { namespace: string; name: string }): Rng | undefined {
  return random === undefined ? undefined : new Rng(streamSeed(random.seed, `${purpose}/${pod.namespace}/${pod.name}`, 0));
}

/**
 * The latency of a pod's n-th request: a fixed cycle of five values from 0.75× to 1.25× the profile's
 * typical latency, so the mean is exactly the typical value and quantiles are stable between runs.
 */
export function latencyOf(profile: Profile, n: number): number {
  return profile.latencySeconds * (0.75 + (n % 5) * 0.125);
}

export const POD_TEMPLATE_HASH_LABEL = 'fledge.dev/pod-template-hash';

/** Where a pod answers when its containers declare no port: the demo app's port. */
export const DEFAULT_POD_PORT = 8080;

/** What the simulator serves traffic for: a Ready, not terminating Pod with a pod-template-hash label. */
export interface SimulatedPod {
  namespace: string;
  name: string;
  hash: string;
  image: string;
  profile: Profile;
  /** status.podIP, where the pod's own servers listen; undefined until kwok assigned one. */
  ip: string | undefined;
  /** The TCP ports its containers declare, or DEFAULT_POD_PORT when none does. */
  ports: number[];
  /** Its `role` label (set by canaryMetadata / stableMetadata), exported as the series' `role` label, as a relabelling would. */
  role: string;
}

function tcpPorts(pod: k8s.V1Pod): number[] {
  const declared = (pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
  return declared.length > 0 ? [...new Set(declared)] : [DEFAULT_POD_PORT];
}

export function simulatedPod(pod: k8s.V1Pod): SimulatedPod | undefined {
  const name = pod.metadata?.name;
  const namespace = pod.metadata?.namespace;
  const hash = pod.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL];
  if (!name || !namespace || !hash) return undefined;
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return undefined;
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  if (!ready) return undefined;
  const image = pod.spec?.containers[0]?.image ?? '';
  return { namespace, name, hash, image, profile: profileForImage(image), ip: pod.status?.podIP || undefined, ports: tcpPorts(pod), role: pod.metadata?.labels?.['role'] ?? '' };
}

/** How a pod answers `GET /`: the body and header the demo app sends, and a status from its profile. */
export interface Answer {
  status: 200 | 500;
  /** Seconds to wait before answering. */
  delaySeconds: number;
  body: { version: string; pod: string; hash: string };
}

/**
 * A pod's answers, request after request: exactly the profile's share of them fail, spread evenly (for 20% every
 * fifth), or with `random` each fails with that probability; latency cycles as latencyOf says, times
 * `latencyScale` (0 answers at once).
 */
export class PodBehaviour {
  private readonly errors: TrafficAccumulator;
  private served = 0;

  constructor(
    private readonly pod: SimulatedPod,
    private readonly latencyScale: number,
    random?: Rng,
  ) {
    this.errors = new TrafficAccumulator(1, pod.profile, random);
  }

  next(): Answer {
    const failed = this.errors.tick(1).errors > 0;
    return {
      status: failed ? 500 : 200,
      delaySeconds: this.latencyScale * latencyOf(this.pod.profile, this.served++),
      body: { version: imageTag(this.pod.image), pod: this.pod.name, hash: this.pod.hash },
    };
  }
}

function serveMetrics(registry: Registry, res: ServerResponse): void {
  registry.metrics().then(
    (text) => {
      res.setHeader('Content-Type', registry.contentType);
      res.end(text);
    },
    (err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    },
  );
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A listener another pod's server may still hold (kwok reuses a deleted pod's IP) is retried this long. */
const BIND_RETRY_MS = 10_000;

/**
 * A pod's own HTTP servers, one per port on its IP, answering as the demo app would, with /metrics counting
 * what they really served. Its series appear with the first request, so a pod nobody sends traffic to adds
 * nothing to queries beside the simulator's synthetic series.
 */
function servePod(pod: SimulatedPod & { ip: string }, latencyScale: number, random: Rng | undefined, log: (line: string) => void): { close: () => Promise<void> } {
  const registry = new Registry();
  const requests = new Counter({ name: 'http_requests_total', help: 'Requests served, by status code.', labelNames: ['code'] as const, registers: [registry] });
  const latency = new Histogram({ name: 'http_request_duration_seconds', help: 'Request latency.', buckets: LATENCY_BUCKETS, registers: [registry] });
  const behaviour = new PodBehaviour(pod, latencyScale, random);
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const servers = pod.ports.map((port) => {
    const server = createServer((req, res) => {
      if (new URL(req.url ?? '/', 'http://pod').pathname === '/metrics') return serveMetrics(registry, res);
      const started = process.hrtime.bigint();
      const answer = behaviour.next();
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.statusCode = answer.status;
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('X-Fledge-Version', answer.body.version);
        res.setHeader('X-Fledge-Pod-Template-Hash', answer.body.hash);
        res.end(JSON.stringify(answer.body));
        requests.inc({ code: String(answer.status) });
        latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }, answer.delaySeconds * 1000);
      timers.add(timer);
    });
    const where = `${pod.namespace}/${pod.name} on ${pod.ip}:${port}`;
    const deadline = Date.now() + BIND_RETRY_MS;
    const listen = (): void => {
      if (!closed) server.listen(port, pod.ip);
    };
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && Date.now() < deadline) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          listen();
        }, 250);
        timers.add(timer);
        return;
      }
      const hint = err.code === 'EADDRNOTAVAIL' ? ' (the pod IP range is not local: cluster:up adds it to lo)' : '';
      log(`cannot serve ${where}: ${err.message}${hint}`);
    });
    listen();
    return server;
  });

  return {
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              if (!server.listening) return resolve();
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}

export interface SimulatorOptions {
  kubeconfig: string;
  namespaces: string[];
  /** Prometheus file_sd directory: the simulator registers itself there while it runs. */
  targetsDir: string;
  /** Port for /metrics on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** How often traffic is added; 250 ms by default. */
  tickMs?: number;
  /** Requests per second per Ready pod; 20 by default. */
  requestsPerSecond?: number;
  /**
   * Times the profile's latency for requests the pods really serve: 0 (the default) answers at once, so tests
   * that send thousands of requests stay fast; 1 answers as slowly as the profile says (0.05 s, 0.8 s when slow).
   */
  latencyScale?: number;
  /**
   * Fail each request at random with its profile's error ratio, from a seeded stream per pod, instead of exactly
   * that share spread evenly (the default, which makes live decisions deterministic).
   */
  randomErrors?: RandomErrors;
  /** Where bind errors and the like go; stderr by default. */
  log?: (line: string) => void;
}

export interface Simulator {
  /** http://127.0.0.1:<port>; metrics are at `${url}/metrics`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Serves, for every Ready Pod of a Rollout (by its pod-template-hash label), the metrics that Pod would
 * produce under steady traffic: http_requests_total by status code and a latency histogram. The fake
 * nodes run no containers, so this is what real Prometheus scrapes in tests and the demo.
 *
 * A Pod's series exist only while it is Ready: they start at zero (so the first scrape already gives rate()
 * a base) and are removed when it turns unready or goes away, so Prometheus marks them stale at once.
 *
 * Each such Pod also answers real requests on its own IP (status.podIP) and container ports, as the demo
 * app would: a gateway routes to it through its Service's endpoints, and Prometheus's pod discovery scrapes
 * its own /metrics, which count only those real requests. A port that cannot be bound is logged and skipped.
 */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const registry = new Registry();
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'Requests served, by status code.',
    labelNames: ['namespace', 'pod', 'pod_template_hash', 'role', 'code'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Request latency.',
    labelNames: ['namespace', 'pod', 'pod_template_hash', 'role'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const requestsPerSecond = opts.requestsPerSecond ?? 20;
  const log = opts.log ?? ((line: string): void => void process.stderr.write(`simulator: ${line}\n`));

  interface Live {
    pod: SimulatedPod;
    traffic: TrafficAccumulator;
    served: number;
    servers: { close: () => Promise<void> } | undefined;
  }
  // One entry (and one set of series) per live pod, keyed by namespace/name.
  const live = new Map<string, Live>();
  const keyOf = (pod: k8s.V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
  const labelsOf = (pod: SimulatedPod): { namespace: string; pod: string; pod_template_hash: string; role: string } => ({
    namespace: pod.namespace,
    pod: pod.name,
    pod_template_hash: pod.hash,
    role: pod.role,
  });

  /** Drops a pod's series and closes its servers; resolves once they are closed. */
  const forgetKey = async (key: string): Promise<void> => {
    const known = live.get(key);
    if (known === undefined) return;
    live.delete(key);
    const labels = labelsOf(known.pod);
    for (const code of ['200', '500']) requests.remove({ ...labels, code });
    latency.remove(labels);
    await known.servers?.close();
  };
  const observe = (object: k8s.V1Pod): void => {
    const key = keyOf(object);
    const pod = simulatedPod(object);
    const known = live.get(key);
    if (pod === undefined) return void forgetKey(key);
    // Same pod, same version, same address: keep its counters. A relabelled or re-imaged pod starts new series.
    const same = (a: SimulatedPod, b: SimulatedPod): boolean => a.hash === b.hash && a.role === b.role && a.image === b.image && a.ip === b.ip && a.ports.join() === b.ports.join();
    if (known && same(known.pod, pod)) return;
    void forgetKey(key);
    const { ip } = pod;
    const servers = ip === undefined || stopped ? undefined : servePod({ ...pod, ip }, opts.latencyScale ?? 0, podStream(opts.randomErrors, 'requests', pod), log);
    live.set(key, { pod, traffic: new TrafficAccumulator(requestsPerSecond, pod.profile, podStream(opts.randomErrors, 'series', pod)), served: 0, servers });
    const labels = labelsOf(pod);
    requests.inc({ ...labels, code: '200' }, 0);
    requests.inc({ ...labels, code: '500' }, 0);
    latency.zero(labels);
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (path !== '/metrics') {
      res.statusCode = 404;
      res.end('not found: the simulator serves /metrics\n');
      return;
    }
    serveMetrics(registry, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    server.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  // Registered before the informers start: Prometheus's service discovery passes new targets on only every
  // 5 s, so the sooner it sees the file the sooner the first scrape. Written whole and renamed into place,
  // because Prometheus watches the directory and must never read half a file.
  const targetFile = join(opts.targetsDir, `simulator-${port}.json`);
  const partial = join(opts.targetsDir, `.simulator-${port}.json.tmp`);
  writeFileSync(partial, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { job: 'workload-simulator' } }]));
  renameSync(partial, targetFile);

  let stopped = false;
  const restarts = new Set<NodeJS.Timeout>();
  const informers = opts.namespaces.map((namespace) => {
    const informer = k8s.makeInformer<k8s.V1Pod>(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: POD_TEMPLATE_HASH_LABEL }),
      POD_TEMPLATE_HASH_LABEL,
    );
    informer.on(k8s.ADD, observe);
    informer.on(k8s.UPDATE, observe);
    informer.on(k8s.DELETE, (pod) => void forgetKey(keyOf(pod)));
    // The informer stops on an error (apiserver restart, network); try again every second until stopped.
    const restart = (): void => {
      if (stopped) return;
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopped) informer.start().catch(restart);
      }, 1000);
      restarts.add(timer);
    };
    informer.on(k8s.ERROR, restart);
    return informer;
  });
  const stopInformers = async (): Promise<void> => {
    stopped = true;
    for (const timer of restarts) clearTimeout(timer);
    await Promise.all(informers.map((informer) => informer.stop()));
  };
  const unregister = async (): Promise<void> => {
    rmSync(targetFile, { force: true });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  try {
    await Promise.all(informers.map((informer) => informer.start()));
  } catch (err) {
    await stopInformers();
    await unregister();
    throw err;
  }

  const tickMs = opts.tickMs ?? 250;
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    const elapsed = (now - last) / 1000;
    last = now;
    for (const state of live.values()) {
      const { ok, errors } = state.traffic.tick(elapsed);
      const labels = labelsOf(state.pod);
      if (ok > 0) requests.inc({ ...labels, code: '200' }, ok);
      if (errors > 0) requests.inc({ ...labels, code: '500' }, errors);
      for (let i = 0; i < ok + errors; i++) latency.observe(labels, latencyOf(state.pod.profile, state.served++));
    }
  }, tickMs);

  return {
    url,
    stop: async () => {
      if (stopped) return;
      clearInterval(ticker);
      await stopInformers();
      await Promise.all([...live.keys()].map(forgetKey));
      await unregister();
    },
  };
}
