import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { bundleController } from '../../scripts/bundle-controller.js';
import { helmBinary } from './config.js';
import { imageNodeFlags } from './image.js';
import { CONTROLLER_NAMESPACE, controllerKubeconfig, controllerProcess, kubectl, testKubeConfig, type ControllerProcess } from './e2e.js';
import { alive, freePort } from './free-port.js';

/**
 * The controller as deploy/ ships it, on this machine: the bundle in the image's layout (/app/dist/main.js, cwd
 * /app), the rendered Deployment's args and env, its securityContext (uid/gid, read-only root, no capabilities, no
 * new privileges), only the volumes it declares (each emptyDir a tmpfs of its sizeLimit), the ServiceAccount's
 * token where the kubelet puts it (in-cluster config, no kubeconfig), and its memory limit as a cgroup, so an OOM
 * kill is a test failure. It runs in a mount namespace of its own (unshare), as root starts it, then drops to the
 * Deployment's uid. What differs from a pod, and why: the two port numbers (a pod has its own network; here the
 * host's loopback is shared, so free ports replace 8080/8081), and the test adds `--namespaces` and a Lease name of
 * its own so the controller reconciles only its test's namespace and never waits on another file's leader.
 */

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
/** Outside /tmp, which the Deployment's emptyDir hides; readable by the Deployment's uid. */
const shippedRoot = process.env.FLEDGE_SHIPPED_DIR ?? '/var/lib/fledge-shipped';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath?: string } } }>;
  resources?: { limits?: { memory?: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsUser?: number; runAsGroup?: number; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface Deployment {
  kind: 'Deployment';
  metadata: { name: string; namespace?: string };
  spec: {
    template: {
      spec: {
        serviceAccountName?: string;
        securityContext?: { runAsUser?: number; runAsGroup?: number };
        containers: Container[];
        volumes?: Array<{ name: string; emptyDir?: { sizeLimit?: string; medium?: string } } & Record<string, unknown>>;
      };
    };
  };
}

/** What the harness needs of a rendered Deployment to run its container here. */
export interface ShippedSpec {
  args: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  readOnlyRoot: boolean;
  tmpfs: Array<{ mountPath: string; sizeBytes: number }>;
  memoryLimitBytes: number;
  serviceAccount: string;
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** A Kubernetes quantity of bytes (`512Mi`, `1G`, `1048576`). */
export function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(|k|M|G|Ki|Mi|Gi)$/.exec(quantity);
  if (match === null) throw new Error(`not a byte quantity this harness reads: ${quantity}`);
  return Math.round(Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1));
}

/** Reads the controller container of a rendered Deployment; anything it cannot reproduce here is an error. */
export function shippedSpec(deployment: Deployment, namespace: string): ShippedSpec {
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'controller') ?? pod.containers[0];
  if (container === undefined) throw new Error('the Deployment has no container');
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = namespace;
    else throw new Error(`env ${variable.name}: only values and metadata.namespace are reproduced here`);
  }
  const tmpfs = (container.volumeMounts ?? []).map((mount) => {
    const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
    if (volume?.emptyDir === undefined) throw new Error(`volume ${mount.name}: only emptyDir volumes are reproduced here`);
    return { mountPath: mount.mountPath, sizeBytes: quantityBytes(volume.emptyDir.sizeLimit ?? '64Mi') };
  });
  const limit = container.resources?.limits?.memory;
  if (limit === undefined) throw new Error('the controller container has no memory limit');
  return {
    args: container.args ?? [],
    env,
    uid: container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? 0,
    gid: container.securityContext?.runAsGroup ?? pod.securityContext?.runAsGroup ?? 0,
    readOnlyRoot: container.securityContext?.readOnlyRootFilesystem === true,
    tmpfs,
    memoryLimitBytes: quantityBytes(limit),
    serviceAccount: pod.serviceAccountName ?? 'default',
  };
}

