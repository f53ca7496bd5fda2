// Controller cost at scale on the real local control plane: memory with no Rollouts and with N, and how long N
// Rollouts take to become Healthy and then to reach their first pause after a template change. Writes
// bench/results/scale.json. Run with `npm run bench -- scale [N]`; the machine is shared, so read the ratios.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { up } from '../test/harness/cluster.js';
import { kubectlBinary } from '../test/harness/config.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const count = Number(process.argv[2] ?? 200);
const namespace = `bench-${Date.now().toString(36)}`;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rollout(index: number, image: string): object {
  const name = `r${index}`;
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    },
  };
}

async function main(): Promise<void> {
  const cluster = await up(log);
  const kubectl = (args: string[], input?: string): Promise<{ stdout: string }> => {
    const child = run(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, ...args], { maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  await kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(root, 'crds')]);
  await kubectl(['create', 'namespace', namespace]);
  const controller = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/main.ts'), '--kubeconfig', cluster.kubeconfig, '--namespaces', namespace, '--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1', '--concurrency', '8', '--kube-api-qps', '100', '--kube-api-burst', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Only the startup lines matter (they name the metrics URL); later logs are dropped unread.
  let output = '';
  const keep = (chunk: Buffer): void => {
    if (output.length < 100_000) output += chunk.toString();
  };
  controller.stdout.on('data', keep);
  controller.stderr.on('data', keep);
  const metricsUrl = await (async () => {
    for (let waited = 0; ; waited += 100) {
      if (waited > 60_000) throw new Error(`the controller never logged its metrics URL:\n${output.slice(-2000)}`);
      const match = /"metrics":"(http:\/\/[^"]+)"/.exec(output);
      if (match?.[1]) return match[1];
      await sleep(100);
    }
  })();
  const sample = async (): Promise<{ rssBytes: number; heapUsedBytes: number }> => {
    const text = (await axios.get<string>(metricsUrl, { responseType: 'text' })).data;
    const value = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { rssBytes: value('fledge_process_resident_memory_bytes'), heapUsedBytes: value('fledge_nodejs_heap_size_used_bytes') };
  };
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const phases = async (): Promise<Array<{ phase?: string; currentStepIndex?: number; stableRevision?: string; currentRevision?: string }>> =>
    ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace, plural: 'rollouts' })) as { items: Array<{ status?: object }> }).items.map(
      (item) => item.status ?? {},
    );
  const waitAll = async (check: (s: Awaited<ReturnType<typeof phases>>[number]) => boolean): Promise<number> => {
    const started = Date.now();
    for (;;) {
      if (Date.now() - started > 300_000) throw new Error('not every Rollout got there within 5 minutes');
      const all = await phases();
      if (all.length === count && all.every(check)) return Date.now() - started;
      await sleep(250);
    }
  };

  try {
    await sleep(3000);
    const idle = await sample();
    log(`idle: rss ${(idle.rssBytes / 1e6).toFixed(1)} MB`);
    await kubectl(['apply', '-f', '-'], Array.from({ length: count }, (_, i) => JSON.stringify(rollout(i, 'registry.k8s.io/pause:3.9'))).join('\n'));
    const healthyMs = await waitAll((s) => s.phase === 'Healthy');
    log(`${count} Rollouts Healthy after ${healthyMs} ms`);
    await kubectl(['apply', '-f', '-'], Array.from({ length: count }, (_, i) => JSON.stringify(rollout(i, 'registry.k8s.io/pause:3.10'))).join('\n'));
    const pausedMs = await waitAll((s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    log(`${count} canaries at their pause after ${pausedMs} ms`);
    await sleep(3000);
    const loaded = await sample();
    const result = {
      benchmark: 'scale',
      rollouts: count,
      replicaSetsPerRollout: 2,
      podsTotal: count * 2,
      idle,
      loaded,
      rssPerRolloutBytes: Math.round((loaded.rssBytes - idle.rssBytes) / count),
      heapPerRolloutBytes: Math.round((loaded.heapUsedBytes - idle.heapUsedBytes) / count),
      loadedToIdleRssRatio: Number((loaded.rssBytes / idle.rssBytes).toFixed(3)),
      allHealthyMs: healthyMs,
      allCanariesPausedMs: pausedMs,
      msPerRolloutToPause: Number((pausedMs / count).toFixed(2)),
      recordedAt: new Date().toISOString(),
    };
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    writeFileSync(join(root, 'bench', 'results', 'scale.json'), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    controller.kill('SIGTERM');
    await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
