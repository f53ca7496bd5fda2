import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Condition } from '../../src/api/meta.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, holdsFor, installCrds, kubectl, prometheusUrl, rolloutStatuses, testKubeConfig } from '../harness/e2e.js';
import { startFlux, type Flux } from '../harness/flux.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';
import { startShippedController, type ShippedController } from '../harness/shipped.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

// The harness's pods serve and count requests by their image tag: `-bad` fails one request in five.
const V1 = 'demo:v1';
const V2 = 'demo:v2';
const V3 = 'demo:v3-bad';
const ROLLOUT = 'web';
const REPO = 'app';

/**
 * What the team commits, as a person writes it (comments and all): a canary judged by its success rate in
 * Prometheus, that then waits at 50% until a person promotes, and that commits the stable image back to this
 * repository after an abort. Nothing says where the repository is: Fledge finds it from the labels Flux puts on
 * what it applies.
 */
function rolloutYaml(image: string, writeBack = true): string {
  return `# The storefront. Bump the image to release; Fledge canaries it.
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata:
  name: ${ROLLOUT}
spec:
  replicas: 4
  selector:
    matchLabels:
      app: ${ROLLOUT}
  template:
    metadata:
      labels:
        app: ${ROLLOUT}
    spec:
      containers:
        - name: web
          image: "${image}"   # the release
  strategy:
    canary:
      steps:
        - setWeight: 50
        - analysis:
            templates:
              - templateName: success-rate
            args:
              - name: namespace
                valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
              - name: canary-hash
                valueFrom: {podTemplateHashValue: Latest}
        - pause: {}
        - setWeight: 100
${writeBack ? '  writeBack:\n    secretRef:\n      name: git-credentials\n' : '  writeBack:\n    enabled: false\n'}`;
}

const ANALYSIS_YAML = `apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
    - name: namespace
    - name: canary-hash
  metrics:
    - name: success-rate
      initialDelay: 5s
      interval: 5s
      count: 3
      successCondition: result >= 0.95
      provider:
        prometheus:
          query: sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}",code!~"5.."}[10s])) / sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s]))
`;

/** The health rules deploy/flux/kustomization.yaml ships, so real Flux proves them, not only a CEL unit test. */
const shippedHealthChecks = (load(readFileSync(new URL('../../deploy/flux/kustomization.yaml', import.meta.url), 'utf8')) as { spec: { healthCheckExprs: unknown[] } }).spec
  .healthCheckExprs;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const note = (line: string): void => void process.stderr.write(`flux e2e: ${line}\n`);

