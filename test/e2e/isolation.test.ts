import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, recordWatch, startController, type ControllerProcess } from '../harness/e2e.js';
import { namespaceKit } from '../harness/namespace-kit.js';
import { startPrometheusImpostor, vector, type PrometheusImpostor } from '../harness/prometheus-impostor.js';

interface RolloutObject {
  metadata: { name: string; generation?: number };
  spec?: { template?: { spec?: { containers?: Array<{ image?: string }> } } };
  status?: RolloutStatus;
}

/** A watch of a namespace's Rollouts that stamps each version with when it arrived, for timings on one clock. */
async function timedRolloutWatch(namespace: string) {
  const recording = await recordWatch<RolloutObject>(`/apis/fledge.dev/v1alpha1/namespaces/${namespace}/rollouts`);
  const of = (name: string): Array<{ at: number; rollout: RolloutObject }> =>
    recording.timed().flatMap(({ at, object }) => (object.metadata.name === name ? [{ at, rollout: object }] : []));
  return {
    of,
    /** When the apiserver first showed `name` with `image`, and when first promoted past `initialStable` after that. */
    timing: (name: string, image: string, initialStable: string): { changedAt: number; promotedAt: number } | undefined => {
      const events = of(name);
      const changed = events.find((e) => e.rollout.spec?.template?.spec?.containers?.[0]?.image === image);
      if (changed === undefined) return undefined;
      const promoted = events.find(
        (e) => e.at >= changed.at && e.rollout.status?.phase === 'Healthy' && e.rollout.status.stableRevision !== undefined && e.rollout.status.stableRevision !== initialStable,
      );
      return promoted === undefined ? undefined : { changedAt: changed.at, promotedAt: promoted.at };
    },
    stop: (): Promise<RolloutObject[]> => recording.stop(),
  };
}

/** A valid, passing instant-vector answer, as Prometheus sends it. */
const passingAnswer = (): Buffer =>
  Buffer.from(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: { pod: 'pod-0' }, value: [Date.now() / 1000, '0.01'] }] } }));

interface TestBackend {
  /** The metric's `provider.prometheus.address`; its origin is the backend the controller limits. */
  address: string;
  /** Instant queries received. */
  received(): number;
  /** Requests received and neither answered in full nor hung up on yet. */
  open(): number;
  /** The most requests ever open at once. */
  maxOpen(): number;
  /** Requests whose answer was sent in full. */
  answered(): number;
  /** Requests the client hung up on before the whole answer was sent. */
  hungUp(): number;
  stop(): Promise<void>;
}

/**
 * A Prometheus on 127.0.0.1 whose instant queries `answer` handles. `answer` puts every timer it starts in `timers`
 * and clears it when the connection closes; stop() clears whatever is left and closes every connection.
 */
async function startBackend(answer: (req: IncomingMessage, res: ServerResponse, timers: Set<NodeJS.Timeout>) => void): Promise<TestBackend> {
  let received = 0;
  let open = 0;
  let maxOpen = 0;
  let answered = 0;
  let hungUp = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://backend').pathname !== '/api/v1/query') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not a query\n');
      return;
    }
    received++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    res.once('close', () => {
      open--;
      if (res.writableFinished) answered++;
      else hungUp++;
    });
    answer(req, res, timers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    open: () => open,
    maxOpen: () => maxOpen,
    answered: () => answered,
    hungUp: () => hungUp,
    stop: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Answers a passing vector one byte every `byteEveryMs`; stops when the client hangs up, and after the last byte. */
function dripping(byteEveryMs: number) {
  return (_req: IncomingMessage, res: ServerResponse, timers: Set<NodeJS.Timeout>): void => {
    const body = passingAnswer();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
    res.flushHeaders();
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || sent >= body.length) {
        clearInterval(timer);
        timers.delete(timer);
        return;
      }
      const byte = body.subarray(sent, sent + 1);
      sent++;
      if (sent === body.length) res.end(byte);
      else res.write(byte);
    }, byteEveryMs);
    timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };
}

/** Answers a passing vector after `delayMs`, unless the client has gone by then. */
function delayed(delayMs: number) {
  return (_req: IncomingMessage, res: ServerResponse, timers: Set<NodeJS.Timeout>): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (res.destroyed) return;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(passingAnswer());
    }, delayMs);
    timers.add(timer);
    res.once('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  };
}

/** The value of one series of a Prometheus text exposition, or undefined if it is absent. */
function seriesValue(exposition: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

const analysisTemplate = (name: string, address: string, metric: { count: number; timeout: string; consecutiveErrorLimit?: number }): string =>
  JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'AnalysisTemplate',
    metadata: { name },
    spec: {
      metrics: [
        {
          name: 'error-rate',
          interval: '1s',
          count: metric.count,
          ...(metric.consecutiveErrorLimit !== undefined && { consecutiveErrorLimit: metric.consecutiveErrorLimit }),
          successCondition: 'result < 0.05',
          provider: { prometheus: { address, timeout: metric.timeout, query: 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))' } },
        },
      ],
    },
  });

