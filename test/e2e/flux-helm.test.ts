import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLUX_HELM_CONTROLLER_VERSION, helmBinary } from '../harness/config.js';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, testKubeConfig } from '../harness/e2e.js';
import { installFluxCrds, startFlux, type Flux } from '../harness/flux.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';
import { startShippedController, type ShippedController } from '../harness/shipped.js';

/**
 * A Flux HelmRelease whose chart comes from the GitRepository, with the image in the HelmRelease's spec.values in Git.
 * Real Flux (source-controller and kustomize-controller) syncs the HelmRelease from a real Git server; the test plays
 * helm-controller (the real helm renders the chart with the HelmRelease's values, and the result is applied with
 * helm-controller's labels). After an abort, Fledge, as shipped, restores the tag in the HelmRelease manifest, Flux
 * applies it, and the next render is the stable version.
 */

const REPO = 'platform';
const chartDir = new URL('../fixtures/charts/pay', import.meta.url).pathname;

function helmRelease(tag: string): string {
  return `# pay, released by Flux from the chart in this repository
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: pay
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/pay
      sourceRef: {kind: GitRepository, name: ${REPO}}
  values:
    replicas: 2
    image:
      repository: registry.k8s.io/pause
      tag: "${tag}" # {"$imagepolicy": "flux-system:pay:tag"}
`;
}