/** The Deployment as `kubectl apply -k deploy/` or the Helm chart (with `--set` values) would create it. */
export async function renderedDeployment(source: 'kustomize' | 'helm', helmSet: string[] = []): Promise<Deployment> {
  const text =
    source === 'kustomize'
      ? await kubectl(['kustomize', join(repoRoot, 'deploy')]).then((r) => {
          if (r.code !== 0) throw new Error(`kubectl kustomize deploy/ failed: ${r.stderr}`);
          return r.stdout;
        })
      : (await run(helmBinary, ['template', 'fledge', join(repoRoot, 'deploy/helm/fledge'), '--namespace', CONTROLLER_NAMESPACE, ...helmSet.flatMap((s) => ['--set', s])])).stdout;
  const deployment = yaml.loadAll(text).find((doc): doc is Deployment => (doc as { kind?: string } | null)?.kind === 'Deployment');
  if (deployment === undefined) throw new Error(`the ${source} render has no Deployment`);
  return deployment;
}

let image: Promise<string> | undefined;

/** The image's /app: package.json and dist/main.js, bundled once per test process, readable by any uid. */
function imageDir(): Promise<string> {
  image ??= (async () => {
    sweepStaleImages();
    const app = join(shippedRoot, `${process.pid}-${randomBytes(3).toString('hex')}`, 'app');
    mkdirSync(join(app, 'dist'), { recursive: true });
    copyFileSync(join(repoRoot, 'package.json'), join(app, 'package.json'));
    await bundleController(join(app, 'dist', 'main.js'));
    for (const dir of [shippedRoot, join(app, '..'), app, join(app, 'dist')]) chmodSync(dir, 0o755);
    process.once('exit', () => rmSync(join(app, '..'), { recursive: true, force: true }));
    return app;
  })();
  return image;
}

/**
 * Removes the images of test processes that are gone: vitest ends its workers without their exit hooks, so each run
 * would otherwise leave a bundle behind.
 */
function sweepStaleImages(): void {
  if (!existsSync(shippedRoot)) return;
  for (const entry of readdirSync(shippedRoot)) {
    const pid = Number(entry.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) rmSync(join(shippedRoot, entry), { recursive: true, force: true });
  }
}

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/** A shell script for `unshare -m`: the pod's filesystem view, then the container's process as its uid. */
function podScript(spec: ShippedSpec, app: string, serviceAccountFiles: string, env: Record<string, string>, args: string[]): string {
  const lines = [
    'set -e',
    // The pod's own hostname (its name), which the leader-election identity is made from.
    `hostname ${quote(env.HOSTNAME ?? 'fledge-controller')}`,
    'mount --rbind / /',
    // The kubelet's projected token volume, read-only, where in-cluster config looks.
    'mount -t tmpfs -o size=1m,mode=0755 tmpfs /run',
    `mkdir -p ${SERVICE_ACCOUNT_DIR}`,
    `mount --bind ${quote(serviceAccountFiles)} ${SERVICE_ACCOUNT_DIR}`,
    `mount -o remount,ro,bind ${SERVICE_ACCOUNT_DIR}`,
    'mount -o remount,ro /run',
    ...spec.tmpfs.flatMap(({ mountPath, sizeBytes }) => [`mkdir -p ${quote(mountPath)}`, `mount -t tmpfs -o size=${sizeBytes},mode=1777 tmpfs ${quote(mountPath)}`]),
    ...(spec.readOnlyRoot ? ['mount -o remount,ro,bind /'] : []),
    `cd ${quote(app)}`,
    [
      'exec env -i',
      ...Object.entries(env).map(([name, value]) => quote(`${name}=${value}`)),
      `setpriv --reuid=${spec.uid} --regid=${spec.gid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all`,
      quote(process.execPath),
      ...imageNodeFlags(repoRoot).map(quote),
      'dist/main.js',
      ...args.map(quote),
    ].join(' '),
  ];
  return lines.join('\n');
}

/** The ServiceAccount's token, the cluster CA and the namespace, as the kubelet mounts them. */
async function serviceAccountFiles(dir: string, account: string): Promise<{ host: string; port: string }> {
  await controllerKubeconfig();
  const token = await kubectl(['create', 'token', account, '-n', CONTROLLER_NAMESPACE, '--duration=24h']);
  if (token.code !== 0) throw new Error(`creating a token for ${account} failed: ${token.stderr}`);
  const cluster = testKubeConfig().getCurrentCluster();
  if (cluster === null) throw new Error('the test kubeconfig has no current cluster');
  const ca = cluster.caData !== undefined ? Buffer.from(cluster.caData, 'base64').toString('utf8') : readFileSync(cluster.caFile ?? '', 'utf8');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'token'), token.stdout.trim(), { mode: 0o644 });
  writeFileSync(join(dir, 'ca.crt'), ca, { mode: 0o644 });
  writeFileSync(join(dir, 'namespace'), CONTROLLER_NAMESPACE, { mode: 0o644 });
  const server = new URL(cluster.server);
  return { host: server.hostname, port: server.port || '443' };
}