/**
 * One pod. `steps` 'canary-then-analysis': a canary pod at 50 %, then the analysis step, then promotion.
 * 'analysis-first': the analysis step before any canary pod, so an aborted canary never starts or stops a pod.
 */
const rollout = (name: string, template: string, image: string, steps: 'canary-then-analysis' | 'analysis-first' = 'canary-then-analysis'): string =>
  JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: {
        canary: { steps: [...(steps === 'canary-then-analysis' ? [{ setWeight: 50 }] : []), { analysis: { templates: [{ templateName: template }] } }] },
      },
    },
  });

const isAborted = (s: RolloutStatus): boolean => s.phase === 'Degraded' && s.abort === true;
const DEADLINE_MESSAGE = /^the Prometheus query to http:\/\/127\.0\.0\.1:\d+ did not finish within its 3 s deadline \(gave up after [\d.]+ m?s\)$/;

describe('a backend that drips its answers delays only the runs that measure against it', () => {
  const SLOW = 50;
  const slowNames = Array.from({ length: SLOW }, (_, i) => `slow-${String(i).padStart(2, '0')}`);
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let kit: ReturnType<typeof namespaceKit>;
  let healthy: PrometheusImpostor;
  let drip: TestBackend;
  let controller: ControllerProcess;
  let watch: Awaited<ReturnType<typeof timedRolloutWatch>>;
  const initialStable = new Map<string, string>();
  /** /metrics of the dripping backend, sampled from the moment the slow canaries start until they have all ended. */
  const samples: Array<{ at: number; inFlight: number | undefined; queued: number | undefined; deadlines: number | undefined }> = [];
  let sampling = false;
  let sampler: Promise<void> | undefined;
  let beside: { changedAt: number; promotedAt: number } | undefined;

  const scrape = async (): Promise<string> => (await fetch(controller.metricsUrl() ?? '')).text();
  const dripSample = async () => {
    const text = await scrape();
    return {
      at: Date.now(),
      inFlight: seriesValue(text, 'fledge_analysis_measurements_in_flight', { backend: drip.address }),
      queued: seriesValue(text, 'fledge_analysis_measurements_queued', { backend: drip.address }),
      deadlines: seriesValue(text, 'fledge_analysis_measurements_answered_total', { backend: drip.address, outcome: 'deadline' }),
    };
  };

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('isolation');
    kit = namespaceKit(ns.name);
    healthy = await startPrometheusImpostor({ healthy: vector('0.01') });
    // About 90 bytes at one every 400 ms: 36 s for a whole, passing answer, which the 3 s deadline never waits for.
    drip = await startBackend(dripping(400));
    controller = await startController(ns.name);
    await eventually('the controller serving /metrics', async () => controller.metricsUrl());
    watch = await timedRolloutWatch(ns.name);
    await kit.apply(
      [
        analysisTemplate('healthy', healthy.address('healthy'), { count: 3, timeout: '3s' }),
        analysisTemplate('dripping', drip.address, { count: 1, timeout: '3s', consecutiveErrorLimit: 0 }),
        rollout('solo', 'healthy', 'demo:v1'),
        rollout('beside', 'healthy', 'demo:v1'),
        // The slow canaries start no pod: what they load the controller with is their measurements.
        ...slowNames.map((name) => rollout(name, 'dripping', 'demo:v1', 'analysis-first')),
      ].join('\n---\n'),
    );
    const all = ['solo', 'beside', ...slowNames];
    const statuses = await eventually(
      `all ${all.length} Rollouts Healthy on demo:v1`,
      async () => {
        const s = await kit.statuses();
        return all.every((name) => s.get(name)?.phase === 'Healthy' && s.get(name)?.stableRevision !== undefined) ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    for (const name of all) initialStable.set(name, statuses.get(name)?.stableRevision as string);
  });
  afterAll(async (ctx) => {
    sampling = false;
    await sampler;
    const watchGap = await watch?.stop().then(() => undefined, (err: unknown) => err);
    await controller?.kill();
    await healthy?.stop();
    await drip?.stop();
    if (watchGap !== undefined || ctx.tasks.some((t) => t.result?.state !== 'pass')) process.stderr.write(`controller output:\n${controller?.output().slice(-30_000)}\n`);
    await ns?.remove();
    if (watchGap !== undefined) throw watchGap;
  });

  it(`promotes a healthy canary beside ${SLOW} canaries measuring a dripping backend within 2 s of its time alone`, async () => {
    // Alone: nothing else measures anywhere.
    await kit.setImage('solo', 'demo:v2');
    const alone = await eventually('solo promoted on demo:v2', async () => watch.timing('solo', 'demo:v2', initialStable.get('solo') as string), { timeoutMs: 60_000, intervalMs: 100 });
    expect(drip.received()).toBe(0);

    // The slow canaries, all at once; once the dripping backend is full and most of them are queued, the healthy one.
    await Promise.all(slowNames.map((name) => kit.setImage(name, 'demo:v2')));
    sampling = true;
    sampler = (async () => {
      while (sampling) {
        const sample = await dripSample().catch(() => undefined);
        if (sample !== undefined) samples.push(sample);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    // Every slow canary has reached its analysis and asked its measurement (in flight, queued or already timed out),
    // so what the healthy canary shares the controller with is the slow backend, not 50 canaries being scaled up.
    const herd = await eventually(
      `all ${SLOW} slow measurements asked, the dripping backend full, and at least ${SLOW / 2} queued for it`,
      async () => {
        const last = samples.at(-1);
        if (last === undefined || drip.open() !== 4 || last.inFlight !== 4) return undefined;
        return (last.queued ?? 0) >= SLOW / 2 && (last.queued ?? 0) + last.inFlight + (last.deadlines ?? 0) === SLOW ? last : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    await kit.setImage('beside', 'demo:v2');
    beside = await eventually('beside promoted on demo:v2', async () => watch.timing('beside', 'demo:v2', initialStable.get('beside') as string), { timeoutMs: 60_000, intervalMs: 100 });

    const aloneMs = alone.promotedAt - alone.changedAt;
    const besideMs = beside.promotedAt - beside.changedAt;
    const slowChanged = slowNames.map((name) => watch.of(name).find((e) => e.rollout.spec?.template?.spec?.containers?.[0]?.image === 'demo:v2')?.at ?? Number.NaN);
    const window = samples.filter((s) => s.at >= (beside as { changedAt: number }).changedAt && s.at <= (beside as { promotedAt: number }).promotedAt);
    process.stderr.write(
      `isolation: healthy canary alone ${aloneMs} ms, beside ${SLOW} canaries measuring a dripping backend ${besideMs} ms (difference ${besideMs - aloneMs} ms); ` +
        `the ${SLOW} slow canaries changed within ${Math.max(...slowChanged) - Math.min(...slowChanged)} ms, the healthy one ${beside.changedAt - Math.min(...slowChanged)} ms after the first, with ${herd.queued} queued and ${herd.deadlines ?? 0} timed out; ` +
        `dripping backend during it: in flight ${window.map((s) => s.inFlight).join(',')}, queued ${window.map((s) => s.queued).join(',')}\n`,
    );
    // The slow backend was full, with a queue, the whole time the healthy canary was measured.
    expect(window.length).toBeGreaterThan(0);
    expect(window.filter((s) => s.inFlight !== 4 || (s.queued ?? 0) === 0)).toEqual([]);
    expect(besideMs - aloneMs).toBeLessThanOrEqual(2_000);
    // Both healthy runs took their three measurements, all passing.
    for (const name of ['solo', 'beside']) {
      const s = await kit.status(name);
      const runs = await kit.runsOf(name, s.stableRevision as string);
      expect(runs.map((run) => run.status?.phase), name).toEqual(['Successful']);
      expect(runs[0]?.status?.metricResults?.[0], name).toMatchObject({ count: 3, successful: 3, error: 0 });
    }
  });

  it('never promotes a canary on a dripped answer: each one errors at its 3 s deadline and is aborted', async () => {
    const statuses = await eventually(
      `all ${SLOW} slow canaries aborted`,
      async () => {
        const s = await kit.statuses();
        return slowNames.every((name) => isAborted(s.get(name) ?? {})) ? s : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    sampling = false;
    await sampler;
    for (const name of slowNames) {
      // Never promoted, in any version the apiserver wrote.
      const promoted = watch.of(name).filter((e) => e.rollout.status?.stableRevision !== undefined && e.rollout.status.stableRevision !== initialStable.get(name));
      expect(promoted.map((e) => e.rollout.status), name).toEqual([]);
      expect(statuses.get(name)?.stableRevision, name).toBe(initialStable.get(name));
    }
    const runs = (await kit.runs()).filter((run) => slowNames.includes(run.metadata.labels?.['fledge.dev/rollout'] ?? ''));
    expect(runs).toHaveLength(SLOW);
    for (const run of runs) {
      const metric = run.status?.metricResults?.[0];
      expect(run.status?.phase, run.metadata.name).toBe('Error');
      expect(metric, run.metadata.name).toMatchObject({ phase: 'Error', count: 0, successful: 0, error: 1 });
      expect(metric?.measurements.map((m) => m.phase)).toEqual(['Error']);
      expect(metric?.measurements[0]?.message).toMatch(DEADLINE_MESSAGE);
      const took = Date.parse(metric?.measurements[0]?.finishedAt ?? '') - Date.parse(metric?.measurements[0]?.startedAt ?? '');
      // Timestamps in seconds: the deadline, not the 36 s the whole answer takes.
      expect(took, run.metadata.name).toBeLessThanOrEqual(5_000);
    }
    // No dripped answer was ever read to its end.
    expect(drip.answered()).toBe(0);
    expect(drip.hungUp()).toBeGreaterThanOrEqual(SLOW);
  });

  it('never has more than 4 measurements in flight to the dripping backend, and counts each deadline', async () => {
    const final = await dripSample();
    const all = [...samples, final];
    const inFlight = all.map((s) => s.inFlight ?? 0);
    const deadlines = all.map((s) => s.deadlines ?? 0);
    process.stderr.write(
      `isolation: ${all.length} samples of /metrics for the dripping backend: max in flight ${Math.max(...inFlight)}, max queued ${Math.max(...all.map((s) => s.queued ?? 0))}, ` +
        `deadlines ${deadlines[0]} -> ${final.deadlines}; backend saw ${drip.received()} requests, at most ${drip.maxOpen()} open at once\n`,
    );
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...inFlight)).toBe(4);
    expect(drip.maxOpen()).toBe(4);
    // The counter never goes down, grows while the slow canaries are measured, and ends with one per slow run at least.
    expect(deadlines.slice(1).every((d, i) => d >= (deadlines[i] as number))).toBe(true);
    expect(final.deadlines ?? 0).toBeGreaterThan(deadlines[0] as number);
    expect(final.deadlines).toBeGreaterThanOrEqual(SLOW);
    expect(final.inFlight ?? 0).toBe(0);
    expect(final.queued ?? 0).toBe(0);
  });
});

describe('SIGKILL of the controller while a measurement is in flight', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let kit: ReturnType<typeof namespaceKit>;
  let backend: TestBackend;
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('isolation-kill');
    kit = namespaceKit(ns.name);
    backend = await startBackend(delayed(2_000));
  });
  afterAll(async (ctx) => {
    for (const controller of controllers) await controller.kill();
    await backend?.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await ns?.remove();
  });

  it('asks the unanswered measurement again after a restart, and counts each of the 3 exactly once', async () => {
    await kit.apply([analysisTemplate('slow-but-fine', backend.address, { count: 3, timeout: '5s' }), rollout('lazarus', 'slow-but-fine', 'demo:v1')].join('\n---\n'));
    let controller = await startController(ns.name);
    controllers.push(controller);
    const stable = (await kit.waitFor('lazarus', 'Healthy on demo:v1', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined)).stableRevision as string;
    await kit.setImage('lazarus', 'demo:v2');

    // The second measurement: asked, not answered (the first is then already recorded, and must stay counted once).
    await eventually('the second measurement in flight', async () => (backend.received() === 2 && backend.open() === 1 ? true : undefined), { timeoutMs: 60_000, intervalMs: 20 });
    await controller.kill('SIGKILL');
    const before = { received: backend.received(), answered: backend.answered() };
    await eventually('the backend sees the killed controller hang up', async () => (backend.open() === 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    expect(before).toEqual({ received: 2, answered: 1 });
    expect(backend.hungUp()).toBe(1);

    controller = await startController(ns.name);
    controllers.push(controller);
    const done = await kit.waitFor('lazarus', 'promoted on demo:v2', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined && s.stableRevision !== stable);
    const canary = done.currentRevision as string;
    expect(done.stableRevision).toBe(canary);

    const runs = await kit.runsOf('lazarus', canary);
    process.stderr.write(
      `isolation SIGKILL: backend saw ${backend.received()} requests (${backend.answered()} answered, ${backend.hungUp()} hung up); run ${runs[0]?.status?.phase}, ${JSON.stringify(runs[0]?.status?.metricResults?.[0]?.measurements.map((m) => m.phase))}\n`,
    );
    expect(runs).toHaveLength(1);
    const metric = runs[0]?.status?.metricResults?.[0];
    expect(runs[0]?.status?.phase).toBe('Successful');
    expect(metric).toMatchObject({ phase: 'Successful', count: 3, successful: 3, failed: 0, inconclusive: 0, error: 0 });
    expect(metric?.measurements.map((m) => m.phase)).toEqual(['Successful', 'Successful', 'Successful']);
    // The one the kill cut off was asked again: 2 before the kill, then the second once more, then the third.
    expect(backend.received()).toBeGreaterThanOrEqual(4);
    expect(backend.answered()).toBeGreaterThanOrEqual(3);
  });
});
