import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { startSimulator, type Simulator } from './simulator.js';

const run = promisify(execFile);

/** The cluster the e2e run uses (the loopback harness, or FLEDGE_TEST_KUBECONFIG). */
export function testKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(inject('kubeconfig'));
  return kc;
}

export function prometheusUrl(): string {
  return inject('prometheusUrl');
}

export function kubectlPath(): string {
  const dir = inject('kubectlDir');
  return dir ? join(dir, 'kubectl') : 'kubectl';
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test cluster; never throws on a non-zero exit, so tests can assert on it. */
export async function kubectl(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<KubectlResult> {
  const child = run(kubectlPath(), ['--kubeconfig', inject('kubeconfig'), ...args], {
    env: { ...process.env, ...opts.env },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (opts.input !== undefined) {
    child.child.stdin?.end(opts.input);
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A fresh namespace for one test file; the returned function deletes it. */
export async function createTestNamespace(prefix: string): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'fledge.dev/test': 'true' } } } });
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails with the last observation. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/**
 * The negative of `eventually`: checks `holds` every `every` ms from now, and once more at or after `ms`, and fails at
 * the first sample where it returns false or throws (so it may be a block of `expect`s, which say what that sample
 * saw). Sampling all along, not once at the end, catches a state that comes and goes, and fails as soon as it breaks.
 */
export async function holdsFor(
  ms: number,
  holds: () => boolean | void | Promise<boolean | void>,
  { every = 200, what }: { every?: number; what: string },
): Promise<void> {
  const start = Date.now();
  for (let sample = 1; ; sample++) {
    const at = Date.now() - start;
    let broken: string | undefined;
    try {
      if ((await holds()) === false) broken = 'it was false';
    } catch (err) {
      broken = err instanceof Error ? err.message : String(err);
    }
    if (broken !== undefined) throw new Error(`${what} should have held for ${ms} ms, but sample ${sample} (${at} ms in) broke it: ${broken}`);
    if (at >= ms) return;
    await new Promise((r) => setTimeout(r, Math.min(every, start + ms - Date.now())));
  }
}

const repoRoot = new URL('../../', import.meta.url).pathname;

/** Applies every CRD in crds/ (server-side, so re-applying is a no-op) and waits until they are served. */
export async function installCrds(): Promise<void> {
  const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(repoRoot, 'crds')]);
  if (applied.code !== 0) throw new Error(`applying crds/ failed: ${applied.stderr}`);
  const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '--all', 'crd']);
  if (established.code !== 0) throw new Error(`crds/ not established: ${established.stderr}`);
}

