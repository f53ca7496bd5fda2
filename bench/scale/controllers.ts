import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ARGO_ROLLOUTS_VERSION, argoRolloutsBinary, argoRolloutsCrdsDir } from '../../test/harness/config.js';
import { freePort } from '../../test/harness/free-port.js';
import { imageNodeFlags } from '../../test/harness/image.js';

/** What the bench needs to know of a Rollout's status, whichever controller wrote it. */
export interface RolloutState {
  generation: number;
  observedGeneration: string | undefined;
  phase: string | undefined;
  currentStepIndex: number | undefined;
}

export interface Settings {
  kubeconfig: string;
  namespace: string;
  qps: number;
  burst: number;
  /** Reconcile workers; undefined keeps each controller's own default. */
  workers: number | undefined;
  logFile: string;
  /** More arguments, for what one bench alone needs (the scale-out bench's --shards and Lease timing). */
  extraArgs?: string[];
}

export interface Running {
  process: ChildProcess;
  pid: number;
  metricsUrl: string;
  /** Resolves once the controller is ready to reconcile. */
  ready: Promise<void>;
  /** Forces a full GC when the runtime allows it from outside. */
  collectGarbage(): Promise<void>;
  /** Heap in use (after collectGarbage), from the controller's own /metrics. */
  heapBytes(metrics: string): number;
  /** Whether its own /metrics say every one of `n` Rollouts was reconciled since it started, and none waits. */
  reconciledAll(metrics: string, n: number): boolean;
  /** The first line of its log that matches `pattern`, whenever it was written. */
  logged(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
}

export interface Controller {
  /** fledge, fledge@<commit>, argo */
  name: string;
  kind: 'fledge' | 'argo';
  version: string;
  /**
   * The directory whose CRDs (kustomize or plain YAML) the bench applies before this controller's turn, and
   * whether it deletes them after.
   */
  crds: { kustomize: boolean; path: string; removeAfter: boolean };
  apiVersion: string;
  start(settings: Settings): Promise<Running>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The first sample of `name`, a regular expression that may include its labels. */
function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/**
 * Waits for a log line matching `pattern` in what the process writes, and keeps everything in `logFile`. Lines are
 * matched as they arrive, so a line after megabytes of logging (Argo Rollouts logs every Rollout it enqueues before
 * it starts its workers) is still seen; the first 200 KB are kept for patterns asked for after their line was written.
 */
function logWatcher(child: ChildProcess, logFile: string): (pattern: RegExp, timeoutMs: number) => Promise<RegExpExecArray> {
  const log = createWriteStream(logFile);
  let head = '';
  let partial = '';
  const waiting = new Set<{ pattern: RegExp; found: (match: RegExpExecArray) => void }>();
  const keep = (chunk: Buffer): void => {
    log.write(chunk);
    const text = chunk.toString();
    if (head.length < 200_000) head += text;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      for (const waiter of waiting) {
        const match = waiter.pattern.exec(line);
        if (match) waiter.found(match);
      }
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => log.end());
  return (pattern, timeoutMs) =>
    new Promise((resolve, reject) => {
      const early = pattern.exec(head);
      if (early) return resolve(early);
      const finish = (outcome: () => void): void => {
        clearTimeout(timer);
        child.off('exit', exited);
        waiting.delete(waiter);
        outcome();
      };
      const waiter = { pattern, found: (match: RegExpExecArray) => finish(() => resolve(match)) };
      const exited = (): void => finish(() => reject(new Error(`the controller exited (${child.exitCode}); see ${logFile}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`the controller did not log ${pattern} within ${timeoutMs / 1000} s; see ${logFile}`))), timeoutMs);
      if (child.exitCode !== null) return exited();
      waiting.add(waiter);
      child.once('exit', exited);
    });
}

function gitLabel(dir: string): string {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return basename(dir);
  }
}

/**
 * Fledge as production runs it: compiled, `node dist/main.js` with the image's node flags, from `dir` (its dist/,
 * node_modules/ and Dockerfile). Named
 * `fledge`, or `fledge@<commit>` when it is another build than this checkout's, with its node flags when they are not
 * this checkout's (two builds of one commit under other flags are told apart).
 */
export function fledge(dir: string, gcPreload: string, { other }: { other: boolean }): Controller {
  const main = join(dir, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist: run \`npm ci && npm run build\` in ${dir}`);
  const version = gitLabel(dir);
  const nodeFlags = imageNodeFlags(dir).join(' ');
  const ownFlags = imageNodeFlags(join(import.meta.dirname, '..', '..')).join(' ');
  return {
    name: other ? `fledge@${version}${nodeFlags === ownFlags ? '' : ` [${nodeFlags}]`}` : 'fledge',
    kind: 'fledge',
    version,
    crds: { kustomize: true, path: join(dir, 'crds'), removeAfter: false },
    apiVersion: 'fledge.dev/v1alpha1',
    async start(settings) {
      const args = [
        '--expose-gc',
        '--require',
        gcPreload,
        ...imageNodeFlags(dir),
        main,
        ...['--kubeconfig', settings.kubeconfig, '--namespaces', settings.namespace],
        ...['--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'],
        ...['--kube-api-qps', String(settings.qps), '--kube-api-burst', String(settings.burst)],
        ...(settings.workers !== undefined ? ['--concurrency', String(settings.workers)] : []),
        ...(settings.extraArgs ?? []),
      ];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const waitFor = logWatcher(child, settings.logFile);
      const metricsUrl = (await waitFor(/"metrics":"(http:\/\/[^"]+)"/, 60_000))[1] ?? '';
      return {
        process: child,
        pid: child.pid ?? NaN,
        metricsUrl,
        ready: waitFor(/caches synced/, 120_000).then(() => undefined),
        async collectGarbage() {
          child.kill('SIGUSR2');
          await sleep(2000);
        },
        heapBytes: (metrics) => metric(metrics, 'fledge_nodejs_heap_size_used_bytes'),
        // Every Rollout is enqueued once the caches have synced: reconciles ≥ n with an empty queue is all of them.
        reconciledAll: (metrics, n) =>
          metric(metrics, 'fledge_reconcile_duration_seconds_count\\{controller="rollout"\\}') >= n && metric(metrics, 'fledge_workqueue_depth\\{controller="rollout"\\}') === 0,
        logged: waitFor,
      };
    },
  };
}

/** Argo Rollouts, built from source by the harness (`bench` build target), limited to the bench's namespace. */
export function argo(): Controller {
  return {
    name: 'argo',
    kind: 'argo',
    version: ARGO_ROLLOUTS_VERSION,
    // Left installed, its `rollout` short name would shadow Fledge's for kubectl in tests sharing the cluster.
    crds: { kustomize: false, path: argoRolloutsCrdsDir, removeAfter: true },
    apiVersion: 'argoproj.io/v1alpha1',
    async start(settings) {
      const [metricsPort, healthzPort] = [await freePort(), await freePort()];
      const args = [
        ...['--kubeconfig', settings.kubeconfig, '--namespaced', '--namespace', settings.namespace],
        ...['--qps', String(settings.qps), '--burst', String(settings.burst)],
        ...(settings.workers !== undefined ? ['--rollout-threads', String(settings.workers)] : []),
        ...(settings.extraArgs ?? []),
        // It binds both ports on 0.0.0.0 and has no flag for the address.
        ...['--metricsPort', String(metricsPort), '--healthzPort', String(healthzPort)],
        '--leader-elect=false',
        '--logformat=json',
      ];
      const child = spawn(argoRolloutsBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const waitFor = logWatcher(child, settings.logFile);
      return {
        process: child,
        pid: child.pid ?? NaN,
        metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
        ready: waitFor(/Started rollout workers/, 120_000).then(() => undefined),
        // Go collects on its own; there is no way to force it from outside.
        collectGarbage: () => sleep(2000),
        heapBytes: (metrics) => metric(metrics, 'go_memstats_heap_alloc_bytes'),
        // Argo counts reconciles per Rollout (rollout_reconcile_count{namespace,name}).
        reconciledAll: (metrics, n) => (metrics.match(/^rollout_reconcile_count\{[^}]*\} [1-9]/gm) ?? []).length >= n,
        logged: waitFor,
      };
    },
  };
}
