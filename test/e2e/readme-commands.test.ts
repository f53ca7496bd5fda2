import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { kubectlDir } from '../harness/config.js';
import { eventually } from '../harness/e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const FIRST_LINE = 'eval "$(npm run -s cluster:up)"';

/** The README's shell blocks that start from `cluster:up`, as written. */
function readmeBlocks(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '').filter((block) => block.startsWith(FIRST_LINE));
}

/**
 * A newcomer's fresh shell: HOME and PATH only, so whatever the block needs must come from `cluster:up`'s output.
 * The variables that pick which cluster and cache the harness uses are passed on when set, so the block reuses
 * the run's own cluster instead of starting another. The controller's ports are 0 so that it never competes for
 * 8080/8081 with a controller someone runs by hand; no cluster setting is among them.
 */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = { HOME: process.env.HOME ?? '', PATH: process.env.PATH ?? '', FLEDGE_METRICS_PORT: '0', FLEDGE_HEALTH_PORT: '0' };
  for (const name of ['FLEDGE_CLUSTER_DIR', 'FLEDGE_CLUSTER_PORT_BASE', 'FLEDGE_CACHE_DIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

interface BlockRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Shell {
  /** Everything the shell and its commands wrote so far, stdout then stderr. */
  output(): string;
  /** SIGTERM to the shell's whole process group, as Ctrl-C would reach every command. */
  stop(): void;
  done: Promise<BlockRun>;
}

const running = new Set<Shell>();

/** Starts `block` in `env -i bash -x`: the trace shows each command with its variables expanded. */
function startBlock(block: string): Shell {
  const child = spawn('env', ['-i', ...Object.entries(cleanEnv()).map(([k, v]) => `${k}=${v}`), 'bash', '-x', '-c', block], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let ended = false;
  const shell: Shell = {
    output: () => `${stdout}\n${stderr}`,
    stop: () => {
      if (!ended) process.kill(-(child.pid ?? 0), 'SIGTERM');
    },
    // 'close', not 'exit': the controller's last lines arrive after the shell has gone.
    done: new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        ended = true;
        running.delete(shell);
        resolve({ code, stdout, stderr });
      });
    }),
  };
  running.add(shell);
  return shell;
}

const report = (result: BlockRun): string => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

// `cluster:up` in this test must find the cluster the e2e run uses; with FLEDGE_TEST_KUBECONFIG there is no local
// control plane, and `cluster:up` would replace the run's Prometheus-only harness with a full cluster.
describe.skipIf(process.env.FLEDGE_TEST_KUBECONFIG !== undefined)("the README's local-cluster commands, as written", () => {
  afterAll(() => {
    for (const shell of running) shell.stop();
  });

  it('finds both blocks in the README', () => {
    expect(readmeBlocks().map((block) => block.split('\n').slice(1).map((line) => line.split('#')[0]?.trim()))).toEqual([
      ['export PATH="$FLEDGE_KUBECTL_DIR:$PATH"', 'kubectl apply --server-side -k crds/', 'npm start -- --namespaces default --prometheus-address "$PROMETHEUS_URL"', ''],
      ['export PATH="$FLEDGE_KUBECTL_DIR:$PATH"', 'kubectl get nodes,pods -A', ''],
    ]);
  });

  it('installs the CRDs and starts a controller whose caches fill from the cluster, from a fresh shell', async () => {
    const [block] = readmeBlocks();
    const shell = startBlock(block ?? '');
    // Ready only once every informer has listed from the apiserver: proof that the controller found the cluster.
    const ready = await eventually(
      'the controller to answer /readyz with 200',
      async () => {
        const health = /"health":"(http:[^"]+)\/healthz"/.exec(shell.output())?.[1];
        return health !== undefined && (await fetch(`${health}/readyz`)).status === 200 ? health : undefined;
      },
      { timeoutMs: 90_000 },
    ).catch((err: unknown) => {
      shell.stop();
      throw new Error(`${String(err)}\n${shell.output()}`);
    });
    shell.stop();
    const result = await shell.done;
    const output = report(result);
    expect(ready, output).toMatch(/^http:\/\//);
    // cluster:up reused the run's cluster rather than starting or stopping one.
    expect(result.stderr, output).toContain('cluster: reusing the running cluster');
    expect(result.stderr, output).toContain(`+ export KUBECONFIG=${inject('kubeconfig')}\n`);
    expect(result.stderr, output).toContain(`+ export PATH=${kubectlDir}:`);
    expect(result.stdout, output).toMatch(/^customresourcedefinition\.apiextensions\.k8s\.io\/rollouts\.fledge\.dev serverside-applied$/m);
    expect(result.stderr, output).toContain(`+ npm start -- --namespaces default --prometheus-address ${inject('prometheusUrl')}\n`);
    expect(result.stderr, output).not.toContain('"msg":"informer stopped; restarting"');
    // SIGTERM, as Ctrl-C in that shell: the controller shuts down cleanly.
    expect(result.stderr, output).toContain('"msg":"shutting down; finishing in-flight reconciles"');
  });

  it('lists the fake nodes with the exported kubeconfig, from a fresh shell', async () => {
    const [, block] = readmeBlocks();
    const result = await startBlock(block ?? '').done;
    const output = report(result);
    expect(result.code, output).toBe(0);
    expect(result.stderr, output).toContain(`+ export PATH=${kubectlDir}:`);
    expect(result.stdout, output).toMatch(/^node\/kwok-node-0 +Ready /m);
  });
});
