import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBack, type WriteBackRequest } from '../../../src/gitops/push.js';
import { startGitServer, type GitServer } from '../../harness/git-server.js';
import { rolloutInGit } from '../../harness/git-manifests.js';

/** Write-back against real Git: `git http-backend` behind basic auth on loopback, as a hosted Git server would be. */

const rolloutYaml = (name: string, image: string): string => rolloutInGit(name, image);

describe('writing the stable version back to Git', () => {
  let server: GitServer;
  const author = { name: 'Fledge', email: 'fledge@example.com' };
  beforeAll(async () => {
    server = await startGitServer({ username: 'fledge', password: 's3cret' });
  });
  afterAll(async () => {
    await server?.close();
  });
  const request = (repoURL: string, name: string, overrides: Partial<WriteBackRequest> = {}): WriteBackRequest => ({
    source: { repoURL, branch: 'main', path: 'apps', via: 'test' },
    credentials: { username: 'fledge', password: 's3cret' },
    rollout: { name, namespace: 'shop' },
    restores: [{ container: 'app', aborted: `shop:v2`, stable: `shop:v1` }],
    message: `fledge: restore ${name} to shop:v1 after the canary of shop:v2 was aborted`,
    author,
    ...overrides,
  });

  it('commits the one-line change with the verdict in the message, authenticated, and leaves a fixed branch alone', async () => {
    const repo = await server.createRepo('platform');
    const others = { 'README.md': 'platform\n', 'apps/shop/service.yaml': 'kind: Service\n', 'apps/cart/rollout.yaml': rolloutYaml('cart', 'cart:v7'), 'bin/run.sh': '#!/bin/sh\n' };
    await server.commitFiles('platform', { 'apps/shop/rollout.yaml': rolloutYaml('shop', 'shop:v2'), ...others }, 'shop: v2', 'main');
    const result = await writeBack(request(repo, 'shop'));
    expect(result).toMatchObject({ outcome: 'committed', file: 'apps/shop/rollout.yaml', branch: 'main', edits: ['app: shop:v2 → shop:v1'] });
    // The commit is built from Git's objects, not a checkout: every other file of the tree is still there, unchanged.
    expect(await server.show('platform', 'apps/shop/rollout.yaml')).toBe(rolloutYaml('shop', 'shop:v1'));
    for (const [path, text] of Object.entries(others)) expect(await server.show('platform', path)).toBe(text);
    const log = await server.log('platform', 'main');
    expect(log[0]?.subject).toBe('fledge: restore shop to shop:v1 after the canary of shop:v2 was aborted');
    expect(log[0]?.sha).toBe(result.outcome === 'committed' ? result.commit : '');
    expect(log[1]?.subject).toBe('shop: v2');
    // Writing again finds nothing to do: Git already declares the stable image.
    expect(await writeBack(request(repo, 'shop'))).toEqual({ outcome: 'unchanged', reason: 'apps/shop/rollout.yaml: Rollout shop no longer declares the aborted image' });
    expect(await server.log('platform', 'main')).toHaveLength(2);
  });

  it('refuses to push with wrong credentials, and pushes nothing', async () => {
    const repo = await server.createRepo('locked');
    await server.commitFiles('locked', { 'apps/rollout.yaml': rolloutYaml('shop', 'shop:v2') }, 'shop: v2', 'main');
    await expect(writeBack(request(repo, 'shop', { credentials: { username: 'fledge', password: 'wrong' } }))).rejects.toThrow(/401/);
    expect(await server.log('locked', 'main')).toHaveLength(1);
  });

  it('loses no commit when two write-backs race for the same branch', async () => {
    const repo = await server.createRepo('busy');
    await server.commitFiles('busy', { 'apps/a.yaml': rolloutYaml('a', 'shop:v2'), 'apps/b.yaml': rolloutYaml('b', 'shop:v2') }, 'a and b: v2', 'main');
    const results = await Promise.all([writeBack(request(repo, 'a')), writeBack(request(repo, 'b'))]);
    expect(results.map((result) => result.outcome)).toEqual(['committed', 'committed']);
    const subjects = (await server.log('busy', 'main')).map((commit) => commit.subject);
    expect(subjects).toHaveLength(3);
    expect(subjects).toEqual(expect.arrayContaining([expect.stringContaining('restore a '), expect.stringContaining('restore b ')]));
  });

  it("edits a kustomization's images: when that is where the tag is declared, and can push to a review branch", async () => {
    const repo = await server.createRepo('kustomized');
    await server.commitFiles(
      'kustomized',
      { 'apps/shop/rollout.yaml': rolloutYaml('shop', 'shop'), 'apps/shop/kustomization.yaml': 'resources: [rollout.yaml]\nimages:\n- name: shop\n  newTag: v2 # release\n' },
      'shop: v2 via kustomize',
      'main',
    );
    const result = await writeBack(request(repo, 'shop', { pushBranch: 'fledge/restore-shop' }));
    expect(result).toMatchObject({ outcome: 'committed', file: 'apps/shop/kustomization.yaml', branch: 'fledge/restore-shop' });
    expect(await server.log('kustomized', 'main')).toHaveLength(1);
    expect((await server.log('kustomized', 'fledge/restore-shop'))[0]?.subject).toContain('restore shop');

    // The review branch exists now: a second write-back neither forces it nor adds to it.
    expect(await writeBack(request(repo, 'shop', { pushBranch: 'fledge/restore-shop' }))).toEqual({ outcome: 'unchanged', reason: 'the review branch fledge/restore-shop exists already' });
    expect(await server.log('kustomized', 'fledge/restore-shop')).toHaveLength(2);
  });

  it('fails a slow Git server at the deadline over the whole exchange, though every byte comes within an idle timeout', async () => {
    const repo = await server.createRepo('slow');
    await server.commitFiles('slow', { 'apps/rollout.yaml': rolloutYaml('shop', 'shop:v2') }, 'shop: v2', 'main');
    // One byte every 20 ms: no idle timer would ever fire.
    const drip = await dripProxy(new URL(repo).port, 20);
    try {
      const started = Date.now();
      const slow = writeBack(request(repo.replace(/:\d+\//, `:${drip.port}/`), 'shop'), { deadlineMs: 1_500, maxBytes: 1 << 20, workDir: tmpdir() });
      await expect(slow).rejects.toThrow(/did not finish within its 1\.5 s deadline \(gave up after [\d.]+ s\)/);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(1_500);
      expect(await server.log('slow', 'main')).toHaveLength(1);
    } finally {
      await drip.close();
    }
  });

  it('refuses a repository larger than the byte budget, naming the budget, and pushes nothing', async () => {
    const repo = await server.createRepo('large');
    await server.commitFiles('large', { 'apps/rollout.yaml': rolloutYaml('shop', 'shop:v2'), 'assets/blob.bin': randomBytes(3 << 20).toString('base64') }, 'shop: v2 and assets', 'main');
    const tooLarge = writeBack(request(repo, 'shop'), { deadlineMs: 60_000, maxBytes: 1 << 20, workDir: tmpdir() });
    await expect(tooLarge).rejects.toThrow('the Git server sent more than 1 MiB (the write-back budget, --write-back-max-bytes); stopped reading');
    expect(await server.log('large', 'main')).toHaveLength(1);
    // Within a budget that fits, the same repository is written back.
    expect(await writeBack(request(repo, 'shop'), { deadlineMs: 60_000, maxBytes: 16 << 20, workDir: tmpdir() })).toMatchObject({ outcome: 'committed' });
  });
});

/** Forwards to the Git server on loopback `port`, sending each answer on one byte at a time, every `everyMs`. */
async function dripProxy(port: string, everyMs: number): Promise<{ port: number; close: () => Promise<void> }> {
  const proxy: Server = createServer((req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, async (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      for await (const chunk of answer as AsyncIterable<Buffer>) {
        for (const byte of chunk) {
          if (res.destroyed) return;
          res.write(Buffer.of(byte));
          await new Promise((resolve) => setTimeout(resolve, everyMs));
        }
      }
      res.end();
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      proxy.closeAllConnections();
      proxy.close(() => resolve());
    }),
  };
}
