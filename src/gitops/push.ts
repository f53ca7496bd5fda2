import * as fs from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import git, { Errors } from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { restoreKustomizationImages, restoreRolloutImages, type EditResult, type ImageRestore } from './edit.js';
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

export type WriteBackResult =
  | { outcome: 'committed'; commit: string; file: string; branch: string; edits: string[] }
  | { outcome: 'unchanged'; reason: string };

/** Pushes that lost a race with another push are redone on the new tip this many times. */
const ATTEMPTS = 3;
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

async function yamlFiles(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === '.git') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFiles(root, path)));
    else if (/\.ya?ml$/.test(entry.name)) files.push(relative(root, path));
  }
  return files;
}

/** The first file under `path` whose edit restores the images: a Rollout manifest first, then a kustomization's images:. */
async function findEdit(dir: string, path: string, request: WriteBackRequest): Promise<{ file: string; result: EditResult & { changed: true } } | { reason: string }> {
  const target = resolve(dir, path);
  if (target !== dir && !target.startsWith(`${dir}${sep}`)) return { reason: `path ${path} leaves the repository` };
  const info = await stat(target).catch(() => undefined);
  if (info === undefined) return { reason: `path ${path} does not exist on the branch` };
  const files = info.isDirectory() ? await yamlFiles(dir, target) : [relative(dir, target)];
  const reasons = new Set<string>();
  for (const file of files) {
    const result = restoreRolloutImages(await readFile(join(dir, file), 'utf8'), request.rollout, request.restores);
    if (result.changed) return { file, result };
    if (result.reason.startsWith('Rollout')) reasons.add(`${file}: ${result.reason}`);
  }
  for (const file of files.filter((candidate) => KUSTOMIZATION_FILES.includes(candidate.split('/').at(-1) ?? ''))) {
    const result = restoreKustomizationImages(await readFile(join(dir, file), 'utf8'), request.restores);
    if (result.changed) return { file, result };
  }
  return { reason: reasons.size > 0 ? [...reasons].join('; ') : `no file under ${path} declares Rollout ${request.rollout.name} or its images` };
}

/**
 * Commits the stable images back to Git and pushes, never forcing: a push that loses a race is redone from the new
 * tip, and a branch that no longer declares the aborted image is left alone. Works in a temporary clone (depth 1)
 * with isomorphic-git, so the controller's image needs no git binary.
 */
export async function writeBack(request: WriteBackRequest): Promise<WriteBackResult> {
  const onAuth = request.credentials === undefined ? undefined : () => ({ username: request.credentials?.username, password: request.credentials?.password });
  let lastRace: unknown;
  if (request.pushBranch !== undefined) {
    // A review branch is only ever created: pushing onto one that exists (an earlier write-back, or a person's
    // branch) would need a force or mix two changes.
    const ref = `refs/heads/${request.pushBranch}`;
    const refs = await git.listServerRefs({ http, url: request.source.repoURL, prefix: ref, ...(onAuth !== undefined && { onAuth }) });
    if (refs.some((candidate) => candidate.ref === ref)) return { outcome: 'unchanged', reason: `the review branch ${request.pushBranch} exists already` };
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'fledge-writeback-'));
    try {
      await git.clone({
        fs,
        http,
        dir,
        url: request.source.repoURL,
        singleBranch: true,
        depth: 1,
        ...(request.source.branch !== '' && { ref: request.source.branch }),
        ...(onAuth !== undefined && { onAuth }),
      });
      const branch = request.source.branch !== '' ? request.source.branch : ((await git.currentBranch({ fs, dir })) ?? 'main');
      const found = await findEdit(dir, request.source.path, request);
      if (!('file' in found)) return { outcome: 'unchanged', reason: found.reason };
      await writeFile(join(dir, found.file), found.result.text);
      await git.add({ fs, dir, filepath: found.file });
      const commit = await git.commit({ fs, dir, message: request.message, author: request.author });
      const pushTo = request.pushBranch ?? branch;
      const pushed = await git.push({ fs, http, dir, remote: 'origin', ref: branch, remoteRef: pushTo, ...(onAuth !== undefined && { onAuth }) });
      if (!pushed.ok) throw new Error(`push to ${pushTo} refused: ${pushed.error ?? JSON.stringify(pushed.refs)}`);
      return { outcome: 'committed', commit, file: found.file, branch: pushTo, edits: found.result.edits };
    } catch (err) {
      // Someone pushed since the clone: start again from their commit. isomorphic-git says so before pushing when it
      // knows the remote moved (PushRejectedError), or passes on the server's refusal of the ref update (GitPushError).
      if (err instanceof Errors.PushRejectedError || (err instanceof Errors.GitPushError && lostRace(err))) {
        lastRace = err;
        continue;
      }
      throw err;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`the branch kept moving: ${ATTEMPTS} pushes lost the race (${String(lastRace)})`);
}

/** The server refused the update because the branch is no longer where the clone found it. */
function lostRace(err: InstanceType<typeof Errors.GitPushError>): boolean {
  const refs = Object.values(err.data.result.refs ?? {});
  return refs.some((ref) => /fast-forward|fetch first|failed to update ref|cannot lock ref|stale info/i.test(ref.error ?? ''));
}
