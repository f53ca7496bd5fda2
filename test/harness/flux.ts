import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { downloadGoModule, ensureBinaries } from './build.js';
import { FLUX_KUSTOMIZE_CONTROLLER_VERSION, FLUX_SOURCE_CONTROLLER_VERSION, fluxKustomizeControllerBinary, fluxSourceControllerBinary } from './config.js';
import { eventually, kubectl } from './e2e.js';
import { addressInUse, freePort } from './free-port.js';

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
export async function installFluxCrds(module: string, version: string): Promise<void> {
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
  const specs: Array<{ name: string; binary: string; spec: () => Promise<{ args: string[]; health: string }> }> = [
    {
      name: 'source-controller',
      binary: fluxSourceControllerBinary,
      spec: async () => {
        const [source, artifactPort] = [await common(), await freePort()];
        return { ...source, args: [...source.args, `--storage-path=${storage}`, `--storage-addr=127.0.0.1:${artifactPort}`, `--storage-adv-addr=127.0.0.1:${artifactPort}`] };
      },
    },
    {
      name: 'kustomize-controller',
      binary: fluxKustomizeControllerBinary,
      spec: async () => {
        const kustomize = await common();
        return { ...kustomize, args: [...kustomize.args, '--no-remote-bases=true'] };
      },
    },
  ];
  const started: Started[] = [];
  const stop = async (): Promise<void> => {
    for (const controller of started) await controller.stop();
    rmSync(storage, { recursive: true, force: true });
  };
  try {
    for (const { name, binary, spec } of specs) {
      // A port reserved for the harness can still be bound by something outside it: then start again on new ports.
      for (let attempt = 1; ; attempt++) {
        const controller = launch(name, binary, await spec(), namespace);
        const outcome = await controller.ready();
        if (outcome === 'ready') {
          started.push(controller);
          break;
        }
        await controller.stop();
        if (!(addressInUse(controller.output()) && attempt < 3)) throw new Error(`${name} exited before it was ready:\n${controller.output().slice(-4000)}`);
        log(`${name} could not bind its address (attempt ${attempt}); starting it again on other ports`);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    controllers: started.map(({ name, args, output }) => ({ name, args, output })),
    stop,
  };
}

interface Started extends FluxController {
  /** 'ready' once its readiness endpoint answers 200; 'exited' if the process ends first. */
  ready(): Promise<'ready' | 'exited'>;
  stop(): Promise<void>;
}

function launch(name: string, binary: string, spec: { args: string[]; health: string }, namespace: string): Started {
  const child = spawn(binary, spec.args, {
    // RUNTIME_NAMESPACE is the one namespace a Flux controller watches without --watch-all-namespaces.
    env: { ...process.env, KUBECONFIG: inject('kubeconfig'), RUNTIME_NAMESPACE: namespace },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name,
    args: spec.args,
    output: () => output,
    ready: async () => {
      try {
        return await eventually(`${name} ready on ${spec.health}`, async () => {
          if (!running()) return 'exited' as const;
          return (await ready(spec.health)) ? ('ready' as const) : undefined;
        });
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${output.slice(-4000)}`);
      }
    },
    stop: async () => {
      if (running()) child.kill('SIGTERM');
      await exited;
    },
  };
}
