import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertText } from '../../src/cli/convert.js';
import { lintText } from '../../src/cli/lint.js';
import { createTestNamespace, installCrds, kubectl } from '../harness/e2e.js';

const corpusDir = new URL('../fixtures/argo-corpus/', import.meta.url).pathname;
const files = readdirSync(corpusDir).filter((file) => file.endsWith('.yaml')).sort();

describe('Argo Rollouts corpus on the real apiserver', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('argo-corpus');
  });
  afterAll(async () => {
    await ns.remove();
  });

  // lint is the offline stand-in for the apiserver, so it must refuse whatever the apiserver refuses.
  it('lint never accepts a converted document that kubectl apply --dry-run=server refuses', async () => {
    let accepted = 0;
    let total = 0;
    const disagreements: string[] = [];
    for (const file of files) {
      const converted = convertText(file, readFileSync(join(corpusDir, file), 'utf8'));
      const docs = parseAllDocuments(converted.file.text).map((doc) => doc.toString());
      for (const doc of converted.file.documents) {
        if (doc.kind === 'Experiment') continue;
        const text = docs[doc.index] ?? '';
        const applied = await kubectl(['apply', '--dry-run=server', '-n', ns.name, '-f', '-'], { input: text });
        const lint = lintText(file, text);
        const linted = lint.objects === 1 && lint.problems.length === 0;
        total++;
        if (applied.code === 0) accepted++;
        if ((applied.code === 0) !== linted) disagreements.push(`${file} ${doc.kind}/${doc.name}: apiserver ${applied.code === 0 ? 'accepts' : `refuses (${applied.stderr.trim()})`}, lint ${linted ? 'accepts' : `refuses (${lint.problems.map((p) => p.message).join('; ')})`}`);
      }
    }
    process.stdout.write(`argo corpus on the apiserver: ${accepted} of ${total} converted documents accepted by kubectl apply --dry-run=server\n`);
    // lint may refuse more than the apiserver (CEL type-checks, pod templates, fieldRefs), never less.
    expect(disagreements.filter((line) => line.includes('apiserver refuses'))).toEqual([]);
    process.stdout.write(disagreements.map((line) => `  ${line}\n`).join(''));
  });
});
