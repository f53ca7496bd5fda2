import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Errors, HttpClient, TreeEntry } from 'isomorphic-git';
import { startDeadline } from '../http/deadline.js';
import type { ImageRestore } from './edit.js';
import { findEdit } from './find-edit.js';
import { boundedGitHttp, DEFAULT_WRITE_BACK_MAX_BYTES } from './git-http.js';
import type { Snapshot } from './snapshot.js';
import type { GitSource } from './source.js';

export interface GitCredentials {
  username: string;
  password: string;
}

export interface WriteBackRequest {
  source: GitSource;
  credentials: GitCredentials | undefined;
  rollout: { name: string; namespace: string };
  restores: ImageRestore[];
  message: string;
  author: { name: string; email: string };
  /** Push to this new branch (for review) instead of the source's branch; one that exists already is left alone. */
  pushBranch?: string;
}

export interface WriteBackLimits {
  /** The whole write-back, every request to the Git server included. */
  deadlineMs: number;
  /** Bytes the Git server may send; a larger repository fails with a reason naming the budget. */
  maxBytes: number;
  /** Where the clone's objects go (the Deployment mounts an emptyDir at /tmp). */
  workDir: string;
}

export const DEFAULT_WRITE_BACK_DEADLINE_MS = 120_000;
export const DEFAULT_WRITE_BACK_LIMITS: WriteBackLimits = { deadlineMs: DEFAULT_WRITE_BACK_DEADLINE_MS, maxBytes: DEFAULT_WRITE_BACK_MAX_BYTES, workDir: tmpdir() };

export type WriteBackResult =
  | { outcome: 'committed'; commit: string; file: string; branch: string; edits: string[] }
  | { outcome: 'unchanged'; reason: string };

/** Pushes that lost a race with another push are redone on the new tip this many times. */
const ATTEMPTS = 3;

type IsomorphicGit = typeof import('isomorphic-git');
type Git = IsomorphicGit['default'];
let isomorphicGit: Promise<IsomorphicGit> | undefined;
/** Loaded with the first write-back: most controllers never make one, and evaluated it costs the idle controller memory. */
const loadGit = (): Promise<IsomorphicGit> => (isomorphicGit ??= import('isomorphic-git'));

/** The commit's files read from the object store: nothing is checked out, so only the files looked at cost anything. */
function commitSnapshot(git: Git, dir: string, commit: string): Snapshot {
  const tree = async (path: string): Promise<TreeEntry[] | undefined> =>
    (await git.readTree({ fs, dir, oid: commit, ...(path !== '' && { filepath: path }) }).catch(() => undefined))?.tree;
  const walk = async (path: string): Promise<string[]> => {
    const files: string[] = [];
    for (const entry of (await tree(path)) ?? []) {
      const child = path === '' ? entry.path : `${path}/${entry.path}`;
      if (entry.type === 'tree') files.push(...(await walk(child)));
      else if (entry.type === 'blob') files.push(child);
    }
    return files;
  };
  return {
    kind: async (path) => {
      if (path === '') return 'dir';
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      const entry = (await tree(parent))?.find((candidate) => candidate.path === path.slice(path.lastIndexOf('/') + 1));
      return entry === undefined ? undefined : entry.type === 'tree' ? 'dir' : 'file';
    },
    files: async (path) => (await walk(path)).sort(),
    read: async (path) => {
      const blob = await git.readBlob({ fs, dir, oid: commit, filepath: path }).catch(() => undefined);
      return blob === undefined ? undefined : Buffer.from(blob.blob).toString('utf8');
    },
  };
}

/** Writes `text` at `path` into the commit's tree, rewriting each tree above it; returns the new root tree. */
async function treeWith(git: Git, dir: string, commit: string, path: string, text: string): Promise<string> {
  const parts = path.split('/');
  const write = async (depth: number, treeOid: string | undefined): Promise<string> => {
    const entries = treeOid === undefined ? [] : (await git.readTree({ fs, dir, oid: treeOid })).tree;
    const name = parts[depth] as string;
    const existing = entries.find((entry) => entry.path === name);
    const last = depth === parts.length - 1;
    const oid = last ? await git.writeBlob({ fs, dir, blob: Buffer.from(text, 'utf8') }) : await write(depth + 1, existing?.type === 'tree' ? existing.oid : undefined);
    const entry: TreeEntry = { mode: last ? (existing?.mode ?? '100644') : '040000', path: name, oid, type: last ? 'blob' : 'tree' };
    return git.writeTree({ fs, dir, tree: [...entries.filter((other) => other.path !== name), entry] });
  };
  return write(0, (await git.readCommit({ fs, dir, oid: commit })).commit.tree);
}

