import { isMap, isScalar, isSeq, nodeOf, type Scalar } from '../yaml/document.js';
import { documentsOf, parseImage, scalarAt, splice, type FoundEdit, type ImageRestore, type Splice } from './edit.js';
import type { HelmParameter } from './source.js';

/** A key in Helm's values: map keys and list indexes, `image.tag` or `sidecars[0].image`. */
type KeyPath = ReadonlyArray<string | number>;

/** One value a layer sets; `node` is where a file spells it, absent for values held in the cluster. */
interface Leaf {
  path: KeyPath;
  value: unknown;
  node?: Scalar;
}

/** One place Helm takes values from. Layers are merged in order, a later one overriding an earlier one. */
export interface ValuesLayer {
  /** For messages: `apps/pay/values-prod.yaml`, `the Application's helm.parameters`. */
  label: string;
  /** The file and its text, when the values are in Git and can be edited there. */
  file?: { path: string; text: string };
  leaves: Leaf[];
  /** Lists the layer sets: Helm replaces a list whole, so nothing an earlier layer put under one counts. */
  lists: KeyPath[];
}

/** The layers to search, and what was not looked at (missing files, values from other sources), for the reason. */
export interface HelmValues {
  layers: ValuesLayer[];
  notes: string[];
}

/** `image.tag`, `a\.b.c`, `list[0].x`, as Helm's --set and Argo CD's parameters write keys. */
export function keyOf(path: KeyPath): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index > 0 ? '.' : ''}${part.replace(/\./g, '\\.')}`)).join('');
}

function parseKey(name: string): KeyPath {
  const path: Array<string | number> = [];
  for (const part of name.split(/(?<!\\)\./)) {
    const [, key = '', indexes = ''] = /^(.*?)((?:\[\d+\])*)$/.exec(part) ?? [];
    if (key !== '') path.push(key.replace(/\\\./g, '.'));
    for (const index of indexes.matchAll(/\[(\d+)\]/g)) path.push(Number(index[1]));
  }
  return path;
}

function collect(node: unknown, path: KeyPath, layer: Pick<ValuesLayer, 'leaves' | 'lists'>): void {
  if (isMap(node)) {
    for (const pair of node.items) if (isScalar(pair.key)) collect(pair.value, [...path, String(pair.key.value)], layer);
  } else if (isSeq(node)) {
    layer.lists.push(path);
    node.items.forEach((item, index) => collect(item, [...path, index], layer));
  } else if (isScalar(node)) {
    const scalar = scalarAt(node);
    layer.leaves.push({ path, value: node.value, ...(scalar !== undefined && { node: scalar }) });
  } else if (node === null || node === undefined) layer.leaves.push({ path, value: null });
}

/** The values under `node` (a document's root, or a HelmRelease's spec.values) as one layer. */
export function nodeLayer(label: string, node: unknown, file?: { path: string; text: string }): ValuesLayer {
  const layer: ValuesLayer = { label, leaves: [], lists: [], ...(file !== undefined && { file }) };
  // Values are a map; an empty file (or none) sets nothing, where a null under a key would delete the key.
  if (isMap(node)) collect(node, [], layer);
  return layer;
}

/** A values file; a string says why it cannot be read. */
export function valuesFileLayer(path: string, text: string): ValuesLayer | string {
  const documents = documentsOf(text);
  if (typeof documents === 'string') return `${path}: ${documents}`;
  return nodeLayer(path, documents[0]?.contents, { path, text });
}

/** The values an Argo CD Application's helm section holds in the cluster: values < valuesObject < parameters. */
export function inClusterLayers(inCluster: { parameters?: HelmParameter[]; values?: string; valuesObject?: Record<string, unknown> }): ValuesLayer[] {
  const layers: ValuesLayer[] = [];
  if (inCluster.values !== undefined) {
    const documents = documentsOf(inCluster.values);
    if (typeof documents !== 'string') layers.push(nodeLayer("the Application's helm.values", documents[0]?.contents));
  }
  if (inCluster.valuesObject !== undefined) layers.push(nodeLayer("the Application's helm.valuesObject", nodeOf(inCluster.valuesObject)));
  if (inCluster.parameters !== undefined) {
    const leaves = inCluster.parameters.map((parameter) => ({ path: parseKey(parameter.name), value: parameter.value }));
    layers.push({ label: "the Application's helm.parameters", leaves, lists: [] });
  }
  return layers;
}

/** Argo CD Image Updater's `.argocd-source-<app>.yaml`: its helm.parameters override the Application's. */
export function parameterFileLayer(path: string, text: string): ValuesLayer | string {
  const documents = documentsOf(text);
  if (typeof documents === 'string') return `${path}: ${documents}`;
  const parameters = documents[0]?.getIn(['helm', 'parameters'], true);
  const layer: ValuesLayer = { label: path, file: { path, text }, leaves: [], lists: [] };
  for (const item of isSeq(parameters) ? parameters.items : []) {
    const name = isMap(item) ? scalarAt(item.get('name', true)) : undefined;
    const value = isMap(item) ? scalarAt(item.get('value', true)) : undefined;
    if (name !== undefined && value !== undefined) layer.leaves.push({ path: parseKey(String(name.value)), value: value.value, node: value });
  }
  return layer;
}

const isPrefix = (prefix: KeyPath, path: KeyPath): boolean => prefix.length <= path.length && prefix.every((part, index) => part === path[index]);

interface Placed {
  leaf: Leaf;
  layer: ValuesLayer;
}

/** What Helm ends up with: each leaf from the last layer that sets it, and the leaves later layers override. */
function merge(layers: readonly ValuesLayer[]): { effective: Placed[]; overridden: Array<Placed & { by: ValuesLayer }> } {
  let effective: Placed[] = [];
  const overridden: Array<Placed & { by: ValuesLayer }> = [];
  for (const layer of layers) {
    const sets = [...layer.leaves.map((leaf) => leaf.path), ...layer.lists];
    // A scalar replaces a map and a map replaces a scalar: either way the earlier value under (or over) it is gone.
    const gone = (placed: Placed): boolean => sets.some((path) => isPrefix(path, placed.leaf.path) || isPrefix(placed.leaf.path, path));
    overridden.push(...effective.filter(gone).map((placed) => ({ ...placed, by: layer })));
    effective = [...effective.filter((placed) => !gone(placed)), ...layer.leaves.map((leaf) => ({ leaf, layer }))];
  }
  return { effective, overridden };
}

type Part = 'reference' | 'tag@digest' | 'tag' | 'digest';

interface Candidate extends Placed {
  part: Part;
  /** The sibling key that names the image (`repository`, `image`, `name`), when there is one. */
  named?: { key: string; name: string; sibling: Placed; matches: boolean };
}

/** The spellings of an image a value can hold, most specific first. */
function partsOf(image: string): Array<[Part, string]> {
  const { tag, digest } = parseImage(image);
  const parts: Array<[Part, string | undefined]> = [
    ['reference', image],
    ['tag@digest', tag !== undefined && digest !== undefined ? `${tag}@${digest}` : undefined],
    ['tag', tag],
    ['digest', digest],
  ];
  return parts.filter((part): part is [Part, string] => part[1] !== undefined);
}

/** Docker Hub's implicit registry and library/ prefix, so `nginx` and `docker.io/library/nginx` are one name. */
const canonicalName = (name: string): string => name.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');

/** Written as Helm sees it: a plain `1.10` is the number 1.1 to Helm, but a person searching reads 1.10. */
function spellings(leaf: Leaf): string[] {
  if (leaf.value === null || typeof leaf.value === 'object') return [];
  return [String(leaf.value), ...(leaf.node?.source !== undefined ? [leaf.node.source] : [])];
}

/** The image name the leaf's siblings give: `registry` + `repository`, `repository`, `image` or `name`. */
function siblingName(effective: readonly Placed[], leaf: Leaf, aborted: string): Candidate['named'] {
  const parent = leaf.path.slice(0, -1);
  const at = (key: string): Placed | undefined => effective.find((placed) => placed.leaf.path.length === parent.length + 1 && isPrefix(parent, placed.leaf.path) && placed.leaf.path.at(-1) === key);
  const registry = at('registry')?.leaf.value;
  for (const key of ['repository', 'image', 'name']) {
    const sibling = at(key);
    if (sibling === undefined || sibling.leaf === leaf || typeof sibling.leaf.value !== 'string') continue;
    const name = parseImage(key === 'repository' && typeof registry === 'string' ? `${registry}/${sibling.leaf.value}` : sibling.leaf.value).name;
    return { key, name, sibling, matches: canonicalName(name) === canonicalName(aborted) };
  }
  return undefined;
}

/** The leaves of `among` that spell the aborted image; siblings are looked up in what Helm ends up with. */
function candidatesFor(among: readonly Placed[], effective: readonly Placed[], restore: ImageRestore): Candidate[] {
  const abortedName = parseImage(restore.aborted).name;
  return among.flatMap((placed) => {
    const spelled = spellings(placed.leaf);
    const part = partsOf(restore.aborted).find(([, value]) => spelled.includes(value))?.[0];
    if (part === undefined) return [];
    const named = part === 'reference' ? undefined : siblingName(effective, placed.leaf, abortedName);
    return [{ ...placed, part, ...(named !== undefined && { named }) }];
  });
}

const placeOf = (candidate: Placed): string => `${keyOf(candidate.leaf.path)} (${candidate.layer.label})`;

/**
 * The one value the restore's image comes from: a whole reference, or a tag or digest whose sibling names the aborted
 * image, before one with no sibling naming any image. A sibling `repository` or `image` naming another image rules it
 * out (another image with the same tag); `name` may be a container's, so it only ever counts in favour.
 */
function choose(candidates: readonly Candidate[]): Candidate | Candidate[] {
  const possible = candidates.filter((candidate) => candidate.named === undefined || candidate.named.matches || candidate.named.key === 'name');
  const named = possible.filter((candidate) => candidate.part === 'reference' || candidate.named?.matches === true);
  const best = named.length > 0 ? named : possible;
  return best.length === 1 && best[0] !== undefined ? best[0] : best;
}

type FileSplice = Splice & { file: { path: string; text: string } };

function rangeOf(node: Scalar): { start: number; end: number } {
  const [start, end] = node.range as [number, number, number];
  return { start, end };
}

/** The new value for the chosen key, and for its sibling name when the stable image has another name; a string says why not. */
function plan(candidate: Candidate, restore: ImageRestore): FileSplice[] | string {
  const key = keyOf(candidate.leaf.path);
  const { file } = candidate.layer;
  // Values the Application holds in its own spec override every file: editing Git would change nothing.
  if (file === undefined || candidate.leaf.node === undefined) {
    return `${restore.container}'s image ${restore.aborted} is set by ${candidate.layer.label} ${key}, which lives in the cluster, not Git`;
  }
  const stableValue = partsOf(restore.stable).find(([part]) => part === candidate.part)?.[1];
  if (stableValue === undefined) return `${placeOf(candidate)} holds the ${candidate.part} of ${restore.aborted}, but the stable image ${restore.stable} has none`;
  const splices: FileSplice[] = [{ ...rangeOf(candidate.leaf.node), value: stableValue, what: `${restore.container}: ${key} ${spellings(candidate.leaf)[0] ?? ''} → ${stableValue}`, file }];
  const aborted = parseImage(restore.aborted).name;
  const stable = parseImage(restore.stable).name;
  if (candidate.part === 'reference' || canonicalName(aborted) === canonicalName(stable)) return splices;
  const sibling = candidate.named?.sibling;
  if (candidate.named?.matches !== true || sibling?.leaf.node === undefined || sibling.layer.file === undefined || sibling.leaf.value !== aborted) {
    return `${placeOf(candidate)} holds the ${candidate.part} of ${restore.aborted}, but the stable image ${restore.stable} has another name, and no sibling key in Git spells ${aborted}`;
  }
  const siblingKey = keyOf(sibling.leaf.path);
  return [...splices, { ...rangeOf(sibling.leaf.node), value: stable, what: `${restore.container}: ${siblingKey} ${aborted} → ${stable}`, file: sibling.layer.file }];
}