/** The memory cgroup (v1) the container runs in, with the Deployment's limit and no swap. */
function memoryCgroup(limitBytes: number): { dir: string; read: (file: string) => number; remove: () => void } {
  const dir = join('/sys/fs/cgroup/memory', `fledge-shipped-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
  if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes));
  const read = (file: string): number => {
    const text = readFileSync(join(dir, file), 'utf8');
    const oomKill = /^oom_kill (\d+)$/m.exec(text);
    return Number(oomKill !== null ? oomKill[1] : text.trim());
  };
  // A cgroup goes with rmdir once its last process has left it (the kernel may take a moment to move it out).
  const remove = (): void => {
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        rmdirSync(dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') return;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  };
  return { dir, read, remove };
}

export interface ShippedController extends ControllerProcess {
  readonly spec: ShippedSpec;
  /** Peak memory of the container's cgroup, and whether the kernel killed it for passing its limit. */
  memory(): { peakBytes: number; limitBytes: number; oomKilled: boolean };
}

export interface ShippedOptions {
  source?: 'kustomize' | 'helm';
  helmSet?: string[];
  /** Flags the test adds after the Deployment's own (for example --argocd-namespace). */
  extraArgs?: string[];
  /** Changes the rendered Deployment before it runs: how a test shows the mode can fail. */
  edit?: (deployment: Deployment) => void;
}

/** Starts the controller as the rendered Deployment runs it, reconciling only `namespaces` (comma-separated). */
export async function startShippedController(namespaces: string, opts: ShippedOptions = {}): Promise<ShippedController> {
  if (process.getuid?.() !== 0) throw new Error('the as-shipped mode needs root: it makes a mount namespace and a memory cgroup');
  const deployment = await renderedDeployment(opts.source ?? 'kustomize', opts.helmSet);
  opts.edit?.(deployment);
  const spec = shippedSpec(deployment, CONTROLLER_NAMESPACE);
  const app = await imageDir();
  const accountDir = join(app, '..', `serviceaccount-${randomBytes(3).toString('hex')}`);
  const apiserver = await serviceAccountFiles(accountDir, spec.serviceAccount);
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const args = [
    ...spec.args.map((arg) => arg.replace(/^--metrics-port=\d+$/, `--metrics-port=${metricsPort}`).replace(/^--health-port=\d+$/, `--health-port=${healthPort}`)),
    `--namespaces=${namespaces}`,
    `--leader-election-id=fledge-${namespaces.split(',')[0] ?? 'controller'}`,
    ...(opts.extraArgs ?? []),
  ];
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/home/nonroot',
    HOSTNAME: `fledge-controller-${randomBytes(3).toString('hex')}`,
    KUBERNETES_SERVICE_HOST: apiserver.host,
    KUBERNETES_SERVICE_PORT: apiserver.port,
    ...spec.env,
  };
  const cgroup = memoryCgroup(spec.memoryLimitBytes);
  const script = podScript(spec, app, accountDir, env, args);
  const child = spawn('sh', ['-c', `echo $$ > ${quote(join(cgroup.dir, 'cgroup.procs'))} && exec unshare -m -u --propagation private sh -c ${quote(script)}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let memory: { peakBytes: number; oomKills: number } | undefined;
  const usage = (): { peakBytes: number; oomKills: number } => ({ peakBytes: cgroup.read('memory.max_usage_in_bytes'), oomKills: cgroup.read('memory.oom_control') });
  const handle = controllerProcess(child, () => {
    memory = usage();
    cgroup.remove();
  });
  return {
    ...handle,
    spec,
    memory: () => {
      const now = memory ?? usage();
      return { peakBytes: now.peakBytes, limitBytes: spec.memoryLimitBytes, oomKilled: now.oomKills > 0 };
    },
  };
}
