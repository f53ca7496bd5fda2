import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, symlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELM_VERSION, KUBERNETES_VERSION, KWOK_VERSION, helmBinary, k8sBinary, kubectlBinary, kubectlDir, kwokBinary } from './config.js';
import { HarnessError } from './errors.js';

const goModuleDir = join(dirname(fileURLToPath(import.meta.url)), 'k8s');

function requireGo(): void {
  const probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new HarnessError(
      'the Go toolchain (go >= 1.25) is needed once, to build kube-apiserver, etcd, controller-manager, scheduler and kwok; ' +
        'install Go 1.25 or newer from go.dev/dl (Debian bookworm\'s golang-go is too old) and put `go` on PATH, then run this again. ' +
        'Or point the tests at an existing cluster with FLEDGE_TEST_KUBECONFIG (see README)',
    );
  }
}

/** Runs `go` with -v and reports how many packages have been compiled, so a cold build does not look hung. */
function runGo(
  args: string[],
  cwd: string,
  label: string,
  log: (line: string) => void,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, {
      cwd,
      env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let compiled = 0;
    let lastReport = Date.now();
    const tail: string[] = [];
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        if (/^[\w.\-/]+$/.test(line)) compiled++;
      }
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`${label}: ${compiled} packages compiled so far`);
      }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new HarnessError(`${label} failed (go exit ${code}):\n${tail.join('\n')}`));
    });
  });
}

export async function ensureBinaries(log: (line: string) => void): Promise<void> {
  if (!existsSync(k8sBinary)) {
    requireGo();
    log(`building Kubernetes ${KUBERNETES_VERSION} (apiserver, controller-manager, scheduler, etcd, kubectl) into ${k8sBinary}; the first build takes about 5-10 minutes on 2 cores`);
    const started = Date.now();
    mkdirSync(dirname(k8sBinary), { recursive: true });
    const minor = KUBERNETES_VERSION.split('.')[1] ?? '';
    const ldflags = [
      '-s -w',
      `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
      '-X k8s.io/component-base/version.gitMajor=1',
      `-X k8s.io/component-base/version.gitMinor=${minor}`,
    ].join(' ');
    const partial = `${k8sBinary}.partial`;
    await runGo(['build', '-v', '-trimpath', '-tags', 'selinux,notest', '-ldflags', ldflags, '-o', partial, '.'], goModuleDir, 'kubernetes build', log);
    renameSync(partial, k8sBinary);
    log(`kubernetes build done in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (!existsSync(kubectlBinary)) {
    mkdirSync(kubectlDir, { recursive: true });
    rmSync(kubectlBinary, { force: true });
    symlinkSync(k8sBinary, kubectlBinary);
  }
  if (!existsSync(kwokBinary)) {
    requireGo();
    log(`building kwok ${KWOK_VERSION} (fake nodes) into ${kwokBinary}`);
    const started = Date.now();
    mkdirSync(dirname(kwokBinary), { recursive: true });
    await runGo(['install', '-v', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], dirname(kwokBinary), 'kwok build', log, {
      GOBIN: dirname(kwokBinary),
    });
    log(`kwok build done in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (!existsSync(helmBinary)) {
    requireGo();
    // Debian has no helm package; the chart in deploy/helm is rendered with the real helm in the tests.
    log(`building helm ${HELM_VERSION} into ${helmBinary}`);
    const started = Date.now();
    mkdirSync(dirname(helmBinary), { recursive: true });
    await runGo(['install', '-v', `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`], dirname(helmBinary), 'helm build', log, { GOBIN: dirname(helmBinary) });
    log(`helm build done in ${Math.round((Date.now() - started) / 1000)} s`);
  }
}
