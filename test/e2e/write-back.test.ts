import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, testKubeConfig } from '../harness/e2e.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';
import { rolloutInGit } from '../harness/git-manifests.js';
import { startShippedController, type ShippedController } from '../harness/shipped.js';

/**
 * After an abort, the controller commits the stable image back to a real Git server (git http-backend behind basic
 * auth on loopback), so Git declares what the cluster runs. The controller runs as deploy/ ships it (the bundle, a
 * read-only root with only the Deployment's volumes, uid 65532, its ServiceAccount's token, its memory limit: see
 * harness/shipped.ts). Here the test plays the GitOps tool: it applies what Git declares. The full loop with a real
 * Flux is in flux.test.ts.
 */

const log = (line: string): void => void process.stderr.write(`write-back e2e: ${line}\n`);

function manifest(name: string, image: string, writeBack: object): string {
  return rolloutInGit(name, image, `  writeBack: ${JSON.stringify(writeBack)}\n`);
}

describe('write-back to Git after an abort, on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ShippedController;
  let git: GitServer;
  let custom: k8s.CustomObjectsApi;
  let statuses: ReturnType<typeof rolloutStatuses>;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('write-back');
    git = await startGitServer({ username: 'fledge', password: 'push-token' });
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    statuses = rolloutStatuses(custom, ns.name);
    const secret = await kubectl(['create', 'secret', 'generic', 'git-credentials', '-n', ns.name, '--from-literal=username=fledge', '--from-literal=password=push-token']);
    expect(secret.code, secret.stderr).toBe(0);
    const wrong = await kubectl(['create', 'secret', 'generic', 'wrong-credentials', '-n', ns.name, '--from-literal=username=fledge', '--from-literal=password=guess']);
    expect(wrong.code, wrong.stderr).toBe(0);
    controller = await startShippedController(ns.name);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    const memory = controller?.memory();
    log(`as shipped: peak memory ${Math.round((memory?.peakBytes ?? 0) / 2 ** 20)} MiB of its ${Math.round((memory?.limitBytes ?? 0) / 2 ** 20)} MiB limit`);
    expect(memory?.oomKilled, 'the controller was OOM-killed').toBe(false);
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    await git?.close();
    await ns?.remove();
  });

  /** What a GitOps tool does: apply the file as Git has it now. */
  const sync = async (text: string): Promise<void> => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const abort = async (name: string): Promise<void> => {
    const patched = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);
  };

  it('commits the stable image with the verdict, and the next sync of Git makes the Rollout Healthy on stable', { timeout: 120_000 }, async () => {
    const repo = await git.createRepo('shop');
    const writeBack = { repoURL: repo, branch: 'main', path: 'apps', secretRef: { name: 'git-credentials' } };
    await git.commitFiles('shop', { 'apps/shop.yaml': manifest('shop', 'registry.k8s.io/pause:3.9', writeBack) }, 'shop: v1', 'main');
    await sync(manifest('shop', 'registry.k8s.io/pause:3.9', writeBack));
    const v1 = await statuses.waitFor('shop', 'Healthy on v1', (s) => s.phase === 'Healthy');

    await git.commitFiles('shop', { 'apps/shop.yaml': manifest('shop', 'registry.k8s.io/pause:3.10', writeBack) }, 'shop: v2', 'main');
    await sync(manifest('shop', 'registry.k8s.io/pause:3.10', writeBack));
    await statuses.waitFor('shop', 'paused at 50%', (s) => s.phase === 'Paused');
    const abortAt = Date.now();
    await abort('shop');
    const written = await statuses.waitFor('shop', 'written back', (s) => s.writeBack?.outcome !== undefined && s.conditions?.some((c) => c.type === 'GitWriteBack') === true, 60_000);
    log(`abort → commit pushed and recorded in status: ${Date.now() - abortAt} ms`);
    expect(written.writeBack).toMatchObject({ outcome: 'Committed', branch: 'main', file: 'apps/shop.yaml', repoURL: repo });
    expect(written.conditions?.find((c) => c.type === 'GitWriteBack')).toMatchObject({ status: 'True', reason: 'GitWriteBackCommitted' });

    const history = await git.log('shop', 'main');
    expect(history[0]?.sha).toBe(written.writeBack?.commit);
    expect(history[0]?.subject).toBe(`fledge: restore ${ns.name}/shop to registry.k8s.io/pause:3.9`);
    const events = await kubectl(['get', 'events', '-n', ns.name, '--field-selector', 'involvedObject.name=shop,reason=GitWriteBack', '-o', 'jsonpath={.items[*].message}']);
    expect(events.stdout).toContain('registry.k8s.io/pause:3.10 → registry.k8s.io/pause:3.9');

    // Git now declares v1 again, byte for byte as the team wrote it but for the image; syncing it ends the abort.
    await sync(manifest('shop', 'registry.k8s.io/pause:3.9', writeBack));
    const healthy: RolloutStatus = await statuses.waitFor('shop', 'Healthy on v1 again', (s) => s.phase === 'Healthy' && s.currentRevision === v1.stableRevision);
    expect(healthy.stableRevision).toBe(v1.stableRevision);
  });

  it('reports wrong credentials in a condition and an Event, and pushes nothing', { timeout: 120_000 }, async () => {
    const repo = await git.createRepo('cart');
    const writeBack = { repoURL: repo, branch: 'main', path: 'apps', secretRef: { name: 'wrong-credentials' } };
    await git.commitFiles('cart', { 'apps/cart.yaml': manifest('cart', 'registry.k8s.io/pause:3.10', writeBack) }, 'cart: v2', 'main');
    await sync(manifest('cart', 'registry.k8s.io/pause:3.9', writeBack));
    await statuses.waitFor('cart', 'Healthy on v1', (s) => s.phase === 'Healthy');
    await sync(manifest('cart', 'registry.k8s.io/pause:3.10', writeBack));
    await statuses.waitFor('cart', 'paused', (s) => s.phase === 'Paused');
    await abort('cart');
    const failed = await statuses.waitFor('cart', 'write-back failed', (s) => s.writeBack?.outcome !== undefined && s.conditions?.some((c) => c.type === 'GitWriteBack') === true, 60_000);
    expect(failed.writeBack).toMatchObject({ outcome: 'Failed' });
    expect(failed.writeBack?.message).toMatch(/401/);
    // The abort itself never waited for Git.
    expect(failed).toMatchObject({ phase: 'Degraded', abort: true });
    expect(failed.conditions?.find((c) => c.type === 'GitWriteBack')).toMatchObject({ status: 'False', reason: 'GitWriteBackFailed' });
    await eventually('the GitWriteBackFailed Event', async () => {
      const events = await kubectl(['get', 'events', '-n', ns.name, '--field-selector', 'involvedObject.name=cart,reason=GitWriteBackFailed', '-o', 'jsonpath={.items[*].message}']);
      return events.stdout.includes('401') ? true : undefined;
    });
    expect(await git.log('cart', 'main')).toHaveLength(1);
  });

  it("restores the tag in a kustomization's images: and leaves the Rollout's manifest alone", { timeout: 120_000 }, async () => {
    const repo = await git.createRepo('kshop');
    const writeBack = { repoURL: repo, branch: 'main', path: 'apps/kshop', secretRef: { name: 'git-credentials' } };
    const rolloutFile = manifest('kshop', 'registry.k8s.io/pause', writeBack);
    const kustomization = (tag: string): string => `resources: [rollout.yaml]\nimages:\n- name: registry.k8s.io/pause\n  newTag: "${tag}"  # the release\n`;
    /** What Flux or Argo CD does with a kustomize directory: build it and apply the result. */
    const syncKustomize = async (files: Record<string, string>): Promise<void> => {
      const dir = mkdtempSync(join(tmpdir(), 'fledge-kustomize-'));
      try {
        for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
        const applied = await kubectl(['apply', '-n', ns.name, '-k', dir]);
        expect(applied.code, applied.stderr).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    await git.commitFiles('kshop', { 'apps/kshop/rollout.yaml': rolloutFile, 'apps/kshop/kustomization.yaml': kustomization('3.9') }, 'kshop: v1', 'main');
    await syncKustomize({ 'rollout.yaml': rolloutFile, 'kustomization.yaml': kustomization('3.9') });
    const v1 = await statuses.waitFor('kshop', 'Healthy on v1', (s) => s.phase === 'Healthy');
    await git.commitFiles('kshop', { 'apps/kshop/kustomization.yaml': kustomization('3.10') }, 'kshop: v2', 'main');
    await syncKustomize({ 'rollout.yaml': rolloutFile, 'kustomization.yaml': kustomization('3.10') });
    await statuses.waitFor('kshop', 'paused at 50%', (s) => s.phase === 'Paused');
    await abort('kshop');
    const written = await statuses.waitFor('kshop', 'written back', (s) => s.writeBack?.outcome !== undefined, 60_000);
    expect(written.writeBack).toMatchObject({ outcome: 'Committed', file: 'apps/kshop/kustomization.yaml' });
    // The tag is restored where it is declared, quotes and comment kept; the Rollout's manifest is untouched.
    expect(await git.show('kshop', 'apps/kshop/kustomization.yaml')).toBe(kustomization('3.9'));
    expect(await git.show('kshop', 'apps/kshop/rollout.yaml')).toBe(rolloutFile);

    await syncKustomize({ 'rollout.yaml': await git.show('kshop', 'apps/kshop/rollout.yaml'), 'kustomization.yaml': await git.show('kshop', 'apps/kshop/kustomization.yaml') });
    const healthy = await statuses.waitFor('kshop', 'Healthy on v1 again', (s) => s.phase === 'Healthy' && s.currentRevision === v1.stableRevision);
    expect(healthy.stableRevision).toBe(v1.stableRevision);
  });
});
