import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { installArgoCdApplicationCrd } from '../harness/argocd.js';
import { helmBinary } from '../harness/config.js';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, testKubeConfig } from '../harness/e2e.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';
import { rolloutInGit } from '../harness/git-manifests.js';
import { startShippedController, type ShippedController } from '../harness/shipped.js';

/**
 * Write-back finds the repository the way it must in a real Argo CD install: from Argo CD's tracking annotation or
 * instance label to an Application object (Argo CD's own CRD, served by the real apiserver) in Argo CD's namespace,
 * and from there to repoURL, targetRevision and path. No Argo CD runs: the test applies what Git declares and adds
 * the annotation or label, as Argo CD does when it syncs (rendering a Helm chart with the real helm, as Argo CD's
 * repo-server does). The Rollouts name no repoURL. The controller runs as deploy/ ships it (harness/shipped.ts). A
 * cluster from FLEDGE_TEST_KUBECONFIG may run a real Argo CD, whose CRD this must not overwrite.
 */

const log = (line: string): void => void process.stderr.write(`write-back argocd e2e: ${line}\n`);
const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';

/** What Argo CD adds when it applies a manifest from Git: its tracking annotation or its instance label. */
type Tracking = { annotations: Record<string, string> } | { labels: Record<string, string> };

describe.skipIf(Boolean(process.env.FLEDGE_TEST_KUBECONFIG))('write-back to Git found through an Argo CD Application, on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  /** Annotated fledge.dev/write-back: enabled, with its own Secret: its Rollouts need no spec.writeBack. */
  let optedIn: Awaited<ReturnType<typeof createTestNamespace>>;
  /** Argo CD's namespace, unique to this file: the controller is told with --argocd-namespace. */
  let argocd: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ShippedController;
  let git: GitServer;
  let custom: k8s.CustomObjectsApi;

  beforeAll(async () => {
    await Promise.all([installCrds(), installArgoCdApplicationCrd()]);
    [ns, optedIn, argocd] = await Promise.all([createTestNamespace('wb-argocd'), createTestNamespace('wb-ns-opted'), createTestNamespace('argocd')]);
    git = await startGitServer({ username: 'fledge', password: 'push-token' });
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const setup = [
      ['create', 'secret', 'generic', 'git-credentials', '-n', ns.name, '--from-literal=username=fledge', '--from-literal=password=push-token'],
      ['create', 'secret', 'generic', 'team-git', '-n', optedIn.name, '--from-literal=username=fledge', '--from-literal=token=push-token'],
      ['annotate', 'namespace', optedIn.name, 'fledge.dev/write-back=enabled', 'fledge.dev/write-back-secret=team-git'],
    ];
    for (const args of setup) {
      const done = await kubectl(args);
      expect(done.code, done.stderr).toBe(0);
    }
    controller = await startShippedController(`${ns.name},${optedIn.name}`, { extraArgs: [`--argocd-namespace=${argocd.name}`] });
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    expect(controller?.memory().oomKilled, 'the controller was OOM-killed').toBe(false);
    await git?.close();
    await Promise.all([ns?.remove(), optedIn?.remove(), argocd?.remove()]);
  });

  /** A repository with the Rollout at apps/<name>.yaml, and the Application that syncs it (path apps, branch main). */
  const application = async (name: string, namespace: string): Promise<string> => {
    const repo = await git.createRepo(name);
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name, namespace: argocd.name },
      spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc', namespace }, source: { repoURL: repo, targetRevision: 'main', path: 'apps' } },
    };
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(app) });
    expect(applied.code, applied.stderr).toBe(0);
    return repo;
  };

  /** Argo CD's sync: apply the file as Git has it, with Argo CD's tracking annotation or label added. */
  const sync = async (namespace: string, text: string, tracking: Tracking): Promise<void> => {
    const manifest = yaml.load(text) as { metadata: Record<string, unknown> };
    manifest.metadata = { ...manifest.metadata, ...tracking };
    const applied = await kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(applied.code, applied.stderr).toBe(0);
  };

  /** v1 Healthy, v2 paused at its first step, then aborted; resolves once the abort is in. */
  const canaryThenAbort = async (namespace: string, name: string, files: { v1: string; v2: string }, tracking: Tracking): Promise<number> => {
    const statuses = rolloutStatuses(custom, namespace);
    await git.commitFiles(name, { [`apps/${name}.yaml`]: files.v1 }, `${name}: v1`, 'main');
    await sync(namespace, files.v1, tracking);
    await statuses.waitFor(name, 'Healthy on v1', (s) => s.phase === 'Healthy');
    await git.commitFiles(name, { [`apps/${name}.yaml`]: files.v2 }, `${name}: v2`, 'main');
    await sync(namespace, files.v2, tracking);
    await statuses.waitFor(name, 'paused at 50%', (s) => s.phase === 'Paused');
    const patched = await kubectl(['patch', 'rollout', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);
    return Date.now();
  };

  const writtenBack = (namespace: string, name: string): Promise<RolloutStatus> =>
    rolloutStatuses(custom, namespace).waitFor(name, 'written back', (s) => s.writeBack?.outcome !== undefined && s.conditions?.some((c) => c.type === 'GitWriteBack') === true, 60_000);

  /** Git at the tip says v1 again byte for byte, one commit after v2. */
  const expectRestored = async (name: string, status: RolloutStatus, v1: string): Promise<void> => {
    expect(status.writeBack).toMatchObject({ outcome: 'Committed', branch: 'main', file: `apps/${name}.yaml` });
    const history = await git.log(name, 'main');
    expect(history.map((c) => c.subject)).toEqual([expect.stringMatching(/^fledge: restore /), `${name}: v2`, `${name}: v1`]);
    expect(history[0]?.sha).toBe(status.writeBack?.commit);
    expect(await git.show(name, `apps/${name}.yaml`)).toBe(v1);
  };

  it("follows the tracking-id annotation to the Application's repoURL, branch and path, and restores the file byte for byte", { timeout: 120_000 }, async () => {
    const repo = await application('shop', ns.name);
    const writeBack = `  writeBack: {secretRef: {name: git-credentials}}\n`;
    const v1 = rolloutInGit('shop', V1, writeBack);
    const abortedAt = await canaryThenAbort(ns.name, 'shop', { v1, v2: rolloutInGit('shop', V2, writeBack) }, { annotations: { 'argocd.argoproj.io/tracking-id': `shop:fledge.dev/Rollout:${ns.name}/shop` } });
    const status = await writtenBack(ns.name, 'shop');
    log(`tracking id: abort → commit pushed and recorded in status: ${Date.now() - abortedAt} ms`);
    expect(status.writeBack).toMatchObject({ repoURL: repo });
    expect(status.writeBack?.message).toContain(`found via Argo CD Application ${argocd.name}/shop`);
    expect(status.conditions?.find((c) => c.type === 'GitWriteBack')).toMatchObject({ status: 'True', reason: 'GitWriteBackCommitted' });
    await expectRestored('shop', status, v1);
    expect((await git.log('shop'))[0]?.subject).toBe(`fledge: restore ${ns.name}/shop to ${V1}`);
  });

  it("follows Argo CD's instance label when there is no tracking id", { timeout: 120_000 }, async () => {
    await application('cart', ns.name);
    const writeBack = `  writeBack: {secretRef: {name: git-credentials}}\n`;
    const v1 = rolloutInGit('cart', V1, writeBack);
    const abortedAt = await canaryThenAbort(ns.name, 'cart', { v1, v2: rolloutInGit('cart', V2, writeBack) }, { labels: { 'app.kubernetes.io/instance': 'cart' } });
    const status = await writtenBack(ns.name, 'cart');
    log(`instance label: abort → commit pushed and recorded in status: ${Date.now() - abortedAt} ms`);
    expect(status.writeBack?.message).toContain(`found via Argo CD Application ${argocd.name}/cart`);
    await expectRestored('cart', status, v1);
  });

  it('writes back a Rollout without spec.writeBack in a namespace annotated enabled, and not one beside it in a namespace that says nothing', { timeout: 120_000 }, async () => {
    await Promise.all([application('web', optedIn.name), application('quiet', ns.name)]);
    const tracked = (namespace: string, name: string): Tracking => ({ annotations: { 'argocd.argoproj.io/tracking-id': `${name}:fledge.dev/Rollout:${namespace}/${name}` } });
    const web = { v1: rolloutInGit('web', V1), v2: rolloutInGit('web', V2) };
    const quiet = { v1: rolloutInGit('quiet', V1), v2: rolloutInGit('quiet', V2) };
    const [webAbortedAt] = await Promise.all([canaryThenAbort(optedIn.name, 'web', web, tracked(optedIn.name, 'web')), canaryThenAbort(ns.name, 'quiet', quiet, tracked(ns.name, 'quiet'))]);

    const status = await writtenBack(optedIn.name, 'web');
    log(`namespace opt-in: abort → commit pushed and recorded in status: ${Date.now() - webAbortedAt} ms`);
    expect(status.writeBack?.message).toContain(`found via Argo CD Application ${argocd.name}/web`);
    await expectRestored('web', status, web.v1);

    // The controller looked (one Namespace GET after the abort), found nobody opting in, and left Git and status alone.
    await eventually('the controller to decide against writing back quiet', async () =>
      controller.output().split('\n').some((line) => line.includes('"no git write-back"') && line.includes('"name":"quiet"')) ? true : undefined,
    );
    expect((await rolloutStatuses(custom, ns.name).status('quiet')).writeBack).toBeUndefined();
    expect((await git.log('quiet')).map((c) => c.subject)).toEqual(['quiet: v2', 'quiet: v1']);
  });

  it("restores the tag in a Helm chart's values.yaml under an Application with source.helm, comments kept, and Argo CD's next render is stable", { timeout: 120_000 }, async () => {
    const repo = await git.createRepo('pay');
    const app = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'pay', namespace: argocd.name },
      spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc', namespace: optedIn.name }, source: { repoURL: repo, targetRevision: 'main', path: 'charts/pay', helm: { valueFiles: ['values.yaml'] } } },
    };
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(app) });
    expect(applied.code, applied.stderr).toBe(0);
    const chart = chartFiles('pay');
    const values = (tag: string): string => (chart['values.yaml'] as string).replace('tag: "3.10"', `tag: "${tag}"`);
    const tracking: Tracking = { annotations: { 'argocd.argoproj.io/tracking-id': `pay:fledge.dev/Rollout:${optedIn.name}/pay` } };
    const statuses = rolloutStatuses(custom, optedIn.name);

    await git.commitFiles('pay', prefixed('charts/pay', { ...chart, 'values.yaml': values('3.9') }), 'pay: v1', 'main');
    await syncHelm(optedIn.name, repo, tracking);
    const v1 = await statuses.waitFor('pay', 'Healthy on v1', (s) => s.phase === 'Healthy');
    await git.commitFiles('pay', { 'charts/pay/values.yaml': values('3.10') }, 'pay: v2', 'main');
    await syncHelm(optedIn.name, repo, tracking);
    await statuses.waitFor('pay', 'paused at 50%', (s) => s.phase === 'Paused');
    const patched = await kubectl(['patch', 'rollout', 'pay', '-n', optedIn.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);

    const status = await writtenBack(optedIn.name, 'pay');
    expect(status.writeBack).toMatchObject({ outcome: 'Committed', branch: 'main', file: 'charts/pay/values.yaml' });
    expect(status.writeBack?.message).toContain('image.tag');
    // The value is restored where Helm reads it, every other byte (comments, quotes) as the team wrote it.
    expect(await git.show('pay', 'charts/pay/values.yaml')).toBe(values('3.9'));
    expect(await git.show('pay', 'charts/pay/templates/rollout.yaml')).toBe(chart['templates/rollout.yaml']);

    // Argo CD renders Git again: the stable version, and the abort is over.
    await syncHelm(optedIn.name, repo, tracking);
    const healthy = await statuses.waitFor('pay', 'Healthy on v1 again', (s) => s.phase === 'Healthy' && s.currentRevision === v1.stableRevision);
    expect(healthy.stableRevision).toBe(v1.stableRevision);
  });

  /** What Argo CD's repo-server and sync do with a Helm source: render the chart at Git's tip with its values, apply, track. */
  const syncHelm = async (namespace: string, repo: string, tracking: Tracking): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'fledge-argocd-helm-'));
    try {
      const name = repo.split('/').at(-1)?.replace(/\.git$/, '') ?? '';
      for (const file of Object.keys(chartFiles('pay'))) {
        const path = join(dir, file);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, await git.show(name, `charts/pay/${file}`));
      }
      const rendered = await promisify(execFile)(helmBinary, ['template', 'pay', dir, '--namespace', namespace, '-f', join(dir, 'values.yaml')]);
      await sync(namespace, rendered.stdout.replace(/^---\n(# Source: [^\n]*\n)?/, ''), tracking);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
});

const chartDir = new URL('../fixtures/charts/', import.meta.url).pathname;

/** A chart of test/fixtures/charts, as relative path → content. */
function chartFiles(chart: string): Record<string, string> {
  const root = join(chartDir, chart);
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(root, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(root);
  return files;
}

const prefixed = (prefix: string, files: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(files).map(([path, text]) => [`${prefix}/${path}`, text]));
