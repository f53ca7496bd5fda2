import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitServer } from '../../harness/git-server.js';

const run = promisify(execFile);

function status(url: string, auth?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const withCredentials = (url: string, user: string, password: string): string => url.replace('http://', `http://${user}:${password}@`);

describe('the Git server for the GitOps tests', () => {
  let git: GitServer;
  let scratch: string;

  beforeAll(async () => {
    git = await startGitServer({ username: 'flux', password: 's3cret' });
    scratch = mkdtempSync(join(tmpdir(), 'fledge-git-test-'));
  });
  afterAll(async () => {
    await git.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('serves what the helpers commit to a clone with the right credentials', async () => {
    const url = await git.createRepo('app');
    const first = await git.commitFiles('app', { 'deploy/a.yaml': 'a: 1\n' }, 'add a');
    const second = await git.commitFiles('app', { 'deploy/a.yaml': 'a: 2\n', 'b.txt': 'b\n' }, 'change a, add b\n\nwhy:\tboth\nneeded');
    expect(await git.log('app')).toEqual([
      { sha: second, subject: 'change a, add b', body: 'why:\tboth\nneeded' },
      { sha: first, subject: 'add a', body: '' },
    ]);
    expect(await git.show('app', 'deploy/a.yaml')).toBe('a: 2\n');
    const clone = join(scratch, 'clone');
    await run('git', ['clone', '--quiet', withCredentials(url, 'flux', 's3cret'), clone]);
    expect(readFileSync(join(clone, 'deploy/a.yaml'), 'utf8')).toBe('a: 2\n');
    expect((await run('git', ['-C', clone, 'rev-parse', 'HEAD'])).stdout.trim()).toBe(second);
  });

  it('answers 401 without credentials or with wrong ones, and git refuses to clone', async () => {
    const url = await git.createRepo('locked');
    await git.commitFiles('locked', { 'x.txt': 'x\n' }, 'x');
    const refs = `${url}/info/refs?service=git-upload-pack`;
    expect(await status(refs)).toBe(401);
    expect(await status(refs, 'flux:wrong')).toBe(401);
    expect(await status(refs, 'flux:s3cret')).toBe(200);
    const clone = run('git', ['clone', '--quiet', withCredentials(url, 'flux', 'wrong'), join(scratch, 'denied')], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    });
    await expect(clone).rejects.toThrow(/Authentication failed|401/);
  });

  it('accepts a push from a clone of its own', async () => {
    const url = await git.createRepo('pushed');
    await git.commitFiles('pushed', { 'one.txt': '1\n' }, 'one');
    const clone = join(scratch, 'pusher');
    await run('git', ['clone', '--quiet', withCredentials(url, 'flux', 's3cret'), clone]);
    await run('git', ['-C', clone, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', 'commit', '--quiet', '--allow-empty', '-m', 'two']);
    await run('git', ['-C', clone, 'push', '--quiet', 'origin', 'HEAD:main']);
    expect((await git.log('pushed')).map((c) => c.subject)).toEqual(['two', 'one']);
  });
});
