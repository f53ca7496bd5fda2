import yaml from 'js-yaml';
import { renderCrds } from './crds.js';

const HEADER = '# Generated from src/api by `npm run gen:crds`. Do not edit.\n';

/** The text of every file under crds/, as the generator writes it. */
export function crdFileContents(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(renderCrds()).map(([file, crd]) => [file, HEADER + yaml.dump(crd, { lineWidth: -1, noRefs: true })]),
  );
}
