import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, symlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  ARGO_ROLLOUTS_VERSION,
  FLUX_KUSTOMIZE_CONTROLLER_VERSION,
  FLUX_SOURCE_CONTROLLER_VERSION,
  HELM_VERSION,
  KUBERNETES_VERSION,
  KWOK_VERSION,
  TRAEFIK_VERSION,
  argoRolloutsBinary,
  argoRolloutsCrdsDir,
  fluxKustomizeControllerBinary,
  fluxSourceControllerBinary,
  helmBinary,
  k8sBinary,
  kubectlBinary,
  kubectlDir,
  kwokBinary,
  traefikBinary,
} from './config.js';
import { HarnessError } from './errors.js';

const goModuleDir = join(dirname(fileURLToPath(import.meta.url)), 'k8s');

function requireGo(what: string): void {
  // Asked twice: on a loaded machine a single probe once failed with go on PATH; the message now says how.
  let probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) probe = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error?.message ?? `exit ${probe.status ?? '?'}: ${probe.stderr.trim()}`;
    throw new HarnessError(
      `the Go toolchain (go >= 1.25) is needed once, to build ${what} (\`go version\` failed: ${why}; PATH=${process.env.PATH ?? ''}); ` +
        'install Go 1.25 or newer from go.dev/dl (Debian bookworm\'s golang-go is too old) and put `go` on PATH, then run this again. ' +
        'Or point the tests at an existing cluster with FLEDGE_TEST_KUBECONFIG (see README)',
    );
  }
}

/**
 * The read-only source directory of a Go module, fetched through the module proxy into GOMODCACHE (which is
 * the cache: a second call costs nothing).
 */
