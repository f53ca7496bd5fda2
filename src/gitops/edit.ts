import { isMap, isScalar, isSeq, parseDocuments, type Document, type Scalar } from '../yaml/document.js';

/** One container's image to put back: the aborted one Git declares, and the stable one to declare instead. */
export interface ImageRestore {
  container: string;
  aborted: string;
  stable: string;
}

/** What an edit did to a file: the new text, or why it left the file alone. */
/** The one file to change and its new text, or why nothing under the path is changed. */
export type FoundEdit = { file: string; text: string; edits: string[] } | { reason: string };

export type EditResult = { changed: true; text: string; edits: string[] } | { changed: false; reason: string };

/** A source range of a file to replace with a new scalar value, and what that restores (for messages). */
export interface Splice {
  start: number;
  end: number;
  value: string;
  what: string;
}

/** Characters that make a plain YAML scalar mean something else, or end early, in block or flow context. */
const NEEDS_QUOTES = /^[\s!&*?|>'"%@`{[\]},#-]|[:#]\s|[{}[\],]|\s$/;

/** The new scalar in the style the old one was written in, so the diff is the value alone. */
function styled(original: string, value: string): string {
  if (original.startsWith('"')) return JSON.stringify(value);
  if (original.startsWith("'")) return `'${value.replace(/'/g, "''")}'`;
  return NEEDS_QUOTES.test(value) ? JSON.stringify(value) : value;
}

/** Replaces source ranges, last first, so earlier offsets stay valid; everything outside them is kept byte for byte. */
export function splice(text: string, splices: Splice[]): string {
  return [...splices]
    .sort((a, b) => b.start - a.start)
    .reduce((acc, { start, end, value }) => acc.slice(0, start) + styled(acc.slice(start, end), value) + acc.slice(end), text);
}

export function scalarAt(node: unknown): Scalar | undefined {
  return isScalar(node) && node.range !== undefined && node.range !== null ? node : undefined;
}

/** `repo/name:tag@digest` → name without tag or digest, tag, digest. */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const [withoutDigest, digest] = image.split('@') as [string, string | undefined];
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    name: hasTag ? withoutDigest.slice(0, colon) : withoutDigest,
    ...(hasTag && { tag: withoutDigest.slice(colon + 1) }),
    ...(digest !== undefined && { digest }),
  };
}

export function documentsOf(text: string): Document[] | string {
  const { documents } = parseDocuments(text);
  const broken = documents.find((document) => document.errors.length > 0);
  return broken === undefined ? documents : `the file does not parse: ${broken.errors[0]?.message ?? 'YAML error'}`;
}

/**
 * Puts the stable images back into the manifest of Rollout `name` in a YAML file (any number of documents), changing
 * only the image values: comments, quoting, flow or block style and every other byte stay as they were. A container
 * whose image is no longer the aborted one (someone already fixed Git) is left alone, and a file with nothing left to
 * change says why.
 */
export function restoreRolloutImages(text: string, rollout: { name: string; namespace?: string }, restores: readonly ImageRestore[]): EditResult {
  const documents = documentsOf(text);
  if (typeof documents === 'string') return { changed: false, reason: documents };
  const splices: Splice[] = [];
  let declared = false;
  for (const document of documents) {
    if (document.get('kind') !== 'Rollout' || document.getIn(['metadata', 'name']) !== rollout.name) continue;
    const namespace = document.getIn(['metadata', 'namespace']);
    if (rollout.namespace !== undefined && typeof namespace === 'string' && namespace !== rollout.namespace) continue;
    declared = true;
    for (const field of ['containers', 'initContainers']) {
      const list = document.getIn(['spec', 'template', 'spec', field], true);
      if (!isSeq(list)) continue;
      for (const item of list.items) {
        if (!isMap(item)) continue;
        const restore = restores.find((candidate) => candidate.container === item.get('name'));
        const image = scalarAt(item.get('image', true));
        if (restore === undefined || image === undefined || image.value !== restore.aborted) continue;
        const [start, end] = image.range as [number, number, number];
        splices.push({ start, end, value: restore.stable, what: `${restore.container}: ${restore.aborted} → ${restore.stable}` });
      }
    }
  }
  if (!declared) return { changed: false, reason: `the file declares no Rollout ${rollout.name}` };
  if (splices.length === 0) return { changed: false, reason: `Rollout ${rollout.name} no longer declares the aborted image` };
  return { changed: true, text: splice(text, splices), edits: splices.map((s) => s.what) };
}

/**
 * The same for a kustomization.yaml whose `images:` sets the tag (or name, or digest) the Rollout runs: the entry that
 * produces the aborted image is pointed at the stable one.
 */
export function restoreKustomizationImages(text: string, restores: readonly ImageRestore[]): EditResult {
  const documents = documentsOf(text);
  if (typeof documents === 'string') return { changed: false, reason: documents };
  const document = documents[0];
  const images = document?.get('images', true);
  if (document === undefined || !isSeq(images)) return { changed: false, reason: 'the kustomization has no images: list' };
  const splices: Splice[] = [];
  for (const entry of images.items) {
    if (!isMap(entry)) continue;
    const name = scalarAt(entry.get('name', true));
    if (name === undefined) continue;
    const newName = scalarAt(entry.get('newName', true));
    const newTag = scalarAt(entry.get('newTag', true));
    const digest = scalarAt(entry.get('digest', true));
    const produced = `${String(newName?.value ?? name.value)}${newTag !== undefined ? `:${String(newTag.value)}` : ''}${digest !== undefined ? `@${String(digest.value)}` : ''}`;
    for (const restore of restores) {
      const aborted = parseImage(restore.aborted);
      if (produced !== restore.aborted) continue;
      const stable = parseImage(restore.stable);
      const what = `images[${String(name.value)}]: ${restore.aborted} → ${restore.stable}`;
      if (newName !== undefined && newName.value !== stable.name) splices.push({ ...rangeOf(newName), value: stable.name, what });
      if (newName === undefined && stable.name !== aborted.name) return { changed: false, reason: `${what} needs a newName the entry does not have` };
      if (newTag !== undefined && stable.tag !== undefined) splices.push({ ...rangeOf(newTag), value: stable.tag, what });
      if (digest !== undefined && stable.digest !== undefined) splices.push({ ...rangeOf(digest), value: stable.digest, what });
      if ((newTag === undefined) !== (stable.tag === undefined) || (digest === undefined) !== (stable.digest === undefined)) {
        return { changed: false, reason: `${what}: the entry and the stable image set different fields (tag, digest)` };
      }
    }
  }
  if (splices.length === 0) return { changed: false, reason: 'no images: entry produces the aborted image' };
  return { changed: true, text: splice(text, splices), edits: [...new Set(splices.map((s) => s.what))] };
}

function rangeOf(node: Scalar): { start: number; end: number } {
  const [start, end] = node.range as [number, number, number];
  return { start, end };
}
