import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/meta.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { startFlux, type Flux } from '../harness/flux.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';
const V3 = 'registry.k8s.io/pause:3.10.1';
const ROLLOUT = 'web';
const REPO = 'app';

/** What the team commits: a canary that stops at 50% until a person promotes. */
function rolloutYaml(image: string): string {
  return JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: ROLLOUT },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: ROLLOUT } },
      template: { metadata: { labels: { app: ROLLOUT } }, spec: { containers: [{ name: 'web', image }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 100 }] } },
    },
  });
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const note = (line: string): void => void process.stderr.write(`flux e2e: ${line}\n`);

// FLEDGE_TEST_KUBECONFIG's cluster may run its own Flux, which would reconcile these objects too (and cannot reach
// this machine's Git server); the test would also overwrite its Flux CRDs.
describe.skipIf(process.env.FLEDGE_TEST_KUBECONFIG !== undefined)('Flux syncs a Rollout from a real Git server and waits on Fledge', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let git: GitServer;
  let flux: Flux;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let rollouts: ReturnType<typeof rolloutStatuses>;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('flux');
    git = await startGitServer({ username: 'flux', password: randomBytes(12).toString('hex') });
    flux = await startFlux(ns.name);
    controller = await startController(ns.name);
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    rollouts = rolloutStatuses(custom, ns.name);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
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
    const sha = await git.commitFiles(REPO, { 'deploy/rollout.yaml': rolloutYaml(V1) }, 'deploy web v1');
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
    const paused = await rollouts.waitFor(ROLLOUT, 'paused at the indefinite pause', (s: RolloutStatus) => s.phase === 'Paused' && s.currentStepIndex === 1);
    expect(paused.canaryWeight).toBe(50);
    // Fledge keeps Reconciling=True while paused, so Flux's health check keeps waiting: Ready stays Unknown.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const c = await kustomizationReady();
      expect(c?.status, JSON.stringify(c)).not.toBe('True');
      await new Promise((r) => setTimeout(r, 500));
    }
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

  it('turns the Kustomization Ready=False soon after the canary is aborted', async () => {
    const { appliedMs } = await commitImage(V3, 'deploy web v3');
    note(`v3: commit → Flux applied the Rollout in ${seconds(appliedMs)}`);
    await rollouts.waitFor(ROLLOUT, 'paused at the indefinite pause', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    const aborted = Date.now();
    const patched = await kubectl(['patch', 'rollout', ROLLOUT, '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);
    const failed = await eventually('Kustomization Ready=False', async () => {
      const c = await kustomizationReady();
      return c?.status === 'False' ? c : undefined;
    }, { timeoutMs: 90_000, intervalMs: 100 });
    note(`v3: abort → Kustomization Ready=False in ${seconds(Date.now() - aborted)} (${failed.reason}: ${failed.message})`);
    expect(failed.reason).toBe('HealthCheckFailed');
    expect((await rollouts.status(ROLLOUT)).phase).toBe('Degraded');
  });
});
