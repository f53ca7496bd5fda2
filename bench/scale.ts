// Fledge against Argo Rollouts on the same local control plane, one after the other, each in its own namespace:
// N Rollouts of 1 replica with steps [setWeight 50, pause {}]. Per controller: memory idle and with every canary
// paused, start-up to all Healthy, every template changed at once (canary ReplicaSet latency, all Paused, CPU, API
// requests by verb and resource from the apiserver's audit log), idle API traffic, and one change among N idle
// Rollouts. Writes bench/results/scale.json and prints a table. `npm run bench -- --help` lists the options.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { up } from '../test/harness/cluster.js';
import { CONTROL_PLANE_CLIENT, KUBERNETES_VERSION, KWOK_VERSION, NODE_COUNT, NODE_POD_CAPACITY, kubectlBinary } from '../test/harness/config.js';
import { Api } from './scale/api.js';
import { AuditLog } from './scale/audit.js';
import { argo, fledge, type Controller, type Running } from './scale/controllers.js';
import { cpuSeconds } from './scale/proc.js';
import { rolloutWrites, type RolloutWrites } from './scale/rollout-writes.js';
import { percentiles, type Percentiles } from './scale/stats.js';
import { established, healthy, pausedAtCanary, pool, rolloutManifest, RolloutTracker, sampleMemory, stop, type Memory, type RolloutObject } from './scale/workload.js';

const USAGE = `usage: npm run bench -- [options]
  --n N                  Rollouts (default 1000)
  --qps Q --burst B      each controller's client-side API limit (default 40 and 80, Argo's defaults)
  --unthrottled          --qps 1000 --burst 2000
  --controllers LIST     which to measure, in order: fledge, argo (default fledge,argo)
  --fledge-dir DIR       with fledge: also measure the Fledge built in DIR (its dist/ and node_modules/), e.g. a
                         worktree of an older commit, after this checkout's; repeatable
  --workers N            reconcile workers for every controller (default: each one's own, 10 for both)
  --single-changes K     one-Rollout template changes timed among N idle ones (default 20)
  --idle-seconds S       how long idle API traffic is counted with every canary paused (default 30)`;

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    qps: { type: 'string', default: '40' },
    burst: { type: 'string', default: '80' },
    unthrottled: { type: 'boolean', default: false },
    controllers: { type: 'string', default: 'fledge,argo' },
    'fledge-dir': { type: 'string', multiple: true, default: [] },
    workers: { type: 'string' },
    'single-changes': { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '30' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const root = join(import.meta.dirname, '..');
const n = Number(flags.n);
const qps = flags.unthrottled ? 1000 : Number(flags.qps);
const burst = flags.unthrottled ? 2000 : Number(flags.burst);
const workers = flags.workers === undefined ? undefined : Number(flags.workers);
const singleChanges = Math.min(n, Number(flags['single-changes']));
const idleSeconds = Number(flags['idle-seconds']);
const wanted = flags.controllers.split(',').map((name) => name.trim());
for (const value of [n, qps, burst, singleChanges, idleSeconds, workers ?? 1]) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`every number option must be a positive integer\n${USAGE}`);
}
if (wanted.some((name) => name !== 'fledge' && name !== 'argo')) throw new Error(`--controllers takes fledge and argo\n${USAGE}`);

/** Generous, and scaled with N and with how far below Argo's default QPS the controllers are held. */
const timeoutMs = 300_000 + n * 300 * Math.max(1, 40 / qps);
const FIELD_MANAGER = 'fledge-bench';
const runId = Date.now().toString(36);
const runDir = mkdtempSync(join(tmpdir(), 'fledge-bench-'));
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));