export interface ControllerProcess {
  readonly pid: number;
  output(): string;
  /** The /metrics URL the controller logged, once it has. */
  metricsUrl(): string | undefined;
  /** The base URL of /healthz and /readyz, once logged. */
  healthUrl(): string | undefined;
  exited(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export const CONTROLLER_NAMESPACE = 'fledge-system';
const CONTROLLER_ACCOUNT = 'fledge-controller';
let controllerKubeconfigPath: Promise<string> | undefined;

/**
 * A kubeconfig that authenticates as the ServiceAccount deploy/ creates, bound to deploy/'s ClusterRole and
 * leader-election Role, with a real token from the apiserver. Every e2e controller runs with it, so the
 * suite proves that the RBAC in deploy/ is enough (and the can-i tests that it is not more).
 */
export function controllerKubeconfig(): Promise<string> {
  controllerKubeconfigPath ??= (async () => {
    await kubectl(['create', 'namespace', CONTROLLER_NAMESPACE]);
    for (const file of ['service-account.yaml', 'cluster-role.yaml', 'leader-election-role.yaml']) {
      const applied = await kubectl(['apply', '-n', CONTROLLER_NAMESPACE, '-f', join(repoRoot, 'deploy', 'base', file)]);
      if (applied.code !== 0) throw new Error(`applying deploy/base/${file} failed: ${applied.stderr}`);
    }
    return serviceAccountKubeconfig(CONTROLLER_ACCOUNT, CONTROLLER_NAMESPACE);
  })();
  return controllerKubeconfigPath;
}

/**
 * A kubeconfig file for the test cluster that authenticates as a ServiceAccount with a fresh token.
 * `caData` (PEM) replaces the cluster's CA, to show what the controller does when it cannot trust the apiserver.
 */
export async function serviceAccountKubeconfig(account: string, namespace: string, opts: { caData?: string } = {}): Promise<string> {
  const token = await kubectl(['create', 'token', account, '-n', namespace, '--duration=24h']);
  if (token.code !== 0) throw new Error(`creating a token for ${account} failed: ${token.stderr}`);
  const cluster = testKubeConfig().getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const trusted = opts.caData === undefined ? cluster : { name: cluster.name, server: cluster.server, caData: Buffer.from(opts.caData).toString('base64') };
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [trusted],
    users: [{ name: account, token: token.stdout.trim() }],
    contexts: [{ name: account, cluster: cluster.name, user: account }],
    currentContext: account,
  });
  const path = join(mkdtempSync(join(tmpdir(), 'fledge-sa-')), 'kubeconfig');
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

/**
 * Runs the real controller (`src/main.ts` through tsx) as its own process, watching one namespace, as
 * the deploy/ ServiceAccount unless `kubeconfig` names another identity.
 */
export async function startController(namespace: string, extraArgs: string[] = [], opts: { kubeconfig?: string } = {}): Promise<ControllerProcess> {
  // Free ports on loopback, so parallel and restarted controllers never collide.
  const kubeconfig = opts.kubeconfig ?? (await controllerKubeconfig());
  const args = ['--kubeconfig', kubeconfig, '--namespaces', namespace, '--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'];
  const entry = ['--import', 'tsx', join(repoRoot, 'src/main.ts')];
  const child = spawn(process.execPath, [...entry, ...args, ...extraArgs], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return controllerProcess(child);
}

/** A started controller's handle: its output as it comes, the URLs it logs, and a kill that waits for the exit. */
export function controllerProcess(child: ChildProcess, onExit: () => void = () => {}): ControllerProcess {
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      onExit();
      resolve();
    }),
  );
  return {
    pid: child.pid ?? -1,
    output: () => output,
    metricsUrl: () => /"metrics":"(http:\/\/[^"]+)"/.exec(output)?.[1],
    healthUrl: () => /"health":"(http:\/\/[^"]+)\/healthz"/.exec(output)?.[1],
    exited: () => child.exitCode !== null || child.signalCode !== null,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Reads a namespace's Rollout statuses, and waits for one to reach a state. */
export function rolloutStatuses(custom: k8s.CustomObjectsApi, namespace: string) {
  const status = async (name: string): Promise<RolloutStatus> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace, plural: 'rollouts', name })) as { status?: RolloutStatus }).status ?? {};
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean, timeoutMs = 90_000): Promise<RolloutStatus> =>
    eventually(`${name}: ${what}`, async () => {
      const s = await status(name);
      return check(s) ? s : undefined;
    }, { timeoutMs, intervalMs: 200 });
  return { status, waitFor };
}

/** Every version of the objects a watch saw, in the order the apiserver wrote them. */
export interface WatchRecording<T> {
  /** The objects as written, oldest first (the watch's initial ADDED events included). */
  objects(): T[];
  /** The same, each with when it arrived here (this process's clock). */
  timed(): Array<{ at: number; object: T }>;
  /** Throws if the watch ended before stop(): its record would then have a gap. */
  stop(): Promise<T[]>;
}

/**
 * Records every version of the objects under `path` (a collection URL), as a watch delivers them. Unlike a poll, a
 * watch cannot miss a short-lived state, however loaded the machine: it is how a test sees each status write. The
 * apiserver may end a watch at any time (it does when a CRD's handler is rebuilt, moments after the CRD is created);
 * the recording then resumes from the last resourceVersion it saw, as an informer does, so nothing is missed. Only a
 * resume the apiserver refuses (that version is gone) leaves a gap, and stop() then throws.
 */