async function attemptOnce(git: Git, request: WriteBackRequest, http: HttpClient, onAuth: (() => GitCredentials) | undefined, workDir: string): Promise<WriteBackResult> {
  const dir = await mkdtemp(join(workDir, 'fledge-writeback-'));
  try {
    await git.clone({
      fs,
      http,
      dir,
      url: request.source.repoURL,
      singleBranch: true,
      depth: 1,
      noCheckout: true,
      noTags: true,
      ...(request.source.branch !== '' && { ref: request.source.branch }),
      ...(onAuth !== undefined && { onAuth }),
    });
    const branch = request.source.branch !== '' ? request.source.branch : ((await git.currentBranch({ fs, dir })) ?? 'main');
    const head = await git.resolveRef({ fs, dir, ref: `refs/heads/${branch}` });
    const { path, helm, helmRelease } = request.source;
    const found = await findEdit(commitSnapshot(git, dir, head), { path, rollout: request.rollout, restores: request.restores, ...(helm !== undefined && { helm }), ...(helmRelease !== undefined && { helmRelease }) });
    if (!('file' in found)) return { outcome: 'unchanged', reason: found.reason };
    const tree = await treeWith(git, dir, head, found.file, found.text);
    const commit = await git.commit({ fs, dir, message: request.message, author: request.author, tree, parent: [head], ref: `refs/heads/${branch}` });
    const pushTo = request.pushBranch ?? branch;
    const pushed = await git.push({ fs, http, dir, remote: 'origin', ref: branch, remoteRef: pushTo, ...(onAuth !== undefined && { onAuth }) });
    if (!pushed.ok) throw new Error(`push to ${pushTo} refused: ${pushed.error ?? JSON.stringify(pushed.refs)}`);
    return { outcome: 'committed', commit, file: found.file, branch: pushTo, edits: found.edits };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Commits the stable images back to Git and pushes, never forcing: a push that loses a race is redone from the new
 * tip, and a branch that no longer declares the aborted image is left alone. A depth-1 clone without a checkout,
 * by isomorphic-git (the image needs no git binary), within one deadline and one byte budget for the whole exchange.
 */
export async function writeBack(request: WriteBackRequest, limits: WriteBackLimits = DEFAULT_WRITE_BACK_LIMITS): Promise<WriteBackResult> {
  const onAuth = request.credentials === undefined ? undefined : () => ({ username: request.credentials?.username ?? '', password: request.credentials?.password ?? '' });
  const deadline = startDeadline(`the write-back to ${request.source.repoURL}`, limits.deadlineMs);
  const http = boundedGitHttp(deadline.signal, limits.maxBytes);
  try {
    const { default: git, Errors } = await loadGit();
    if (request.pushBranch !== undefined) {
      // A review branch is only ever created: pushing onto one that exists (an earlier write-back, or a person's
      // branch) would need a force or mix two changes.
      const ref = `refs/heads/${request.pushBranch}`;
      const refs = await git.listServerRefs({ http, url: request.source.repoURL, prefix: ref, ...(onAuth !== undefined && { onAuth }) });
      if (refs.some((candidate) => candidate.ref === ref)) return { outcome: 'unchanged', reason: `the review branch ${request.pushBranch} exists already` };
    }
    let lastRace: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        return await attemptOnce(git, request, http, onAuth, limits.workDir);
      } catch (err) {
        // Someone pushed since the clone: start again from their commit. isomorphic-git says so before pushing when it
        // knows the remote moved (PushRejectedError), or passes on the server's refusal of the ref update (GitPushError).
        if (!(err instanceof Errors.PushRejectedError || (err instanceof Errors.GitPushError && lostRace(err)))) throw err;
        lastRace = err;
      }
    }
    throw new Error(`the branch kept moving: ${ATTEMPTS} pushes lost the race (${String(lastRace)})`);
  } catch (err) {
    throw deadline.explain(err);
  }
}

/** The server refused the update because the branch is no longer where the clone found it. */
function lostRace(err: InstanceType<typeof Errors.GitPushError>): boolean {
  const refs = Object.values(err.data.result.refs ?? {});
  return refs.some((ref) => /fast-forward|fetch first|failed to update ref|cannot lock ref|stale info/i.test(ref.error ?? ''));
}
