import { dump } from '../yaml/parse.js';
import { renderCrds } from './crds.js';

const HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit.\n';

/** Where the generator writes: the repository's crds/ (with a kustomization) and the Helm chart's crds/. */
export const CRD_OUTPUT_DIRS = ['crds', 'deploy/helm/fledge/crds'] as const;

/** The text of every file the generator writes into `dir`. */
export function crdFileContents(dir: (typeof CRD_OUTPUT_DIRS)[number] = 'crds'): Record<string, string> {
  const crds = renderCrds();
  const files = Object.fromEntries(Object.entries(crds).map(([file, crd]) => [file, HEADER + dump(crd)]));
  // A kustomization beside them lets deploy/ include crds/ (kustomize loads no file outside a kustomization root).
  if (dir !== 'crds') return files;
  const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: Object.keys(crds).sort() };
  return { ...files, 'kustomization.yaml': HEADER + dump(kustomization) };
}