describe.skipIf(process.env.FLEDGE_TEST_KUBECONFIG !== undefined)('write-back to a Flux HelmRelease synced from Git', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let git: GitServer;
  let flux: Flux;
  let controller: ShippedController;
  let custom: k8s.CustomObjectsApi;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('flux-helm');
    git = await startGitServer({ username: 'flux', password: randomBytes(12).toString('hex') });
    flux = await startFlux(ns.name);
    await installFluxCrds('github.com/fluxcd/helm-controller', FLUX_HELM_CONTROLLER_VERSION);
    controller = await startShippedController(ns.name);
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const secret = await kubectl(['create', 'secret', 'generic', 'git-credentials', '-n', ns.name, '--from-literal=username=flux', `--from-literal=password=${git.password}`]);
    expect(secret.code, secret.stderr).toBe(0);
    const annotated = await kubectl(['annotate', 'namespace', ns.name, 'fledge.dev/write-back=enabled', 'fledge.dev/write-back-secret=git-credentials']);
    expect(annotated.code, annotated.stderr).toBe(0);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    await flux?.stop();
    await git?.close();
    if (ctx.tasks.some((t) => t.result?.state !== 'pass')) {
      process.stderr.write(`controller output:\n${controller?.output().slice(-10_000)}\n`);
      for (const c of flux?.controllers ?? []) process.stderr.write(`${c.name} output:\n${c.output().slice(-6_000)}\n`);
    }
    expect(controller?.memory().oomKilled, 'the controller was OOM-killed').toBe(false);
    await ns?.remove();
  });

  const apply = async (object: unknown): Promise<void> => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(object) });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const requestSync = async (): Promise<void> => {
    const annotated = await kubectl(['annotate', '-n', ns.name, '--overwrite', `gitrepository/${REPO}`, `reconcile.fluxcd.io/requestedAt=${Date.now()}`]);
    expect(annotated.code, annotated.stderr).toBe(0);
  };
  const clusterTag = async (): Promise<string | undefined> => {
    const release = (await custom.getNamespacedCustomObject({ group: 'helm.toolkit.fluxcd.io', version: 'v2', namespace: ns.name, plural: 'helmreleases', name: 'pay' }).catch(() => undefined)) as
      | { spec?: { values?: { image?: { tag?: string } } } }
      | undefined;
    return release?.spec?.values?.image?.tag;
  };
  /** Flux applies the HelmRelease at Git's tip: wait until the cluster's has `tag`. */
  const fluxApplied = async (tag: string): Promise<void> => {
    await requestSync();
    await eventually(`Flux applies the HelmRelease with tag ${tag}`, async () => ((await clusterTag()) === tag ? true : undefined), { timeoutMs: 90_000, intervalMs: 200 });
  };
  /** helm-controller's part: render the chart with the HelmRelease's values as the cluster has them, apply, label. */
  const helmControllerRenders = async (): Promise<void> => {
    const release = (await custom.getNamespacedCustomObject({ group: 'helm.toolkit.fluxcd.io', version: 'v2', namespace: ns.name, plural: 'helmreleases', name: 'pay' })) as { spec: { values: unknown } };
    const dir = mkdtempSync(join(tmpdir(), 'fledge-helm-release-'));
    try {
      writeFileSync(join(dir, 'values.json'), JSON.stringify(release.spec.values));
      const rendered = await promisify(execFile)(helmBinary, ['template', 'pay', chartDir, '--namespace', ns.name, '-f', join(dir, 'values.json')]);
      const labelled = rendered.stdout.replace(/^metadata:\n {2}name: pay$/m, `metadata:\n  name: pay\n  labels: {helm.toolkit.fluxcd.io/name: pay, helm.toolkit.fluxcd.io/namespace: ${ns.name}}`);
      expect(labelled).toContain('helm.toolkit.fluxcd.io/name: pay');
      const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: labelled });
      expect(applied.code, applied.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("restores the tag in the HelmRelease's spec.values in Git; Flux applies it and the next render is the stable version", { timeout: 240_000 }, async () => {
    const url = await git.createRepo(REPO);
    const chart = { 'charts/pay/Chart.yaml': '', 'charts/pay/values.yaml': '', 'charts/pay/templates/rollout.yaml': '' };
    for (const file of Object.keys(chart) as Array<keyof typeof chart>) chart[file] = readFileSync(join(chartDir, file.replace('charts/pay/', '')), 'utf8');
    await git.commitFiles(REPO, { ...chart, 'apps/pay/helmrelease.yaml': helmRelease('3.9') }, 'pay 3.9');
    await apply({ apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: REPO }, spec: { url, interval: '10m', ref: { branch: 'main' }, secretRef: { name: 'git-credentials' } } });
    await apply({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: REPO },
      spec: { interval: '10m', path: './apps/pay', prune: true, sourceRef: { kind: 'GitRepository', name: REPO }, targetNamespace: ns.name },
    });
    const statuses = rolloutStatuses(custom, ns.name);
    await eventually('Flux applies the HelmRelease', async () => ((await clusterTag()) === '3.9' ? true : undefined), { timeoutMs: 90_000, intervalMs: 200 });
    await helmControllerRenders();
    const v1 = await statuses.waitFor('pay', 'Healthy on 3.9', (s) => s.phase === 'Healthy');

    await git.commitFiles(REPO, { 'apps/pay/helmrelease.yaml': helmRelease('3.10') }, 'pay 3.10');
    await fluxApplied('3.10');
    await helmControllerRenders();
    await statuses.waitFor('pay', 'paused at 50%', (s) => s.phase === 'Paused');
    const patched = await kubectl(['patch', 'rollout', 'pay', '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);

    const written = await statuses.waitFor('pay', 'written back', (s) => s.writeBack?.outcome !== undefined, 60_000);
    expect(written.writeBack, written.writeBack?.message).toMatchObject({ outcome: 'Committed', branch: 'main', file: 'apps/pay/helmrelease.yaml' });
    expect(written.writeBack?.message).toContain(`found via Flux HelmRelease ${ns.name}/pay (Flux Kustomization ${ns.name}/${REPO})`);
    // Only the tag changed; the image-policy marker and every comment are kept.
    expect(await git.show(REPO, 'apps/pay/helmrelease.yaml')).toBe(helmRelease('3.9'));

    // Real Flux applies the restored HelmRelease; helm-controller's render is the stable version again.
    await fluxApplied('3.9');
    await helmControllerRenders();
    const healthy = await statuses.waitFor('pay', 'Healthy on 3.9 again', (s) => s.phase === 'Healthy' && s.currentRevision === v1.stableRevision);
    expect(healthy.stableRevision).toBe(v1.stableRevision);
  });
});