// FLEDGE_TEST_KUBECONFIG's cluster may run its own Flux, which would reconcile these objects too (and cannot reach
// this machine's Git server); the test would also overwrite its Flux CRDs.
describe.skipIf(process.env.FLEDGE_TEST_KUBECONFIG !== undefined)('Flux syncs a Rollout from a real Git server and waits on Fledge', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let git: GitServer;
  let flux: Flux;
  let controller: ShippedController;
  let simulator: Simulator;
  let custom: k8s.CustomObjectsApi;
  let rollouts: ReturnType<typeof rolloutStatuses>;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('flux');
    git = await startGitServer({ username: 'flux', password: randomBytes(12).toString('hex') });
    flux = await startFlux(ns.name);
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    // As deploy/ ships it: write-back clones into the Deployment's /tmp volume under a read-only root.
    controller = await startShippedController(ns.name, { extraArgs: [`--prometheus-address=${prometheusUrl()}`] });
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    rollouts = rolloutStatuses(custom, ns.name);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    await simulator?.stop();
    await flux?.stop();
    await git?.close();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      process.stderr.write(`controller output:\n${controller?.output().slice(-10_000)}\n`);
      for (const c of flux?.controllers ?? []) process.stderr.write(`${c.name} output:\n${c.output().slice(-10_000)}\n`);
    }
    await ns?.remove();
  });

  const apply = async (object: unknown): Promise<void> => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(object) });
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
  };

  const fluxObject = async (group: string, plural: string, name: string): Promise<{ status?: { conditions?: Condition[]; lastAppliedRevision?: string; lastAttemptedRevision?: string } }> =>
    (await custom.getNamespacedCustomObject({ group, version: 'v1', namespace: ns.name, plural, name })) as never;
  const ready = async (group: string, plural: string, name: string): Promise<Condition | undefined> =>
    (await fluxObject(group, plural, name)).status?.conditions?.find((c) => c.type === 'Ready');
  const kustomizationReady = (): Promise<Condition | undefined> => ready('kustomize.toolkit.fluxcd.io', 'kustomizations', REPO);

  const kustomizationNotReady = (): Promise<Condition> =>
    eventually('Kustomization Ready=False', async () => {
      const c = await kustomizationReady();
      return c?.status === 'False' ? c : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });

  /** What a Git host's webhook makes Flux's notification-controller do: ask for a fetch now, not at the next interval. */
  const requestSync = async (): Promise<void> => {
    const annotated = await kubectl(['annotate', '-n', ns.name, '--overwrite', `gitrepository/${REPO}`, `reconcile.fluxcd.io/requestedAt=${Date.now()}`]);
    if (annotated.code !== 0) throw new Error(`annotating the GitRepository failed: ${annotated.stderr}`);
  };

  const templateImage = async (): Promise<string | undefined> => {
    const rollout = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: ROLLOUT })) as {
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    return rollout.spec.template.spec.containers[0]?.image;
  };

  /** Commits `image`, asks Flux to sync, and returns how long until the Rollout in the cluster has it. */
  const commitImage = async (image: string, message: string): Promise<{ sha: string; appliedMs: number }> => {
    const committed = Date.now();
    const sha = await git.commitFiles(REPO, { 'deploy/rollout.yaml': rolloutYaml(image) }, message);
    await requestSync();
    await eventually(`Flux applies ${image}`, async () => ((await templateImage()) === image ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    return { sha, appliedMs: Date.now() - committed };
  };

  /** Ready=True for the revision `sha`, polled often so the time it took is measured, not the poll interval. */
  const kustomizationReadyAt = (sha: string, timeoutMs: number): Promise<true> =>
    eventually(`Kustomization Ready=True at ${sha}`, async () => {
      const k = await fluxObject('kustomize.toolkit.fluxcd.io', 'kustomizations', REPO);
      const readyCondition = k.status?.conditions?.find((c) => c.type === 'Ready');
      return readyCondition?.status === 'True' && k.status?.lastAppliedRevision?.endsWith(sha) ? true : undefined;
    }, { timeoutMs, intervalMs: 100 });

  it('refuses the repository with the wrong password, as the Git server answers 401', async () => {
    const url = await git.createRepo('private');
    await git.commitFiles('private', { 'README.md': 'private\n' }, 'add a readme');
    const wrong = await kubectl(['create', 'secret', 'generic', 'wrong-credentials', '-n', ns.name, '--from-literal=username=flux', '--from-literal=password=wrong']);
    expect(wrong.code, wrong.stderr).toBe(0);
    await apply({
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'private' },
      spec: { url, interval: '10m', ref: { branch: 'main' }, secretRef: { name: 'wrong-credentials' } },
    });
    const failed = await eventually('the GitRepository fails to fetch', async () => {
      const c = await ready('source.toolkit.fluxcd.io', 'gitrepositories', 'private');
      return c?.status === 'False' ? c : undefined;
    });
    expect(failed.message).toMatch(/authentication required|401/i);
  });

  it('applies the committed Rollout, which Fledge then rolls out Healthy', async () => {
    const url = await git.createRepo(REPO);
    const created = await kubectl(['create', 'secret', 'generic', 'git-credentials', '-n', ns.name, '--from-literal=username=flux', `--from-literal=password=${git.password}`]);
    expect(created.code, created.stderr).toBe(0);
    const sha = await git.commitFiles(REPO, { 'deploy/rollout.yaml': rolloutYaml(V1), 'deploy/analysis.yaml': ANALYSIS_YAML }, 'deploy web v1');
    const started = Date.now();
    await apply({
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: REPO },
      spec: { url, interval: '10m', ref: { branch: 'main' }, secretRef: { name: 'git-credentials' } },
    });
    await apply({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: REPO },
      spec: {
        interval: '10m',
        path: './deploy',
        prune: true,
        sourceRef: { kind: 'GitRepository', name: REPO },
        targetNamespace: ns.name,
        wait: true,
        timeout: '3m',
        healthCheckExprs: shippedHealthChecks,
      },
    });
    await kustomizationReadyAt(sha, 90_000);
    // kstatus takes a Rollout without status as Current, so this Ready may come before Fledge has written any
    // status; the note says which it was. The canary below proves the wait, once Fledge's status exists.
    const statusAtReady = await rollouts.status(ROLLOUT);
    note(`first sync: GitRepository + Kustomization applied → Kustomization Ready in ${seconds(Date.now() - started)}; Rollout phase then: ${statusAtReady.phase ?? '(no status yet)'}`);
    const healthy = await rollouts.waitFor(ROLLOUT, 'Healthy', (s) => s.phase === 'Healthy');
    expect(healthy.stableRevision).toBe(healthy.currentRevision);
    expect((await git.log(REPO))[0]?.sha).toBe(sha);
  });

  it('holds the Kustomization not Ready while the canary waits at its pause, and Ready after the promotion', async () => {
    const { sha, appliedMs } = await commitImage(V2, 'deploy web v2');
    note(`v2: commit → Flux applied the Rollout in ${seconds(appliedMs)}`);
    const paused = await rollouts.waitFor(ROLLOUT, 'paused at the indefinite pause', (s: RolloutStatus) => s.phase === 'Paused' && s.currentStepIndex === 2);
    expect(paused.canaryWeight).toBe(50);
    // Fledge keeps Reconciling=True while paused, so Flux's health check keeps waiting: Ready stays Unknown.
    await holdsFor(
      5_000,
      async () => {
        const c = await kustomizationReady();
        expect(c?.status, JSON.stringify(c)).not.toBe('True');
      },
      { every: 500, what: 'the Kustomization not Ready while the canary is paused' },
    );
    const waiting = await kustomizationReady();
    note(`v2 paused: Kustomization Ready=${waiting?.status} (${waiting?.reason}: ${waiting?.message})`);
    expect((await fluxObject('kustomize.toolkit.fluxcd.io', 'kustomizations', REPO)).status?.lastAttemptedRevision).toMatch(new RegExp(`${sha}$`));

    const promoted = Date.now();
    const patched = await kubectl(['patch', 'rollout', ROLLOUT, '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"promote":"full"}}']);
    expect(patched.code, patched.stderr).toBe(0);
    await kustomizationReadyAt(sha, 90_000);
    note(`v2: promote → Kustomization Ready=True in ${seconds(Date.now() - promoted)}`);
    expect((await rollouts.status(ROLLOUT)).phase).toBe('Healthy');
  });

  it('after the analysis aborts v3, Kustomization Ready=False; Fledge commits the stable image with the verdict; Flux applies it and Ready=True again', async () => {
    const { sha: v3Sha, appliedMs } = await commitImage(V3, 'deploy web v3');
    const applied = Date.now();
    note(`v3: commit → Flux applied the Rollout in ${seconds(appliedMs)}`);
    // Nobody aborts by hand: Prometheus's answers about the canary's pods do.
    const aborted = await rollouts.waitFor(ROLLOUT, 'aborted by its analysis', (s) => s.phase === 'Degraded', 90_000);
    const abortedAt = Date.now();
    note(`v3: applied → aborted by the analysis in ${seconds(abortedAt - applied)}: ${aborted.message}`);
    expect(aborted.message).toMatch(/metric success-rate failed/);
    // Flux's health check and Fledge's write-back run side by side; each is timed from the abort.
    const [failed, written] = await Promise.all([
      kustomizationNotReady().then((c) => {
        note(`v3: abort → Kustomization Ready=False in ${seconds(Date.now() - abortedAt)} (${c.reason}: ${c.message})`);
        return c;
      }),
      rollouts.waitFor(ROLLOUT, 'written back to Git', (s) => s.writeBack?.outcome !== undefined, 60_000).then((s) => {
        note(`v3: abort → write-back commit pushed and recorded in ${seconds(Date.now() - abortedAt)}: ${s.writeBack?.message}`);
        return s;
      }),
    ]);
    expect(failed.reason).toBe('HealthCheckFailed');
    // Fledge found the repository, branch and directory from Flux's labels alone, and committed v2 back.
    expect(written.phase).toBe('Degraded');
    expect(written.writeBack).toMatchObject({ outcome: 'Committed', branch: 'main', file: 'deploy/rollout.yaml' });
    expect(written.writeBack?.message).toContain(`found via Flux Kustomization ${ns.name}/${REPO}`);
    const history = await git.log(REPO);
    expect(history[0]?.sha).toBe(written.writeBack?.commit);
    expect(history[1]?.sha).toBe(v3Sha);
    expect(history[0]?.subject).toBe(`fledge: restore ${ns.name}/${ROLLOUT} to ${V2}`);
    expect(history[0]?.body).toContain(aborted.message);
    expect(history[0]?.body).toContain(`Container web: ${V3} -> ${V2}`);
    // Byte for byte what the team wrote for v2, comments and quotes kept: only the image changed back.
    expect(await git.show(REPO, 'deploy/rollout.yaml')).toBe(rolloutYaml(V2));

    // Flux applies the restored commit (the push webhook asks for the sync); the Rollout is back on stable, and Git,
    // the cluster and Flux agree again.
    const restoreSha = written.writeBack?.commit ?? '';
    const pushed = Date.now();
    await requestSync();
    await kustomizationReadyAt(restoreSha, 90_000);
    note(`restore commit → Flux applied it and Kustomization Ready=True in ${seconds(Date.now() - pushed)}; abort → Git, cluster and Flux agree in ${seconds(Date.now() - abortedAt)}`);
    expect(await templateImage()).toBe(V2);
    const healthy = await rollouts.waitFor(ROLLOUT, 'Healthy on stable', (s) => s.phase === 'Healthy');
    expect(healthy.abort).toBeUndefined();
    expect(healthy.currentRevision).toBe(healthy.stableRevision);
    expect(healthy.stableRevision).toBe(aborted.stableRevision);
  });

  it('with write-back off, an abort leaves Git alone and the Kustomization Ready=False until a person fixes Git', async () => {
    const before = await rollouts.status(ROLLOUT);
    const sha = await git.commitFiles(REPO, { 'deploy/rollout.yaml': rolloutYaml(V3, false) }, 'deploy web v3 again, without write-back');
    await requestSync();
    const aborted = await rollouts.waitFor(ROLLOUT, 'aborted by its analysis', (s) => s.phase === 'Degraded' && s.currentRevision !== before.currentRevision, 90_000);
    const failed = await kustomizationNotReady();
    expect(failed.reason).toBe('HealthCheckFailed');
    // Long enough for a write-back to have landed (it took a few seconds above): none does.
    await holdsFor(
      8_000,
      async () => {
        expect((await git.log(REPO))[0]?.sha, 'the head of Git').toBe(sha);
        const after = await rollouts.status(ROLLOUT);
        expect(after.writeBack).toEqual(before.writeBack);
        expect(after.conditions?.find((c) => c.type === 'GitWriteBack')?.reason).toBe('GitWriteBackCommitted');
        expect(after.phase).toBe('Degraded');
      },
      { what: 'Git and the write-back status as they were, the Rollout Degraded' },
    );
    expect(aborted.stableRevision).toBe(before.stableRevision);
    expect((await kustomizationReady())?.status).toBe('False');
  });
});
