// The controller's memory as production runs it (the bundle, `node dist/main.js`), where it is spent, and against
// Argo Rollouts on the same local control plane: RSS and heap after a forced GC with no Rollouts, with N Healthy, and
// with every canary Paused; what loading the bundle alone costs against a bare `node`; and the bundle's bytes by
// package (esbuild's metafile). Writes bench/results/idle-memory.json and prints a table.
// `npm run bench:idle-memory -- --help` lists the options.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Metafile } from 'esbuild';
import { bundleController } from '../scripts/bundle-controller.js';
import { up } from '../test/harness/cluster.js';
import { kubectlBinary } from '../test/harness/config.js';
import { imageNodeFlags } from '../test/harness/image.js';
import { Api } from './scale/api.js';
import { argo, fledge, type Controller, type Running } from './scale/controllers.js';
import { established, healthy, pausedAtCanary, pool, rolloutManifest, RolloutTracker, sampleMemory, stop, type Memory, type RolloutObject } from './scale/workload.js';

const USAGE = `usage: npm run bench:idle-memory -- [options]
  --n N                  Rollouts for the Healthy and Paused samples (default 100)
  --controllers LIST     which to measure, in order: fledge, argo (default fledge)
  --fledge-dir DIR       with fledge: also measure the Fledge built in DIR (its dist/, node_modules/ and Dockerfile),
                         e.g. a clone of main, in the same run (repeatable)
  --loads K              times the bundle is loaded alone, the median kept (default 5)`;

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    controllers: { type: 'string', default: 'fledge' },
    loads: { type: 'string', default: '5' },
    'fledge-dir': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const n = Number(flags.n);
const loads = Number(flags.loads);
const wanted = flags.controllers.split(',').map((name) => name.trim());
if (![n, loads].every((value) => Number.isInteger(value) && value > 0)) throw new Error(`--n and --loads take a positive integer\n${USAGE}`);
if (wanted.some((name) => name !== 'fledge' && name !== 'argo')) throw new Error(`--controllers takes fledge and argo\n${USAGE}`);

