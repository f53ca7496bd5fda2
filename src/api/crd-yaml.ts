import yaml from 'js-yaml';
import { renderCrds } from './crds.js';

const HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit.\n';

/** The text of every file under crds/, as the generator writes it. */
export function crdFileContents(): Record<string, string> {
  const crds = renderCrds();
  const files = Object.fromEntries(Object.entries(crds).map(([file, crd]) => [file, HEADER + yaml.dump(crd, { lineWidth: -1, noRefs: true })]));
  // A kustomization beside them lets deploy/ include crds/ (kustomize loads no file outside a kustomization root).
  const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: Object.keys(crds).sort() };
  return { ...files, 'kustomization.yaml': HEADER + yaml.dump(kustomization, { lineWidth: -1 }) };
}
