import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, installCrds, kubectl, rolloutStatuses, testKubeConfig } from '../harness/e2e.js';
import { startGitServer, type GitServer } from '../harness/git-server.js';
import { rolloutInGit } from '../harness/git-manifests.js';
import { startShippedController, type ShippedController, type ShippedOptions } from '../harness/shipped.js';

/**
 * The as-shipped mode (harness/shipped.ts) is real: the controller runs from the rendered Deployment with a
 * read-only root, and a Deployment without its temp volume makes write-back fail with EROFS, as it did in a real
 * install. And write-back stays within the container's memory limit whatever the repository's size.
 */

const log = (line: string): void => void process.stderr.write(`as-shipped e2e: ${line}\n`);
const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';
const MiB = 2 ** 20;

/** A namespace with a shipped controller, Git credentials, and a canary of `name` taken to its abort. */
function shippedWriteBack(prefix: string, opts: ShippedOptions) {
  const ctx = {} as { ns: Awaited<ReturnType<typeof createTestNamespace>>; controller: ShippedController; git: GitServer; statuses: ReturnType<typeof rolloutStatuses> };
  beforeAll(async () => {
    await installCrds();
    ctx.ns = await createTestNamespace(prefix);
    ctx.git = await startGitServer({ username: 'fledge', password: 'push-token' });
    ctx.statuses = rolloutStatuses(testKubeConfig().makeApiClient(k8s.CustomObjectsApi), ctx.ns.name);
    const secret = await kubectl(['create', 'secret', 'generic', 'git-credentials', '-n', ctx.ns.name, '--from-literal=username=fledge', '--from-literal=password=push-token']);
    expect(secret.code, secret.stderr).toBe(0);
    ctx.controller = await startShippedController(ctx.ns.name, opts);
  });
  afterAll(async (suite) => {
    await ctx.controller?.kill();
    if (suite.tasks.some((t) => t.result?.state !== 'pass')) process.stderr.write(`controller output:\n${ctx.controller?.output().slice(-20_000)}\n`);
    await ctx.git?.close();
    await ctx.ns?.remove();
  });
  /** Git holds `files` with v2 declared at apps/<name>.yaml; the cluster runs v1, then v2 paused, then aborted. */
  const abortedCanary = async (name: string, files: Record<string, string> = {}): Promise<void> => {
    const repo = await ctx.git.createRepo(name);
    const manifest = (image: string): string => rolloutInGit(name, image, `  writeBack: ${JSON.stringify({ repoURL: repo, branch: 'main', path: 'apps', secretRef: { name: 'git-credentials' } })}\n`);
    await ctx.git.commitFiles(name, { [`apps/${name}.yaml`]: manifest(V2), ...files }, `${name}: v2`, 'main');
    const sync = async (image: string): Promise<void> => {
      const applied = await kubectl(['apply', '-n', ctx.ns.name, '-f', '-'], { input: manifest(image) });
      expect(applied.code, applied.stderr).toBe(0);
    };
    await sync(V1);
    await ctx.statuses.waitFor(name, 'Healthy on v1', (s) => s.phase === 'Healthy');
    await sync(V2);
    await ctx.statuses.waitFor(name, 'paused', (s) => s.phase === 'Paused');
    const patched = await kubectl(['patch', 'rollout', name, '-n', ctx.ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(patched.code, patched.stderr).toBe(0);
  };
  return { ctx, abortedCanary };
}

describe('the as-shipped mode can fail: the Deployment without its temp volume', () => {
  const { ctx, abortedCanary } = shippedWriteBack('shipped-rofs', {
    edit: (deployment) => {
      const pod = deployment.spec.template.spec;
      pod.volumes = (pod.volumes ?? []).filter((volume) => volume.name !== 'tmp');
      for (const container of pod.containers) container.volumeMounts = (container.volumeMounts ?? []).filter((mount) => mount.name !== 'tmp');
    },
  });

  it('fails every write-back with EROFS, as a real install did, and keeps the abort', { timeout: 120_000 }, async () => {
    expect(ctx.controller.spec.tmpfs).toEqual([]);
    expect(ctx.controller.spec).toMatchObject({ uid: 65532, gid: 65532, readOnlyRoot: true, memoryLimitBytes: 512 * MiB });
    await abortedCanary('rofs');
    const failed = await ctx.statuses.waitFor('rofs', 'write-back failed', (s) => s.writeBack?.outcome !== undefined, 60_000);
    expect(failed.writeBack?.outcome).toBe('Failed');
    expect(failed.writeBack?.message).toMatch(/EROFS: read-only file system, mkdtemp '\/tmp\/fledge-writeback-/);
    expect(failed).toMatchObject({ phase: 'Degraded', abort: true });
    expect((await ctx.git.log('rofs')).map((c) => c.subject)).toEqual(['rofs: v2']);
  });
});

describe('write-back of a repository over the budget, from the Helm chart\'s Deployment', () => {
  const { ctx, abortedCanary } = shippedWriteBack('shipped-budget', { source: 'helm' });

  it('fails with a reason naming the budget, and the controller stays under its memory limit', { timeout: 180_000 }, async () => {
    expect(ctx.controller.spec.args).toContain(`--write-back-max-bytes=${32 * MiB}`);
    expect(ctx.controller.spec.tmpfs).toEqual([{ mountPath: '/tmp', sizeBytes: 256 * MiB }]);
    // Random bytes do not compress: the pack is about as large as the file, past the 32 MiB budget.
    await abortedCanary('huge', { 'assets/blob.bin': randomBytes(48 * MiB).toString('base64') });
    const failed = await ctx.statuses.waitFor('huge', 'write-back failed', (s) => s.writeBack?.outcome !== undefined, 120_000);
    expect(failed.writeBack?.outcome).toBe('Failed');
    expect(failed.writeBack?.message).toContain('the Git server sent more than 32 MiB (the write-back budget, --write-back-max-bytes); stopped reading');
    const memory = ctx.controller.memory();
    log(`over-budget repository: peak memory ${Math.round(memory.peakBytes / MiB)} MiB of the ${Math.round(memory.limitBytes / MiB)} MiB limit`);
    expect(memory.oomKilled).toBe(false);
    expect(memory.peakBytes).toBeLessThan(memory.limitBytes);
    expect(ctx.controller.exited()).toBe(false);
  });
});