/** Why no value was found: what was looked at and for, matches that a later layer overrides, another image's tag. */
function noneReason(restore: ImageRestore, values: HelmValues, overridden: ReadonlyArray<Placed & { by: ValuesLayer }>, candidates: readonly Candidate[]): string {
  const looked = values.layers.length > 0 ? values.layers.map((layer) => layer.label).join(', ') : 'no values at all';
  const spelled = partsOf(restore.aborted).map(([, value]) => value);
  const details = [
    ...candidatesFor(overridden, [], restore).map((candidate) => `${placeOf(candidate)} is overridden by ${overridden.find((o) => o.leaf === candidate.leaf)?.by.label ?? 'a later layer'}`),
    ...candidates.map((candidate) => `${placeOf(candidate)} belongs to ${candidate.named?.name ?? 'another image'}`),
  ];
  return `no Helm value sets ${restore.container}'s image ${restore.aborted} (looked for ${spelled.join(', ')} in ${looked})${details.length > 0 ? `: ${details.join('; ')}` : ''}`;
}

/**
 * Puts the stable images back into Helm values: for each restore, the one value Helm ends up with that spells the
 * aborted image (its reference, tag or digest) is set to the stable one, in the style it was written in, and every
 * other byte of the file stays. Where none or several values could be it, or it lives in the cluster, says why.
 */
