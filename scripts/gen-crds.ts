// Writes crds/ from the zod schemas in src/api; `npm run gen:crds`. A unit test fails when crds/ is stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFileContents } from '../src/api/crd-yaml.js';

const dir = join(import.meta.dirname, '..', 'crds');
mkdirSync(dir, { recursive: true });
for (const [file, text] of Object.entries(crdFileContents())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
