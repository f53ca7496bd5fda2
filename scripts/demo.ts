// The README's first command: a local cluster with a real gateway (Traefik), Prometheus, pods that answer
// requests, and the controller; then real traffic through the gateway and a live `kubectl fledge get rollout
// --watch` while a good version is promoted at 5% of the traffic and a bad one is aborted by analysis on the
// gateway's own counters. Leaves the cluster running for exploring; `npm run cluster:down` removes it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { up } from '../test/harness/cluster.js';
import { clusterDir, kubectlBinary } from '../test/harness/config.js';
import { startSimulator } from '../test/harness/simulator.js';
import { startLoad, type Answer } from '../test/harness/load.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const NAMESPACE = 'demo';
const ROLLOUT = 'store';
const HOST = 'store.fledge.test';
const REQUESTS_PER_SECOND = 50;
const say = (line: string): void => void process.stderr.write(`\x1b[1mdemo:\x1b[0m ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  say('building what is missing and starting the local control plane, Traefik and Prometheus');
  const cluster = await up(say, { buildFor: 'demo' });
  const kubectl = (...args: string[]): Promise<{ stdout: string }> => run(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, ...args]);
  await kubectl('apply', '--server-side', '--force-conflicts', '-k', join(root, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--all', 'crd');
  await kubectl('create', 'namespace', NAMESPACE).catch(() => undefined);
  await kubectl('delete', 'rollout', ROLLOUT, '-n', NAMESPACE, '--ignore-not-found', '--wait=true');

  say('starting the pods\' servers (every Ready pod answers on its IP) and the controller');
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
  interface Status {
    phase?: string;
    stableRevision?: string;
    currentRevision?: string;
    message?: string;
    actualWeight?: number;
  }
  const status = async (): Promise<Status> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: NAMESPACE, plural: 'rollouts', name: ROLLOUT })) as { status?: Status })
      .status ?? {};
  /** The traffic weight in effect over time, as status said it, to tell which requests were sent at which weight. */
  const weights: Array<{ at: number; weight: number }> = [];
  const until = async (check: (s: Status) => boolean): Promise<Status> => {
    for (;;) {
      const current = await status().catch((): Status => ({}));
      if (current.actualWeight !== undefined && current.actualWeight !== weights.at(-1)?.weight) weights.push({ at: Date.now(), weight: current.actualWeight });
      if (check(current)) return current;
      await sleep(250);
    }
  };
  const weightAt = (at: number): number | undefined => weights.findLast((sample) => sample.at <= at)?.weight;
  /** Of the requests answered while the canary had `weight`% of traffic, the share `version` answered. */
  const shareAt = (answers: readonly Answer[], weight: number, version: string): { share: number; n: number } => {
    const during = answers.filter((answer) => weightAt(answer.at) === weight);
    return { share: during.length === 0 ? 0 : (100 * during.filter((answer) => answer.version === version).length) / during.length, n: during.length };
  };
  const setImage = (image: string): Promise<unknown> =>
    kubectl('patch', 'rollout', ROLLOUT, '-n', NAMESPACE, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: ROLLOUT, image }] } } } }));

  await kubectl('apply', '-n', NAMESPACE, '-f', join(root, 'examples/traffic-gateway-api.yaml'));
  const first = await until((s) => s.phase === 'Healthy');
  say(`sending ${REQUESTS_PER_SECOND} requests a second through the gateway at ${cluster.gatewayUrl} (Host: ${HOST})`);
  const load = startLoad({ url: cluster.gatewayUrl, host: HOST }, REQUESTS_PER_SECOND);

  const watch = spawn(process.execPath, [join(root, 'bin/kubectl-fledge.js'), '--kubeconfig', cluster.kubeconfig, 'get', 'rollout', ROLLOUT, '-n', NAMESPACE, '--watch'], { stdio: 'inherit' });
  children.push(watch);
  await sleep(2000);
  const goodStart = Date.now();
  await setImage('demo:v2');
  const promoted = await until((s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
  const goodSeconds = Math.round((Date.now() - goodStart) / 1000);
  await sleep(3000);
  const goodAnswers = [...load.answers()];
  load.reset();
  const badStart = Date.now();
  await setImage('demo:v3-bad');
  const aborted = await until((s) => s.phase === 'Degraded' && s.currentRevision !== promoted.stableRevision);
  const badSeconds = Math.round((Date.now() - badStart) / 1000);
  const verdictAt = Date.now();
  await sleep(4000);
  watch.kill('SIGINT');
  await new Promise((resolve) => watch.once('exit', resolve));
  await load.stop();
  const badAnswers = load.answers();
  const lastBad = badAnswers.filter((answer) => answer.version === 'v3-bad').at(-1)?.at;
  const atFive = shareAt(goodAnswers, 5, 'v2');
  const atFifty = shareAt(goodAnswers, 50, 'v2');
  const badServed = badAnswers.filter((answer) => answer.version === 'v3-bad');

  process.stdout.write(
    [
      '',
      `\x1b[32m✔\x1b[0m demo:v2 passed its analysis on the gateway's counters and was promoted in ${goodSeconds}s`,
      `  at 5%: ${atFive.share.toFixed(1)}% of ${atFive.n} requests answered by v2 (one canary pod beside ten stable); at 50%: ${atFifty.share.toFixed(1)}% of ${atFifty.n}`,
      `\x1b[31m✖\x1b[0m demo:v3-bad was aborted by analysis after ${badSeconds}s; traffic is back on demo:v2`,
      `  ${aborted.message ?? ''}`,
      `  v3-bad answered ${badServed.length} requests (${badServed.filter((answer) => answer.status >= 500).length} of them errors); ${lastBad === undefined ? '' : `the last one ${Math.abs(lastBad - verdictAt)} ms ${lastBad >= verdictAt ? 'after' : 'before'} the abort showed in status`}`,
      '',
      'The cluster keeps running. Look around:',
      `  export KUBECONFIG=${cluster.kubeconfig} PATH=${join(kubectlBinary, '..')}:$PATH`,
      `  kubectl get fro,far -n ${NAMESPACE}`,
      `  node bin/kubectl-fledge.js get rollout ${ROLLOUT} -n ${NAMESPACE}`,
      `  curl -H 'Host: ${HOST}' ${cluster.gatewayUrl}/   (the gateway; add -H 'X-Canary: always' for the canary)`,
      `  ${cluster.prometheusUrl}/graph (Prometheus: traefik_service_requests_total)`,
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
