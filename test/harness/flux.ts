import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { downloadGoModule, ensureBinaries } from './build.js';
import { FLUX_KUSTOMIZE_CONTROLLER_VERSION, FLUX_SOURCE_CONTROLLER_VERSION, fluxKustomizeControllerBinary, fluxSourceControllerBinary } from './config.js';
import { eventually, kubectl } from './e2e.js';
import { freePort } from './free-port.js';

const log = (line: string): void => void process.stderr.write(`flux: ${line}\n`);

function ready(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Applies a Flux module's CRDs (config/crd/bases, from the module proxy) and waits until they are served. */
async function installFluxCrds(module: string, version: string): Promise<void> {
  const dir = join(await downloadGoModule(module, version), 'config', 'crd', 'bases');
  const applied = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', dir, '-o', 'name']);
  if (applied.code !== 0) throw new Error(`applying ${module} ${version} CRDs failed: ${applied.stderr}`);
  const names = applied.stdout.split('\n').filter((line) => line.trim() !== '');
  const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (established.code !== 0) throw new Error(`${module} CRDs not established: ${established.stderr}`);
}

export interface FluxController {
  readonly name: string;
  readonly args: readonly string[];
  output(): string;
}

export interface Flux {
  readonly controllers: readonly FluxController[];
  stop(): Promise<void>;
}

/**
 * Starts Flux's source-controller and kustomize-controller as processes on this machine (not in the cluster),
 * watching only `namespace`, as the admin of the test cluster's kubeconfig. source-controller serves its
 * artifacts on a loopback port and advertises that address in GitRepository status, where kustomize-controller
 * fetches them. One test file's Flux: the other files neither pay for it nor see it.
 */
export async function startFlux(namespace: string): Promise<Flux> {
  await ensureBinaries('gitops', log);
  await installFluxCrds('github.com/fluxcd/source-controller', FLUX_SOURCE_CONTROLLER_VERSION);
  await installFluxCrds('github.com/fluxcd/kustomize-controller', FLUX_KUSTOMIZE_CONTROLLER_VERSION);
  const storage = mkdtempSync(join(tmpdir(), 'fledge-flux-storage-'));
  const artifactPort = await freePort();
  const common = async (): Promise<{ args: string[]; health: string }> => {
    const [metrics, health] = [await freePort(), await freePort()];
    return {
      args: [
        '--watch-all-namespaces=false',
        '--enable-leader-election=false',
        `--metrics-addr=127.0.0.1:${metrics}`,
        `--health-addr=127.0.0.1:${health}`,
        '--log-encoding=console',
      ],
      health: `http://127.0.0.1:${health}/readyz`,
    };
  };
  const source = await common();
  const kustomize = await common();
  const specs = [
    {
      name: 'source-controller',
      binary: fluxSourceControllerBinary,
      args: [...source.args, `--storage-path=${storage}`, `--storage-addr=127.0.0.1:${artifactPort}`, `--storage-adv-addr=127.0.0.1:${artifactPort}`],
      health: source.health,
    },
    { name: 'kustomize-controller', binary: fluxKustomizeControllerBinary, args: [...kustomize.args, '--no-remote-bases=true'], health: kustomize.health },
  ];
  const started = specs.map((spec) => {
    const child = spawn(spec.binary, spec.args, {
      // RUNTIME_NAMESPACE is the one namespace a Flux controller watches without --watch-all-namespaces.
      env: { ...process.env, KUBECONFIG: inject('kubeconfig'), RUNTIME_NAMESPACE: namespace },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { spec, child, exited, output: () => output };
  });
  const stop = async (): Promise<void> => {
    for (const { child, exited } of started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    }
    rmSync(storage, { recursive: true, force: true });
  };
  try {
    for (const { spec, child, output } of started) {
      await eventually(`${spec.name} ready on ${spec.health}`, async () => {
        if (child.exitCode !== null) throw new Error(`${spec.name} exited ${child.exitCode}:\n${output().slice(-4000)}`);
        return (await ready(spec.health)) ? true : undefined;
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    controllers: started.map(({ spec, output }) => ({ name: spec.name, args: spec.args, output })),
    stop,
  };
}
