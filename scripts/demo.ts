// The README's first command: a local cluster, Prometheus, the workload simulator and the controller,
// then a live `kubectl fledge get rollout --watch` while a good version is promoted and a bad one is
// aborted by analysis. Leaves the cluster running for exploring; `npm run cluster:down` removes it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { up } from '../test/harness/cluster.js';
import { clusterDir, kubectlBinary } from '../test/harness/config.js';
import { startSimulator } from '../test/harness/simulator.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const NAMESPACE = 'demo';
const ROLLOUT = 'checkout';
const say = (line: string): void => void process.stderr.write(`\x1b[1mdemo:\x1b[0m ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  say('building what is missing and starting the local control plane and Prometheus');
  const cluster = await up(say, { buildFor: 'demo' });
  const kubectl = (...args: string[]): Promise<{ stdout: string }> => run(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, ...args]);
  await kubectl('apply', '--server-side', '--force-conflicts', '-k', join(root, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--all', 'crd');
  await kubectl('create', 'namespace', NAMESPACE).catch(() => undefined);
  await kubectl('delete', 'rollout', ROLLOUT, '-n', NAMESPACE, '--ignore-not-found', '--wait=true');

  say('starting the workload simulator (metrics for every Ready pod) and the controller');
  const controllerLog = join(clusterDir, 'logs', 'demo-controller.log');
  const simulator = await startSimulator({ kubeconfig: cluster.kubeconfig, namespaces: [NAMESPACE], targetsDir: cluster.prometheusTargetsDir });
  const controller = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/main.ts'), '--kubeconfig', cluster.kubeconfig, '--namespaces', NAMESPACE, '--prometheus-address', cluster.prometheusUrl, '--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'],
    { stdio: ['ignore', 'ignore', openSync(controllerLog, 'w')] },
  );
  say(`controller logs: ${controllerLog}`);
  const children: ChildProcess[] = [];
  const cleanup = async (): Promise<void> => {
    for (const child of children) child.kill('SIGINT');
    controller.kill('SIGTERM');
    await simulator.stop();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

  const custom = (() => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    return kc.makeApiClient(k8s.CustomObjectsApi);
  })();
  const status = async (): Promise<{ phase?: string; stableRevision?: string; currentRevision?: string; message?: string }> =>
    (((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'rollouts', name: ROLLOUT })) as { status?: object })
      .status ?? {}) as { phase?: string };
  const until = async (check: (s: Awaited<ReturnType<typeof status>>) => boolean): Promise<Awaited<ReturnType<typeof status>>> => {
    for (;;) {
      const current = await status().catch(() => ({}));
      if (check(current)) return current;
      await sleep(250);
    }
  };
  const setImage = (image: string): Promise<unknown> =>
    kubectl('patch', 'rollout', ROLLOUT, '-n', NAMESPACE, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: ROLLOUT, image }] } } } }));

  await kubectl('apply', '-n', NAMESPACE, '-f', join(root, 'examples/canary-with-analysis.yaml'));
  const first = await until((s) => s.phase === 'Healthy');

  const watch = spawn(process.execPath, [join(root, 'bin/kubectl-fledge.js'), '--kubeconfig', cluster.kubeconfig, 'get', 'rollout', ROLLOUT, '-n', NAMESPACE, '--watch'], { stdio: 'inherit' });
  children.push(watch);
  await sleep(2000);
  const goodStart = Date.now();
  await setImage('demo:v2');
  const promoted = await until((s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
  const goodSeconds = Math.round((Date.now() - goodStart) / 1000);
  await sleep(3000);
  const badStart = Date.now();
  await setImage('demo:v3-bad');
  const aborted = await until((s) => s.phase === 'Degraded' && s.currentRevision !== promoted.stableRevision);
  const badSeconds = Math.round((Date.now() - badStart) / 1000);
  await sleep(4000);
  watch.kill('SIGINT');
  await new Promise((resolve) => watch.once('exit', resolve));

  process.stdout.write(
    [
      '',
      `\x1b[32m✔\x1b[0m demo:v2 passed its analysis and was promoted in ${goodSeconds}s`,
      `\x1b[31m✖\x1b[0m demo:v3-bad was aborted by analysis after ${badSeconds}s; traffic is back on demo:v2`,
      `  ${aborted.message ?? ''}`,
      '',
      'The cluster keeps running. Look around:',
      `  export KUBECONFIG=${cluster.kubeconfig} PATH=${join(kubectlBinary, '..')}:$PATH`,
      `  kubectl get fro,far -n ${NAMESPACE}`,
      `  node bin/kubectl-fledge.js get rollout ${ROLLOUT} -n ${NAMESPACE}`,
      `  ${cluster.prometheusUrl}/graph (Prometheus)`,
      'Stop it with: npm run cluster:down',
      '',
    ].join('\n'),
  );
  await cleanup();
  process.exit(0);
}

main().catch((err: unknown) => {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
