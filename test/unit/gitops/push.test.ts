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
    await server.commitFiles('platform', { 'apps/shop/rollout.yaml': rolloutYaml('shop', 'shop:v2'), 'README.md': 'platform\n' }, 'shop: v2', 'main');
    const result = await writeBack(request(repo, 'shop'));
    expect(result).toMatchObject({ outcome: 'committed', file: 'apps/shop/rollout.yaml', branch: 'main', edits: ['app: shop:v2 → shop:v1'] });
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
});