interface EventObject {
  involvedObject?: { kind?: string; name?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
}

interface ReplicaSetObject {
  metadata?: { resourceVersion?: string; ownerReferences?: Array<{ kind: string; name: string }> };
}


interface ControllerResult {
  name: string;
  kind: Controller['kind'];
  version: string;
  namespace: string;
  logFile: string;
  idle: Memory;
  startToAllHealthyMs: number;
  update: {
    canaryReplicaSetMs: Percentiles;
    allPausedMs: number;
    /** Change → the controller's last request before a quiet spell; null if it never went quiet. */
    settledMs: number | null;
    cpuSeconds: { toPaused: number; toSettled: number };
    apiRequests: { toPaused: Requests; toSettled: Requests };
    /** Change → quiet, per Rollout: its writes by kind, the most any one made. */
    writesPerRollout: RolloutWrites;
    /** Rollouts with no Event created of the update by quiet: one dropped from a full queue, still held, or an earlier one counted up (a patch). */
    rolloutsWithoutEvent?: number;
  };
  paused: Memory;
  idleApiRequestsPerSecond: number;
  idleApiRequests: Record<string, number>;
  singleChange: { canaryReplicaSetMs: Percentiles };
  /** A new process started on N idle Rollouts: until each was reconciled once, what it asked of the API, its memory. */
  restart: { toAllReconciledMs: number; apiRequests: Record<string, number>; memory: Memory };
}

interface Requests {
  total: number;
  perRollout: number;
  byVerbResource: Record<string, number>;
}

/** How long the audit log must stay still for a controller to count as done with what it was given. */
const QUIET_MS = 5000;

/**
 * Waits until the controller under test has made no request for QUIET_MS: a controller may reach every pause
 * with work still queued (Events, status), which belongs to the update, not to its idle traffic.
 */
async function settle(audit: AuditLog, capMs: number): Promise<{ lastRequestAt: number; mark: number } | undefined> {
  let mark = audit.mark();
  let stillSince = Date.now();
  for (const deadline = Date.now() + capMs; Date.now() < deadline; await sleep(250)) {
    const now = audit.mark();
    if (now !== mark) [mark, stillSince] = [now, Date.now()];
    else if (Date.now() - stillSince >= QUIET_MS) return { lastRequestAt: audit.lastRequestAt(mark), mark };
  }
  return undefined;
}

/** When the controller's /metrics first said every one of `n` Rollouts was reconciled (polled every 100 ms). */
async function reconciledAll(running: Running, n: number): Promise<number> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    const metrics = await fetch(running.metricsUrl)
      .then((r) => r.text())
      .catch(() => '');
    if (running.reconciledAll(metrics, n)) return Date.now();
  }
  throw new Error(`not every Rollout was reconciled within ${Math.round(timeoutMs / 1000)} s of the restart`);
}



