import { isMap, isSeq } from '../yaml/document.js';
import { documentsOf, restoreKustomizationImages, restoreRolloutImages, type FoundEdit, type ImageRestore } from './edit.js';
import { inClusterLayers, nodeLayer, parameterFileLayer, restoreHelmValues, valuesFileLayer, type HelmValues, type ValuesLayer } from './helm-values.js';
import { normalizePath, type Snapshot } from './snapshot.js';
import type { GitSource, HelmSource } from './source.js';

/** What write-back looks for: which Rollout, which images to put back, and where its source says to look. */
export interface EditTarget {
  path: string;
  rollout: { name: string; namespace: string };
  restores: readonly ImageRestore[];
  /** GitSource.helm: an Argo CD Application renders the Rollout with Helm, so the images are values. */
  helm?: HelmSource;
  /** GitSource.helmRelease: Flux renders it from this HelmRelease, so the images are its spec.values, under `path`. */
  helmRelease?: GitSource['helmRelease'];
}


const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const isYaml = (file: string): boolean => /\.ya?ml$/.test(file);
const baseName = (file: string): string => file.split('/').at(-1) ?? '';

/**
 * The file whose edit restores the images: the Helm values the source names when it renders the Rollout with Helm;
 * otherwise the first file under the source's path, a Rollout manifest first, then a kustomization's images:.
 */
export async function findEdit(snapshot: Snapshot, target: EditTarget): Promise<FoundEdit> {
  if (target.helm !== undefined) return restoreHelmValues(await applicationValues(snapshot, target.helm), target.restores);
  const path = normalizePath(target.path);
  if (path === undefined) return { reason: `path ${target.path} leaves the repository` };
  const kind = await snapshot.kind(path);
  if (kind === undefined) return { reason: `path ${target.path} does not exist on the branch` };
  const files = kind === 'dir' ? (await snapshot.files(path)).filter((file) => isYaml(file) || baseName(file) === 'Kustomization') : [path];
  if (target.helmRelease !== undefined) {
    const values = await helmReleaseValues(snapshot, files.filter(isYaml), target.helmRelease);
    return 'reason' in values ? { reason: `${values.reason} under ${target.path}` } : restoreHelmValues(values, target.restores);
  }
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

/** An Argo CD Application's values in Helm's order: its files, then what its spec holds, then Image Updater's file. */
async function applicationValues(snapshot: Snapshot, helm: HelmSource): Promise<HelmValues> {
  const layers: ValuesLayer[] = [];
  const notes: string[] = [];
  const add = (layer: ValuesLayer | string): void => void (typeof layer === 'string' ? notes.push(layer) : layers.push(layer));
  for (const file of helm.valueFiles) {
    const text = await snapshot.read(file);
    add(text === undefined ? `${file} does not exist` : valuesFileLayer(file, text));
  }
  layers.push(...inClusterLayers(helm.inCluster));
  const overrides = await snapshot.read(helm.parameterFile);
  if (overrides !== undefined) add(parameterFileLayer(helm.parameterFile, overrides));
  if (helm.unfollowed.length > 0) notes.push(`values files ${helm.unfollowed.join(', ')} are not followed (another source's, or outside this repository)`);
  return { layers, notes };
}

/** The HelmRelease's spec.values in its manifest; its spec.valuesFrom (ConfigMaps, Secrets) is in the cluster. */
async function helmReleaseValues(snapshot: Snapshot, files: readonly string[], release: { namespace: string; name: string }): Promise<HelmValues | { reason: string }> {
  for (const file of files) {
    const text = (await snapshot.read(file)) ?? '';
    // Most files are no HelmRelease: not parsing them keeps a large repository cheap.
    if (!text.includes('HelmRelease')) continue;
    const documents = documentsOf(text);
    if (typeof documents === 'string') continue;
    const document = documents.find(
      (candidate) =>
        candidate.get('kind') === 'HelmRelease' && candidate.getIn(['metadata', 'name']) === release.name && [undefined, release.namespace].includes(candidate.getIn(['metadata', 'namespace']) as string | undefined),
    );
    if (document === undefined) continue;
    const label = `${file} (HelmRelease ${release.namespace}/${release.name} spec.values)`;
    const valuesFrom = document.getIn(['spec', 'valuesFrom'], true);
    const from = isSeq(valuesFrom) ? valuesFrom.items.flatMap((entry) => (isMap(entry) ? [`${String(entry.get('kind'))}/${String(entry.get('name'))}`] : [])) : [];
    const notes = from.length > 0 ? [`the HelmRelease's spec.valuesFrom (${from.join(', ')}) lives in the cluster, not Git, and is not looked at`] : [];
    return { layers: [nodeLayer(label, document.getIn(['spec', 'values'], true), { path: file, text })], notes };
  }
  return { reason: `no file declares HelmRelease ${release.namespace}/${release.name}` };
}