export async function recordWatch<T>(path: string, query: Record<string, string> = {}): Promise<WatchRecording<T>> {
  const seen: Array<{ at: number; object: T }> = [];
  let gap: string | undefined;
  let stopping = false;
  let lastVersion: string | undefined;
  let request: AbortController | undefined;
  const start = async (): Promise<void> => {
    request = await new k8s.Watch(testKubeConfig()).watch(
      path,
      { ...query, ...(lastVersion !== undefined && { resourceVersion: lastVersion }) },
      (type: string, object: T & { code?: number; message?: string }) => {
        if (type === 'ERROR') {
          gap = `the watch of ${path} could not resume from ${lastVersion ?? 'the start'}: ${object.message ?? object.code ?? 'error'}`;
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        lastVersion = (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? lastVersion;
        seen.push({ at: Date.now(), object });
      },
      (err: unknown) => {
        if (stopping || gap !== undefined) return;
        process.stderr.write(`harness: the watch of ${path} ended${err ? ` (${String(err)})` : ''}; resuming from resourceVersion ${lastVersion ?? '(none yet)'}\n`);
        void start().catch((startErr: unknown) => (gap = `the watch of ${path} ended${err ? ` (${String(err)})` : ''} and could not resume: ${String(startErr)}`));
      },
    );
  };
  await start();
  const objects = (): T[] => seen.map(({ object }) => object);
  return {
    objects,
    timed: () => [...seen],
    stop: async () => {
      stopping = true;
      request?.abort();
      if (gap !== undefined) throw new Error(gap);
      return objects();
    },
  };
}

/** What a file testing one controller in one namespace works with; filled in by the suite's beforeAll. */
export interface ControllerSuite {
  ns: { name: string };
  controller: ControllerProcess;
  custom: k8s.CustomObjectsApi;
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  /** The workload simulator, serving the namespace's pods to Prometheus, when the suite asked for it. */
  simulator?: Simulator;
  /** `kubectl apply` into the namespace, which must succeed. */
  apply(text: string): Promise<void>;
}

/**
 * The usual frame of an e2e file: the CRDs, a fresh namespace and a controller watching it, stopped afterwards, with
 * the controller's output printed when a test did not pass. Call it at the top of a describe block. `simulator` also
 * runs the workload simulator for the namespace; `start` starts the controller another way, such as startShippedController (as deploy/ ships it).
 */
export function controllerSuite(
  prefix: string,
  controllerArgs: () => string[] = () => [],
  opts: { simulator?: boolean; start?: (namespace: string, args: string[]) => Promise<ControllerProcess> } = {},
): ControllerSuite {
  const kc = testKubeConfig();
  let namespace: Awaited<ReturnType<typeof createTestNamespace>> | undefined;
  const suite = {
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    apply: async (text: string): Promise<void> => {
      const res = await kubectl(['apply', '-n', suite.ns.name, '-f', '-'], { input: text });
      expect(res.code, res.stderr).toBe(0);
    },
  } as ControllerSuite;
  beforeAll(async () => {
    await installCrds();
    namespace = await createTestNamespace(prefix);
    suite.ns = namespace;
    if (opts.simulator === true) {
      suite.simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [namespace.name], targetsDir: inject('prometheusTargetsDir') });
    }
    suite.controller =
      opts.start !== undefined
        ? await opts.start(namespace.name, controllerArgs())
        : await startController(namespace.name, controllerArgs());
  });
  afterAll(async (ctx) => {
    await suite.controller?.kill();
    await suite.simulator?.stop();
    // Not only failed tests: a failed beforeAll leaves them skipped, and the output says why.
    if (ctx.tasks.some((t) => t.result?.state !== 'pass')) process.stderr.write(`controller output:\n${suite.controller?.output().slice(-20_000)}\n`);
    await namespace?.remove();
  });
  return suite;
}

export const PLUGIN = join(repoRoot, 'bin', 'kubectl-fledge.js');

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real plugin binary the way kubectl would, with kubectl's flags. */
export function plugin(args: string[], timeoutMs = 120_000): Promise<PluginRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PLUGIN, '--kubeconfig', inject('kubeconfig'), ...args], { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