async function main(): Promise<void> {
  const controllers: Controller[] = [];
  for (const name of wanted) {
    if (name === 'argo') controllers.push(argo());
    else {
      log('building this checkout (npm run build)');
      execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
      const gcPreload = join(root, 'bench', 'gc-preload.cjs');
      controllers.push(fledge(root, gcPreload, { other: false }));
      for (const dir of flags['fledge-dir']) controllers.push(fledge(resolve(dir), gcPreload, { other: true }));
    }
  }

  const cluster = await up(log, { buildFor: wanted.includes('argo') ? 'bench' : 'cluster' });
  const api = new Api(cluster.apiserverUrl, cluster.adminToken, readFileSync(cluster.caFile, 'utf8'));
  const audit = new AuditLog(cluster.auditLog);
  // The controllers authenticate as the audited user: its requests are theirs alone.
  const kubeconfig = join(runDir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    readFileSync(cluster.kubeconfig, 'utf8').replace(/token: .*/, `token: ${cluster.auditedToken}`),
    { mode: 0o600 },
  );
  // Its own discovery cache: one that saw Argo's CRDs would map `rollout` to argoproj.io for every later kubectl.
  const kubectl = (args: string[]): string =>
    execFileSync(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, '--cache-dir', join(runDir, 'kube-cache'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  log(`N=${n}, QPS ${qps}/${burst}, controllers ${controllers.map((c) => c.name).join(', ')}; logs in ${runDir}`);

  const names = Array.from({ length: n }, (_, i) => `r${i}`);
  const results: ControllerResult[] = [];
  for (const controller of controllers) {
    const namespace = `bench-${controller.name.replace(/[^a-z0-9]+/g, '-')}-${runId}`;
    const [group] = controller.apiVersion.split('/');
    const rolloutsPath = `/apis/${controller.apiVersion}/namespaces/${namespace}/rollouts`;
    const settings = (phase: string) => ({ kubeconfig, namespace, qps, burst, workers, logFile: join(runDir, `${controller.name}-${phase}.log`) });
    /** Applies one Rollout; answers when the apiserver acknowledged it, and the generation it gave the spec. */
    const applyOne = async (i: number, image: string): Promise<{ at: number; generation: number }> => {
      const applied = (await api.apply(`${rolloutsPath}/r${i}`, rolloutManifest(controller.apiVersion, namespace, i, image), FIELD_MANAGER)) as RolloutObject;
      return { at: Date.now(), generation: applied.metadata?.generation ?? 0 };
    };
    const applyAll = (image: string): Promise<Array<{ at: number; generation: number }>> => pool(n, 32, (i) => applyOne(i, image));

    log(`${controller.name}: CRDs and namespace ${namespace}`);
    kubectl(['apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, controller.crds.kustomize ? '-k' : '-f', controller.crds.path]);
    await established(api, `rollouts.${group}`);
    kubectl(['create', 'namespace', namespace]);

    let running: Running | undefined;
    const stopWatches: Array<() => void> = [];
    try {
      running = await controller.start(settings('idle'));
      await running.ready;
      await sleep(10_000);
      const idle = await sampleMemory(running);
      log(`${controller.name}: idle RSS ${(idle.rssBytes / 1e6).toFixed(1)} MB`);
      await stop(running);

      log(`${controller.name}: ${n} Rollouts prestaged, then the controller started`);
      await applyAll('bench/app:v1');
      const tracker = new RolloutTracker(timeoutMs);
      stopWatches.push(await tracker.follow(api, rolloutsPath));
      const startedAt = Date.now();
      running = await controller.start(settings('run'));
      const startToAllHealthyMs = (await tracker.waitFor(names, healthy, 'Healthy')) - startedAt;
      log(`${controller.name}: all Healthy ${(startToAllHealthyMs / 1000).toFixed(1)} s after start`);
      // Quiet first (the start's Events drain at their own pace), so the update's window holds only its own requests.
      await settle(audit, 120_000 + n * 30);

      // A canary ReplicaSet's creation is the first ADDED event for its Rollout after the change was sent.
      const replicaSetsAdded = new Map<string, number[]>();
      stopWatches.push(
        await api.watch<ReplicaSetObject>(`/apis/apps/v1/namespaces/${namespace}/replicasets`, (type, replicaSet, at, listed) => {
          const owner = replicaSet.metadata?.ownerReferences?.find((ref) => ref.kind === 'Rollout')?.name;
          if (type !== 'ADDED' || listed || owner === undefined) return;
          replicaSetsAdded.set(owner, [...(replicaSetsAdded.get(owner) ?? []), at]);
        }),
      );
      const addedAfter = (name: string, sentAt: number): number | undefined => replicaSetsAdded.get(name)?.find((at) => at >= sentAt);

      log(`${controller.name}: every template changed at once`);
      const cpuBefore = cpuSeconds(running.pid);
      const auditBefore = audit.mark();
      const updateSentAt = Date.now();
      const acknowledged = await applyAll('bench/app:v2');
      const generations = new Map(acknowledged.map((ack, i) => [`r${i}`, ack.generation]));
      const allPausedAt = await tracker.waitFor(names, pausedAtCanary(generations), 'Paused at the canary step');
      const cpuToPaused = cpuSeconds(running.pid) - cpuBefore;
      const requests = (to: number): Requests => {
        const counted = audit.count(auditBefore, to);
        return { ...counted, perRollout: Number((counted.total / n).toFixed(2)) };
      };
      const requestsToPaused = requests(audit.mark());
      const canaryLatencies = names.map((name, i) => (addedAfter(name, updateSentAt) ?? NaN) - (acknowledged[i]?.at ?? NaN));
      if (canaryLatencies.some(Number.isNaN)) throw new Error('a Rollout reached its pause without a canary ReplicaSet the watch saw');
      log(`${controller.name}: all Paused ${((allPausedAt - updateSentAt) / 1000).toFixed(1)} s after the change`);

      await sleep(3000);
      const paused = await sampleMemory(running);
      const settled = await settle(audit, 120_000 + n * 30);
      const cpuToSettled = cpuSeconds(running.pid) - cpuBefore;
      const settledMark = settled?.mark ?? audit.mark();
      const events = await api.call<{ items: EventObject[] }>('GET', `/api/v1/namespaces/${namespace}/events`);
      // Timestamps have second precision; nothing of the update happened before it was sent. An Event that tells
      // something of the update (its last transition) is one of its writes, though it may tell an earlier one too.
      const changedSecond = Math.floor(updateSentAt / 1000) * 1000;
      const eventsCreated = new Map<string, number>();
      for (const event of events.items) {
        const { involvedObject: about, firstTimestamp, lastTimestamp, count } = event;
        const createdDuring = Date.parse(lastTimestamp ?? '') >= changedSecond && ((count ?? 1) === 1 || Date.parse(firstTimestamp ?? '') >= changedSecond);
        if (about?.kind === 'Rollout' && about.name !== undefined && createdDuring) eventsCreated.set(about.name, (eventsCreated.get(about.name) ?? 0) + 1);
      }
      const withoutEvent = names.filter((name) => !eventsCreated.has(name)).length;
      if (withoutEvent > 0) log(`${controller.name}: ${withoutEvent} Rollouts have no Event created of the update: dropped, still held, or an earlier one counted up`);
      const replicaSetsCreated = new Map(names.map((name) => [name, (replicaSetsAdded.get(name) ?? []).filter((at) => at >= updateSentAt).length]));
      const writesPerRollout = rolloutWrites(names, audit.events(auditBefore, settledMark), { replicaSets: replicaSetsCreated, events: eventsCreated });
      log(`${controller.name}: writes per Rollout, change → quiet: at most ${writesPerRollout.max} (${JSON.stringify(writesPerRollout.histogram)}), ${writesPerRollout.unaccounted} unaccounted, unnamed ${JSON.stringify(writesPerRollout.unnamed)}`);
      const update = {
        canaryReplicaSetMs: percentiles(canaryLatencies),
        allPausedMs: allPausedAt - updateSentAt,
        settledMs: settled ? settled.lastRequestAt - updateSentAt : null,
        cpuSeconds: { toPaused: Number(cpuToPaused.toFixed(2)), toSettled: Number(cpuToSettled.toFixed(2)) },
        apiRequests: { toPaused: requestsToPaused, toSettled: requests(settledMark) },
        writesPerRollout,
        rolloutsWithoutEvent: withoutEvent,
      };
      log(`${controller.name}: ${settled ? `quiet ${((settled.lastRequestAt - allPausedAt) / 1000).toFixed(1)} s after all Paused` : 'never quiet'}`);
      const idleFrom = audit.mark();
      await sleep(idleSeconds * 1000);
      const idleRequests = audit.count(idleFrom, audit.mark());

      log(`${controller.name}: ${singleChanges} single template changes among ${n} idle Rollouts`);
      const singleLatencies: number[] = [];
      for (let k = 0; k < singleChanges; k++) {
        const name = `r${k}`;
        const sentAt = Date.now();
        const ack = await applyOne(k, `bench/app:single-${k}`);
        await tracker.waitFor([name], pausedAtCanary(new Map([[name, ack.generation]])), 'Paused after a single change');
        const addedAt = addedAfter(name, sentAt);
        if (addedAt === undefined) throw new Error(`${name} reached its pause without a new canary ReplicaSet`);
        singleLatencies.push(addedAt - ack.at);
      }

      log(`${controller.name}: restarted with ${n} idle Rollouts`);
      await stop(running);
      const restartFrom = audit.mark();
      const restartedAt = Date.now();
      running = await controller.start(settings('restart'));
      const restartToAllReconciledMs = (await reconciledAll(running, n)) - restartedAt;
      log(`${controller.name}: all reconciled ${(restartToAllReconciledMs / 1000).toFixed(1)} s after the restart`);
      await settle(audit, 60_000);
      const restartRequests = audit.count(restartFrom, audit.mark());
      const restarted = await sampleMemory(running);

      results.push({
        name: controller.name,
        kind: controller.kind,
        version: controller.version,
        namespace,
        logFile: settings('run').logFile,
        idle,
        startToAllHealthyMs,
        update,
        paused,
        idleApiRequestsPerSecond: Number((idleRequests.total / idleSeconds).toFixed(3)),
        idleApiRequests: idleRequests.byVerbResource,
        singleChange: { canaryReplicaSetMs: percentiles(singleLatencies) },
        restart: { toAllReconciledMs: restartToAllReconciledMs, apiRequests: restartRequests.byVerbResource, memory: restarted },
      });
    } finally {
      for (const stopWatch of stopWatches) stopWatch();
      if (running) await stop(running);
      log(`${controller.name}: deleting namespace ${namespace}`);
      kubectl(['delete', 'namespace', namespace, '--wait=true', `--timeout=${Math.round(timeoutMs / 1000)}s`]);
      if (controller.crds.removeAfter) kubectl(['delete', '--ignore-not-found', '--wait=true', '-f', controller.crds.path]);
    }
  }

  const result = {
    benchmark: 'scale',
    recordedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryBytes: totalmem(),
      kernel: release(),
      node: process.version,
      loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
    },
    cluster: {
      kubernetes: KUBERNETES_VERSION,
      kwok: KWOK_VERSION,
      nodes: NODE_COUNT,
      podsPerNode: NODE_POD_CAPACITY,
      controlPlaneClient: CONTROL_PLANE_CLIENT,
      reused: cluster.reused,
    },
    workload: { rollouts: n, replicas: 1, steps: [{ setWeight: 50 }, { pause: {} }], singleChanges, idleSeconds },
    settings: { qps, burst, workers: workers ?? 'each controller\'s default' },
    notes: [
      'API requests are the apiserver\'s audit log lines of the user only the controller under test authenticates as.',
      'Heap: Fledge\'s V8 heap in use after a forced GC; Argo\'s Go heap in use (go_memstats_heap_alloc_bytes), GC not forced.',
      'Canary ReplicaSet latency: client-side time of the watch\'s ADDED event minus the time the Rollout\'s apply was acknowledged.',
      `Quiet: the controller's last API request before ${QUIET_MS / 1000} s without any; idle traffic is counted from then, and the single changes follow it.`,
    ],
    controllers: Object.fromEntries(results.map((r) => [r.name, r])),
    ratios: ratios(results),
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'scale.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(table(results));
  log('wrote bench/results/scale.json');
}

/** The figures the table and the ratios compare, with how each is shown. */
const FIGURES: Array<{ label: string; value: (r: ControllerResult) => number; unit: 'MB' | 's' | 'ms' | '' }> = [
  { label: 'idle RSS', value: (r) => r.idle.rssBytes, unit: 'MB' },
  { label: 'idle heap', value: (r) => r.idle.heapBytes, unit: 'MB' },
  { label: 'start → all Healthy', value: (r) => r.startToAllHealthyMs, unit: 's' },
  { label: 'change → canary RS p50', value: (r) => r.update.canaryReplicaSetMs.p50, unit: 's' },
  { label: 'change → canary RS p90', value: (r) => r.update.canaryReplicaSetMs.p90, unit: 's' },
  { label: 'change → canary RS p99', value: (r) => r.update.canaryReplicaSetMs.p99, unit: 's' },
  { label: 'change → all Paused', value: (r) => r.update.allPausedMs, unit: 's' },
  { label: 'change → quiet', value: (r) => r.update.settledMs ?? NaN, unit: 's' },
  { label: 'CPU s, change → all Paused', value: (r) => r.update.cpuSeconds.toPaused, unit: '' },
  { label: 'CPU s, change → quiet', value: (r) => r.update.cpuSeconds.toSettled, unit: '' },
  { label: 'API requests / update, to Paused', value: (r) => r.update.apiRequests.toPaused.perRollout, unit: '' },
  { label: 'API requests / update, to quiet', value: (r) => r.update.apiRequests.toSettled.perRollout, unit: '' },
  { label: 'API writes / update, most of one Rollout', value: (r) => r.update.writesPerRollout.max, unit: '' },
  { label: 'RSS all Paused', value: (r) => r.paused.rssBytes, unit: 'MB' },
  { label: 'heap all Paused', value: (r) => r.paused.heapBytes, unit: 'MB' },
  { label: 'idle API requests/s', value: (r) => r.idleApiRequestsPerSecond, unit: '' },
  { label: 'one change → canary RS p50', value: (r) => r.singleChange.canaryReplicaSetMs.p50, unit: 'ms' },
  { label: 'one change → canary RS p99', value: (r) => r.singleChange.canaryReplicaSetMs.p99, unit: 'ms' },
  { label: 'restart → all reconciled', value: (r) => r.restart.toAllReconciledMs, unit: 's' },
  { label: 'RSS after restart', value: (r) => r.restart.memory.rssBytes, unit: 'MB' },
];

/** Every Fledge against Argo, and this checkout's Fledge against each other Fledge build, from this run alone. */
function ratios(results: ControllerResult[]): Record<string, Record<string, number | null>> {
  const pairs: Array<[ControllerResult, ControllerResult]> = [];
  const argoResult = results.find((r) => r.kind === 'argo');
  const fledges = results.filter((r) => r.kind === 'fledge');
  if (argoResult) for (const f of fledges) pairs.push([f, argoResult]);
  const [self, ...others] = fledges;
  if (self) for (const other of others) pairs.push([self, other]);
  return Object.fromEntries(
    pairs.map(([a, b]) => [
      `${a.name}/${b.name}`,
      Object.fromEntries(
        FIGURES.map((f) => {
          const ratio = f.value(a) / f.value(b);
          return [f.label, Number.isFinite(ratio) ? Number(ratio.toFixed(3)) : null];
        }),
      ),
    ]),
  );
}

function table(results: ControllerResult[]): string {
  const show = (value: number, unit: string): string =>
    unit === 'MB' ? (value / 1e6).toFixed(1) : unit === 's' ? (value / 1000).toFixed(1) : String(Number(value.toFixed(2)));
  const ratioColumns = Object.entries(ratios(results));
  const header = ['', ...results.map((r) => r.name), ...ratioColumns.map(([pair]) => pair)];
  const rows = FIGURES.map((f) => [
    `${f.label}${f.unit ? ` (${f.unit})` : ''}`,
    ...results.map((r) => show(f.value(r), f.unit)),
    ...ratioColumns.map(([, figures]) => String(figures[f.label] ?? '-')),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return `\nN=${n}, QPS ${qps}/${burst}\n${[header, ...rows].map(line).join('\n')}\n`;
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
