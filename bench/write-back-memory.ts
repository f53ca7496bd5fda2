// What a Git write-back costs the controller's memory, by the repository's size at HEAD: 20 MB, 80 MB and 300 MB of
// random (incompressible) files, and 20,000 small manifests. Each write-back runs in a fresh child process, which
// reports its peak RSS (VmHWM) and outcome: once as write-back runs now (no checkout, the default byte budget) and,
// where it fits on this machine, once as it ran before (isomorphic-git's clone with a checkout and no budget), for a
// ratio measured in the same run. The server is git http-backend on loopback (test/harness/git-server.ts). Writes
// bench/results/write-back-memory.json; `npm run bench:write-back-memory`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { DEFAULT_WRITE_BACK_LIMITS, writeBack, type WriteBackRequest } from '../src/gitops/push.js';
import { startGitServer } from '../test/harness/git-server.js';
import { rolloutInGit } from '../test/harness/git-manifests.js';

const run = promisify(execFile);
const MB = 1024 * 1024;
const CREDENTIALS = { username: 'fledge', password: 'bench' };
/** The container's limit in deploy/: a write-back's peak must stay well below it, with the controller's own RSS. */
const LIMIT_MB = 512;

interface Case {
  name: string;
  /** Files other than the Rollout: count × size, random (incompressible) or manifest-like text. */
  files: number;
  bytesEach: number;
  random: boolean;
  /** The old way holds about 7× the pack: only where that fits this machine comfortably. */
  before: boolean;
}

const CASES: Case[] = [
  { name: '20 MB', files: 20, bytesEach: MB, random: true, before: true },
  { name: '80 MB', files: 80, bytesEach: MB, random: true, before: true },
  { name: '300 MB', files: 300, bytesEach: MB, random: true, before: false },
  { name: '20,000 small files', files: 20_000, bytesEach: 1024, random: false, before: true },
];

interface ChildResult {
  mode: 'now' | 'before';
  outcome: string;
  /** RSS with everything loaded, before the write-back; the peak (VmHWM) over the process's life; their difference. */
  rssBeforeMb: number;
  peakRssMb: number;
  writeBackMb: number;
  seconds: number;
}

function statusMb(field: 'VmHWM' | 'VmRSS'): number {
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const request = (url: string): WriteBackRequest => ({
  source: { repoURL: url, branch: 'main', path: 'apps', via: 'bench' },
  credentials: CREDENTIALS,
  rollout: { name: 'shop', namespace: 'bench' },
  restores: [{ container: 'app', aborted: 'shop:v2', stable: 'shop:v1' }],
  message: 'fledge: restore shop to shop:v1',
  author: { name: 'Fledge', email: 'bench@fledge.invalid' },
});

/** In the child: one write-back, now or as before (a full clone with a checkout, the pack unbounded). */
async function child(mode: 'now' | 'before', url: string): Promise<ChildResult> {
  const rssBeforeMb = statusMb('VmRSS');
  const started = performance.now();
  let outcome: string;
  try {
    if (mode === 'now') {
      const result = await writeBack(request(url), DEFAULT_WRITE_BACK_LIMITS);
      outcome = result.outcome === 'committed' ? 'committed' : `unchanged: ${result.reason}`;
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'fledge-bench-before-'));
      await git.clone({ fs, http, dir, url, singleBranch: true, depth: 1, ref: 'main', onAuth: () => CREDENTIALS });
      rmSync(dir, { recursive: true, force: true });
      outcome = 'cloned';
    }
  } catch (err) {
    outcome = `failed: ${(err as Error).message}`;
  }
  const peakRssMb = statusMb('VmHWM');
  return { mode, outcome, rssBeforeMb, peakRssMb, writeBackMb: peakRssMb - rssBeforeMb, seconds: Number(((performance.now() - started) / 1000).toFixed(1)) };
}

/** A repository with the Rollout at apps/shop.yaml (declaring the aborted image) and the case's other files. */
async function seed(url: string, c: Case): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'fledge-bench-seed-'));
  try {
    const g = (...args: string[]): Promise<unknown> => run('git', ['-C', work, '-c', 'user.name=bench', '-c', 'user.email=bench@fledge.invalid', ...args], { maxBuffer: 16 * MB });
    await g('init', '-q', '-b', 'main');
    mkdirSync(join(work, 'apps'));
    writeFileSync(join(work, 'apps', 'shop.yaml'), rolloutInGit('shop', 'shop:v2'));
    let bytes = 0;
    for (let i = 0; i < c.files; i++) {
      const dir = join(work, 'data', String(Math.floor(i / 500)));
      mkdirSync(dir, { recursive: true });
      const content = c.random ? randomBytes(c.bytesEach) : Buffer.from(`# manifest ${i}\n${'kind: ConfigMap\ndata: {key: value}\n'.repeat(Math.ceil(c.bytesEach / 34))}`.slice(0, c.bytesEach));
      writeFileSync(join(dir, `f${i}${c.random ? '.bin' : '.yaml'}`), content);
      bytes += content.length;
    }
    await g('add', '-A');
    await g('commit', '-q', '-m', c.name);
    const authed = url.replace('http://', `http://${CREDENTIALS.username}:${CREDENTIALS.password}@`);
    await g('push', '-q', authed, 'main');
    return bytes;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [role, mode, url] = process.argv.slice(2);
  if (role === '--child') {
    process.stdout.write(JSON.stringify(await child(mode as 'now' | 'before', url ?? '')));
    return;
  }
  const server = await startGitServer(CREDENTIALS);
  const rows = [];
  try {
    for (const c of CASES) {
      const url = await server.createRepo(c.name.replace(/[^a-z0-9]+/gi, '-'));
      const bytes = await seed(url, c);
      const measure = async (m: 'now' | 'before'): Promise<ChildResult> =>
        JSON.parse((await run(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', m, url], { maxBuffer: MB })).stdout) as ChildResult;
      // "before" first: "now" commits, which changes nothing of the size but the branch's tip.
      const before = c.before ? await measure('before') : undefined;
      const now = await measure('now');
      const row = { case: c.name, files: c.files + 1, headMb: Number((bytes / MB).toFixed(1)), now, ...(before !== undefined && { before }) };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      rows.push(row);
    }
  } finally {
    await server.close();
  }
  const report = {
    budgetMb: DEFAULT_WRITE_BACK_LIMITS.maxBytes / MB,
    deadlineSeconds: DEFAULT_WRITE_BACK_LIMITS.deadlineMs / 1000,
    containerLimitMb: LIMIT_MB,
    rows,
    /** The most a write-back added to a process's RSS, at any size: what it adds to the controller's. */
    maxWriteBackNowMb: Math.max(...rows.map((r) => r.now.writeBackMb)),
  };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'write-back-memory.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
