import { restoreKustomizationImages, restoreRolloutImages, type ImageRestore } from './edit.js';
import { normalizePath, type Snapshot } from './snapshot.js';

/** What write-back looks for: which Rollout, which images to put back, and where its source says to look. */
export interface EditTarget {
  path: string;
  rollout: { name: string; namespace: string };
  restores: readonly ImageRestore[];
}

/** The one file to change and its new text, or why nothing under the path is changed. */
export type FoundEdit = { file: string; text: string; edits: string[] } | { reason: string };

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const isYaml = (file: string): boolean => /\.ya?ml$/.test(file);
const baseName = (file: string): string => file.split('/').at(-1) ?? '';

/** The first file under the source's path whose edit restores the images: a Rollout manifest first, then a kustomization's images:. */
export async function findEdit(snapshot: Snapshot, target: EditTarget): Promise<FoundEdit> {
  const path = normalizePath(target.path);
  if (path === undefined) return { reason: `path ${target.path} leaves the repository` };
  const kind = await snapshot.kind(path);
  if (kind === undefined) return { reason: `path ${target.path} does not exist on the branch` };
  const files = kind === 'dir' ? (await snapshot.files(path)).filter((file) => isYaml(file) || baseName(file) === 'Kustomization') : [path];
  const reasons = new Set<string>();
  for (const file of files.filter(isYaml)) {
    const result = restoreRolloutImages((await snapshot.read(file)) ?? '', target.rollout, target.restores);
    if (result.changed) return { file, text: result.text, edits: result.edits };
    if (result.reason.startsWith('Rollout')) reasons.add(`${file}: ${result.reason}`);
  }
  for (const file of files.filter((candidate) => KUSTOMIZATION_FILES.includes(baseName(candidate)))) {
    const result = restoreKustomizationImages((await snapshot.read(file)) ?? '', target.restores);
    if (result.changed) return { file, text: result.text, edits: result.edits };
  }
  return { reason: reasons.size > 0 ? [...reasons].join('; ') : `no file under ${target.path} declares Rollout ${target.rollout.name} or its images` };
}