export async function downloadGoModule(module: string, version: string): Promise<string> {
  requireGo(`${module} ${version}`);
  // Outside any Go module, so no go.mod of ours decides what is fetched. On failure the JSON (with Error) is on stdout too.
  const output = await promisify(execFile)('go', ['mod', 'download', '-json', `${module}@${version}`], {
    cwd: tmpdir(),
    env: { ...process.env, GOTOOLCHAIN: 'local' },
  }).then(
    ({ stdout }) => stdout,
    (err: { stdout?: string; message: string }) => err.stdout || err.message,
  );
  let answer: { Dir?: string; Error?: string } = {};
  try {
    answer = JSON.parse(output) as typeof answer;
  } catch {
    answer = { Error: output.trim() };
  }
  if (!answer.Dir || answer.Error) {
    throw new HarnessError(`go mod download ${module}@${version} failed: ${answer.Error ?? 'no Dir in its answer'}; is the Go module proxy reachable?`);
  }
  return answer.Dir;
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

/** The binaries the harness builds from source. */
export type Component = 'kubernetes' | 'kwok' | 'traefik' | 'helm' | 'flux-source-controller' | 'flux-kustomize-controller' | 'argo-rollouts';

/** Who asks for a build; each gets only what it uses (a helm build costs about 2 minutes on 2 cores). */
export type BuildTarget = 'cluster' | 'demo' | 'tests' | 'external-cluster-tests' | 'gitops' | 'bench';

const COMPONENTS: Record<Component, { label: string; binary: string; role: string }> = {
  kubernetes: { label: `Kubernetes ${KUBERNETES_VERSION}`, binary: k8sBinary, role: 'the control plane and kubectl' },
  kwok: { label: `kwok ${KWOK_VERSION}`, binary: kwokBinary, role: 'fake nodes' },
  traefik: { label: `Traefik ${TRAEFIK_VERSION}`, binary: traefikBinary, role: 'the gateway that routes traffic to the fake pods' },
  helm: { label: `helm ${HELM_VERSION}`, binary: helmBinary, role: 'the chart test renders deploy/helm with it' },
  'flux-source-controller': {
    label: `Flux source-controller ${FLUX_SOURCE_CONTROLLER_VERSION}`,
    binary: fluxSourceControllerBinary,
    role: 'what fetches the GitOps tests\' Git repositories',
  },
  'flux-kustomize-controller': {
    label: `Flux kustomize-controller ${FLUX_KUSTOMIZE_CONTROLLER_VERSION}`,
    binary: fluxKustomizeControllerBinary,
    role: 'what applies the GitOps tests\' commits',
  },
  'argo-rollouts': {
    label: `Argo Rollouts ${ARGO_ROLLOUTS_VERSION}`,
    binary: argoRolloutsBinary,
    role: 'the controller the scale bench compares Fledge with',
  },
};

const FLUX: readonly Component[] = ['flux-source-controller', 'flux-kustomize-controller'];

const TARGETS: Record<BuildTarget, { components: readonly Component[]; who: string }> = {
  cluster: { components: ['kubernetes', 'kwok', 'traefik'], who: 'the local cluster' },
  demo: { components: ['kubernetes', 'kwok', 'traefik'], who: 'the demo' },
  tests: { components: ['kubernetes', 'kwok', 'traefik', 'helm', ...FLUX], who: 'the test suite' },
  // With FLEDGE_TEST_KUBECONFIG there is no local control plane to build, but the chart test still runs.
  'external-cluster-tests': { components: ['helm'], who: 'the test suite on an existing cluster' },
  // What test/harness/flux.ts runs, for a test file that starts Flux on a cluster it did not build.
  gitops: { components: FLUX, who: 'Flux' },
  // Only the scale bench runs Argo Rollouts, so CI's `tests` never pays for its build.
  bench: { components: ['kubernetes', 'kwok', 'traefik', 'argo-rollouts'], who: 'the scale bench' },
};

const listOf = (items: string[], type: 'conjunction' | 'disjunction'): string => new Intl.ListFormat('en', { type }).format(items);

export interface BuildPlan {
  /** What is missing from the cache and will be built, in build order. */
  build: Component[];
  /** The progress line that says what is built and why, or undefined when everything is cached. */
  announcement: string | undefined;
}

/** What `target` needs that is not cached yet; `exists` is the cache lookup (injected so tests never build). */
export function buildPlan(target: BuildTarget, exists: (path: string) => boolean = existsSync): BuildPlan {
  const { components, who } = TARGETS[target];
  const build = components.filter((component) => !exists(COMPONENTS[component].binary));
  if (build.length === 0) return { build, announcement: undefined };
  const skipped = (Object.keys(COMPONENTS) as Component[]).filter((component) => !components.includes(component));
  const what = listOf(build.map((component) => `${COMPONENTS[component].label} (${COMPONENTS[component].role})`), 'conjunction');
  const not = skipped.length > 0 ? `; not ${listOf(skipped, 'disjunction')}, which ${who} never uses` : '';
  return { build, announcement: `building for ${who}: ${what}${not}` };
}

async function buildKubernetes(log: (line: string) => void): Promise<void> {
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

async function goInstall(component: 'kwok' | 'helm', pkg: string, log: (line: string) => void): Promise<void> {
  const { label, binary } = COMPONENTS[component];
  log(`building ${label} into ${binary}`);
  const started = Date.now();
  mkdirSync(dirname(binary), { recursive: true });
  await runGo(['install', '-v', pkg], dirname(binary), `${component} build`, log, { GOBIN: dirname(binary) });
  log(`${component} build done in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function buildTraefik(log: (line: string) => void): Promise<void> {
  log(`building Traefik ${TRAEFIK_VERSION} into ${traefikBinary}; the first build takes about 5-7 minutes on 2 cores`);
  const started = Date.now();
  // `go install module@version` refuses Traefik (its go.mod has replace directives), so build in its source.
  const source = await downloadGoModule('github.com/traefik/traefik/v3', TRAEFIK_VERSION);
  mkdirSync(dirname(traefikBinary), { recursive: true });
  // The module directory is read-only: the output goes to the cache, under a name `up` never runs.
  const partial = `${traefikBinary}.partial`;
  // Its version in `traefik version`, logs and traefik_config info, instead of "dev".
  const ldflags = `-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION}`;
  await runGo(['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', partial, './cmd/traefik'], source, 'traefik build', log);
  renameSync(partial, traefikBinary);
  log(`traefik build done in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Replace directives of a module's go.mod that name another module version (not a directory inside it). */
interface GoModJson {
  Go?: string;
  Replace?: Array<{ Old: { Path: string; Version?: string }; New: { Path: string; Version?: string } }>;
}

async function buildFluxController(component: 'flux-source-controller' | 'flux-kustomize-controller', module: string, version: string, log: (line: string) => void): Promise<void> {
  const { label, binary } = COMPONENTS[component];
  log(`building ${label} into ${binary}; the first build takes a few minutes on 2 cores`);
  const started = Date.now();
  const source = await downloadGoModule(module, version);
  // Its go.mod replaces its own api module with ./api, which the module proxy's zip leaves out (a nested module),
  // so it builds neither in place nor with `go install`. A wrapper module requires it and repeats the replace
  // directives that pin real versions (go-digest, kustomize): replace directives only count in the main module.
  const { stdout } = await promisify(execFile)('go', ['mod', 'edit', '-json', join(source, 'go.mod')], { env: { ...process.env, GOTOOLCHAIN: 'local' } });
  const goMod = JSON.parse(stdout) as GoModJson;
  const pins = (goMod.Replace ?? []).filter((r) => r.New.Version !== undefined);
  const wrapper = join(dirname(binary), 'wrapper');
  rmSync(wrapper, { recursive: true, force: true });
  mkdirSync(wrapper, { recursive: true });
  writeFileSync(
    join(wrapper, 'go.mod'),
    [
      `module fledge.test/build/${component}`,
      '',
      `go ${goMod.Go ?? '1.26.0'}`,
      '',
      ...pins.map((r) => `replace ${r.Old.Path}${r.Old.Version ? ` ${r.Old.Version}` : ''} => ${r.New.Path} ${r.New.Version}`),
      '',
    ].join('\n'),
  );
  await runGo(['get', `${module}@${version}`], wrapper, `${component} dependencies`, log);
  const partial = `${binary}.partial`;
  await runGo(['build', '-v', '-trimpath', '-ldflags', '-s -w', '-o', partial, module], wrapper, `${component} build`, log);
  renameSync(partial, binary);
  log(`${component} build done in ${Math.round((Date.now() - started) / 1000)} s`);
}

async function buildArgoRollouts(log: (line: string) => void): Promise<void> {
  log(`building Argo Rollouts ${ARGO_ROLLOUTS_VERSION} into ${argoRolloutsBinary}; the first build takes 5-12 minutes on 2 cores`);
  const started = Date.now();
  // Its go.mod's replace directives all pin published versions, so it builds in its own source, as Traefik does.
  const source = await downloadGoModule('github.com/argoproj/argo-rollouts', ARGO_ROLLOUTS_VERSION);
  // Copies of the module cache's read-only files: clear them, or a rebuild could not overwrite them.
  rmSync(argoRolloutsCrdsDir, { recursive: true, force: true });
  mkdirSync(argoRolloutsCrdsDir, { recursive: true });
  for (const file of readdirSync(join(source, 'manifests', 'crds')).filter((name) => name.endsWith('-crd.yaml'))) {
    copyFileSync(join(source, 'manifests', 'crds', file), join(argoRolloutsCrdsDir, file));
  }
  const partial = `${argoRolloutsBinary}.partial`;
  const ldflags = `-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${ARGO_ROLLOUTS_VERSION.slice(1)}`;
  await runGo(['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', partial, './cmd/rollouts-controller'], source, 'argo-rollouts build', log);
  renameSync(partial, argoRolloutsBinary);
  log(`argo-rollouts build done in ${Math.round((Date.now() - started) / 1000)} s`);
}

const BUILDERS: Record<Component, (log: (line: string) => void) => Promise<void>> = {
  kubernetes: buildKubernetes,
  kwok: (log) => goInstall('kwok', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`, log),
  traefik: buildTraefik,
  // Debian has no helm package; the chart in deploy/helm is rendered with the real helm in the tests.
  helm: (log) => goInstall('helm', `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`, log),
  'flux-source-controller': (log) => buildFluxController('flux-source-controller', 'github.com/fluxcd/source-controller', FLUX_SOURCE_CONTROLLER_VERSION, log),
  'flux-kustomize-controller': (log) => buildFluxController('flux-kustomize-controller', 'github.com/fluxcd/kustomize-controller', FLUX_KUSTOMIZE_CONTROLLER_VERSION, log),
  'argo-rollouts': buildArgoRollouts,
};

/** Builds what `target` needs and the cache (keyed by version) lacks. */
export async function ensureBinaries(target: BuildTarget, log: (line: string) => void): Promise<void> {
  const plan = buildPlan(target);
  if (plan.announcement !== undefined) {
    requireGo(listOf(plan.build.map((component) => COMPONENTS[component].label), 'conjunction'));
    log(plan.announcement);
  }
  for (const component of plan.build) await BUILDERS[component](log);
  if (TARGETS[target].components.includes('kubernetes') && !existsSync(kubectlBinary)) {
    mkdirSync(kubectlDir, { recursive: true });
    rmSync(kubectlBinary, { force: true });
    symlinkSync(k8sBinary, kubectlBinary);
  }
}
