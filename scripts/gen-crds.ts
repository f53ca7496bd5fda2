// Writes crds/ and the Helm chart's crds/ from the zod schemas in src/api; `npm run gen:crds`.
// A unit test fails when either is stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRD_OUTPUT_DIRS, crdFileContents } from '../src/api/crd-yaml.js';

const root = join(import.meta.dirname, '..');
for (const dir of CRD_OUTPUT_DIRS) {
  mkdirSync(join(root, dir), { recursive: true });
  for (const [file, text] of Object.entries(crdFileContents(dir))) {
    writeFileSync(join(root, dir, file), text);
    console.log(`wrote ${dir}/${file}`);
  }
}