export function restoreHelmValues(values: HelmValues, restores: readonly ImageRestore[]): FoundEdit {
  const { effective, overridden } = merge(values.layers);
  const splices: FileSplice[] = [];
  const failures: string[] = [];
  const unmatched: Array<{ restore: ImageRestore; candidates: Candidate[] }> = [];
  for (const restore of restores) {
    const candidates = candidatesFor(effective, effective, restore);
    const chosen = choose(candidates);
    if (Array.isArray(chosen) && chosen.length === 0) unmatched.push({ restore, candidates });
    else if (Array.isArray(chosen)) failures.push(`${restore.container}'s image ${restore.aborted}: ${chosen.map(placeOf).join(', ')} all spell it, and write-back cannot tell which one Helm uses for it`);
    else {
      const planned = plan(chosen, restore);
      if (typeof planned === 'string') failures.push(planned);
      else splices.push(...planned);
    }
  }
  // Two containers often share one tag value (an app and its migrations): the edit for one restores the other too.
  const covered = ({ restore, candidates }: (typeof unmatched)[number]): boolean =>
    candidates.some((candidate) =>
      splices.some((s) => s.file === candidate.layer.file && s.start === candidate.leaf.node?.range?.[0] && s.value === partsOf(restore.stable).find(([part]) => part === candidate.part)?.[1]),
    );
  const missing = unmatched.filter((entry) => !covered(entry));
  failures.push(...missing.map(({ restore, candidates }) => noneReason(restore, values, overridden, candidates)));
  if (failures.length > 0) return { reason: [...failures, ...(missing.length > 0 ? values.notes : [])].join('; ') };
  return oneFile(splices);
}

/** Write-back commits one file: the splices must all fall in it, and two restores may not set one value differently. */
function oneFile(splices: readonly FileSplice[]): FoundEdit {
  const files = [...new Set(splices.map((s) => s.file.path))];
  const [first] = splices;
  if (first === undefined) return { reason: 'no image to restore' };
  if (files.length > 1) return { reason: `the images are set in more than one file (${files.join(', ')}); write-back commits one file` };
  const byStart = new Map<number, FileSplice>();
  for (const s of splices) {
    const same = byStart.get(s.start);
    if (same !== undefined && same.value !== s.value) return { reason: `${first.file.path}: one value would be set to both ${same.value} and ${s.value} (${same.what}; ${s.what})` };
    byStart.set(s.start, same ?? s);
  }
  const unique = [...byStart.values()];
  return { file: first.file.path, text: splice(first.file.text, unique), edits: unique.map((s) => s.what) };
}