const root = join(import.meta.dirname, '..');
const bundle = join(root, 'dist', 'main.js');
const timeoutMs = 300_000 + n * 300;
const log = (line: string): void => void process.stderr.write(`idle-memory: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const mb = (bytes: number): number => Number((bytes / 1e6).toFixed(1));

/** Bytes of the bundle by npm package, and by top folder of src/ for our own code; largest first. */
function bytesByPackage(metafile: Metafile): Array<{ name: string; bytes: number }> {
  const output = Object.values(metafile.outputs).find((out) => out.entryPoint !== undefined);
  const totals = new Map<string, number>();
  for (const [file, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? /^src\/[^/]+/.exec(file)?.[0] ?? file;
    totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
  }
  return [...totals].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

/** Memory of a `node` that runs `args` and exits, after a full GC at exit: the median of `loads` runs. */
function memoryAtExit(args: string[]): { rssBytes: number; heapUsedBytes: number } {
  const runs = Array.from({ length: loads }, () => {
    const run = spawnSync(process.execPath, ['--expose-gc', '--require', join(root, 'bench', 'rss-at-exit.cjs'), ...args], { encoding: 'utf8' });
    const usage = JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '') as { rss: number; heapUsed: number };
    return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed };
  }).sort((a, b) => a.rssBytes - b.rssBytes);
  const median = runs[Math.floor(runs.length / 2)];
  if (median === undefined) throw new Error('no run to take the median of');
  return median;
}

interface ControllerResult {
  name: string;
  version: string;
  /** dist/main.js as the controller ran it (Argo: its binary is not counted). */
  bundleBytes?: number;
  /** No Rollouts, 10 s after the controller said it was ready. */
  idle: Memory;
  /** N Rollouts created and Healthy, the controller quiet. */
  healthy: Memory;
  /** Every template changed, every canary Paused at its pause step. */
  paused: Memory;
}

async function measure(controller: Controller, api: Api, kubeconfig: string, bundleOf?: string): Promise<ControllerResult> {
  const kubectl = (args: string[]): string => execFileSync(kubectlBinary, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
  const namespace = `idle-memory-${controller.name.replace(/[^a-z0-9]+/g, '-')}-${Date.now().toString(36)}`;
  const rolloutsPath = `/apis/${controller.apiVersion}/namespaces/${namespace}/rollouts`;
  const names = Array.from({ length: n }, (_, i) => `r${i}`);
  const applyAll = (image: string): Promise<number[]> =>
    pool(n, 32, async (i) => {
      const applied = (await api.apply(`${rolloutsPath}/r${i}`, rolloutManifest(controller.apiVersion, namespace, i, image), 'fledge-bench')) as RolloutObject;
      return applied.metadata?.generation ?? 0;
    });

  kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=fledge-bench', controller.crds.kustomize ? '-k' : '-f', controller.crds.path]);
  await established(api, `rollouts.${controller.apiVersion.split('/')[0] ?? ''}`);
  kubectl(['create', 'namespace', namespace]);
  const logFile = join(root, 'bench', 'results', `idle-memory-${controller.name}.log`);
  let running: Running | undefined;
  let stopWatch: (() => void) | undefined;
  try {
    running = await controller.start({ kubeconfig, namespace, qps: 40, burst: 80, workers: undefined, logFile });
    await running.ready;
    await sleep(10_000);
    const idle = await sampleMemory(running);
    log(`${controller.name}: idle RSS ${mb(idle.rssBytes)} MB`);

    const tracker = new RolloutTracker(timeoutMs);
    stopWatch = await tracker.follow(api, rolloutsPath);
    await applyAll('bench/app:v1');
    await tracker.waitFor(names, healthy, 'Healthy');
    await sleep(10_000);
    const healthyMemory = await sampleMemory(running);
    log(`${controller.name}: ${n} Healthy, RSS ${mb(healthyMemory.rssBytes)} MB`);

    const generations = await applyAll('bench/app:v2');
    await tracker.waitFor(names, pausedAtCanary(new Map(names.map((name, i) => [name, generations[i] ?? 0]))), 'Paused at the canary step');
    await sleep(10_000);
    const paused = await sampleMemory(running);
    log(`${controller.name}: ${n} Paused, RSS ${mb(paused.rssBytes)} MB`);
    return { name: controller.name, version: controller.version, ...(bundleOf !== undefined && { bundleBytes: statSync(bundleOf).size }), idle, healthy: healthyMemory, paused };
  } finally {
    stopWatch?.();
    if (running) await stop(running);
    kubectl(['delete', 'namespace', namespace, '--wait=true', `--timeout=${Math.round(timeoutMs / 1000)}s`]);
    if (controller.crds.removeAfter) kubectl(['delete', '--ignore-not-found', '--wait=true', '-f', controller.crds.path]);
  }
}

async function main(): Promise<void> {
  log('bundling the controller (scripts/bundle-controller.ts) into dist/main.js');
  const metafile = await bundleController(bundle);
  const packages = bytesByPackage(metafile);
  const bundleBytes = packages.reduce((sum, p) => sum + p.bytes, 0);
  log(`measuring a bare node and the bundle loaded alone (--help), ${loads} times each`);
  const nodeFlags = imageNodeFlags(root);
  const bareNode = memoryAtExit([...nodeFlags, '-e', '']);
  const bundleLoaded = memoryAtExit([...nodeFlags, bundle, '--help']);

  const cluster = await up(log, { buildFor: wanted.includes('argo') ? 'bench' : 'cluster' });
  const api = new Api(cluster.apiserverUrl, cluster.adminToken, readFileSync(cluster.caFile, 'utf8'));
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  const results: ControllerResult[] = [];
  const gcPreload = join(root, 'bench', 'gc-preload.cjs');
  const builds = (name: string): Array<{ controller: Controller; bundleOf?: string }> =>
    name === 'argo'
      ? [{ controller: argo() }]
      : [root, ...flags['fledge-dir'].map((dir) => resolve(dir))].map((dir) => ({ controller: fledge(dir, gcPreload, { other: dir !== root }), bundleOf: join(dir, 'dist', 'main.js') }));
  for (const { controller, bundleOf } of wanted.flatMap(builds)) results.push(await measure(controller, api, cluster.kubeconfig, bundleOf));

  const result = {
    benchmark: 'idle-memory',
    recordedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
    rollouts: n,
    notes: [
      'Fledge\'s memory is read after a forced GC (bench/gc-preload.cjs); Go collects on its own, so Argo\'s is as Go left it.',
      'bareNode and bundleLoaded: RSS and heap in use at exit after a full GC, the median of --loads runs, with the image\'s node flags.',
    ],
    bundle: { bytes: bundleBytes, byPackage: packages.slice(0, 30) },
    bareNode,
    bundleLoaded,
    controllers: Object.fromEntries(results.map((r) => [r.name, r])),
  };
  writeFileSync(join(root, 'bench', 'results', 'idle-memory.json'), `${JSON.stringify(result, null, 2)}\n`);
  const lines = [
    `bundle ${mb(bundleBytes)} MB; bare node ${mb(bareNode.rssBytes)} MB RSS; bundle loaded alone ${mb(bundleLoaded.rssBytes)} MB RSS, ${mb(bundleLoaded.heapUsedBytes)} MB heap`,
    ...packages.slice(0, 12).map((p) => `  ${String(Math.round(p.bytes / 1000)).padStart(6)} kB  ${p.name}`),
    ...results.map(
      (r) =>
        `${r.name}: RSS / heap, MB: idle ${mb(r.idle.rssBytes)} / ${mb(r.idle.heapBytes)}, ${n} Healthy ${mb(r.healthy.rssBytes)} / ${mb(r.healthy.heapBytes)}, ${n} Paused ${mb(r.paused.rssBytes)} / ${mb(r.paused.heapBytes)}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  log('wrote bench/results/idle-memory.json');
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
