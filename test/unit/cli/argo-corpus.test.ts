import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ARGO_API, convertText } from '../../../src/cli/convert.js';
import { lintText } from '../../../src/cli/lint.js';

const corpusDir = new URL('../../fixtures/argo-corpus/', import.meta.url).pathname;
const files = readdirSync(corpusDir).filter((file) => file.endsWith('.yaml')).sort();

interface Document {
  file: string;
  kind: string;
  name: string;
  /** Counted: not blue-green, no experiment step, not an Experiment. */
  counted: boolean;
  before: boolean;
  after: boolean;
}

/** Each document of a multi-document text, as its own text, so lint judges each one apart. */
const documentsOf = (text: string): string[] => parseAllDocuments(text).map((doc) => doc.toString());

const accepted = (text: string): boolean => {
  const result = lintText('doc.yaml', text);
  return result.objects === 1 && result.problems.length === 0;
};

function measure(): { documents: Document[]; reasons: Map<string, string[]> } {
  const documents: Document[] = [];
  const reasons = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(corpusDir, file), 'utf8');
    const before = documentsOf(text.replaceAll(`apiVersion: ${ARGO_API}`, 'apiVersion: fledge.dev/v1alpha1'));
    const converted = convertText(file, text);
    const after = documentsOf(converted.file.text);
    for (const finding of converted.findings.filter((f) => f.severity === 'untranslated')) {
      const key = `${finding.kind}/${finding.name}`;
      reasons.set(key, [...(reasons.get(key) ?? []), `${finding.file}:${finding.line}: ${finding.message}`]);
    }
    converted.file.documents.forEach((doc) => {
      const object = parseAllDocuments(text)[doc.index]?.toJS() as { spec?: { strategy?: { blueGreen?: unknown; canary?: { steps?: Array<Record<string, unknown>> } } } };
      const experiment = object.spec?.strategy?.canary?.steps?.some((step) => 'experiment' in step) === true;
      const blueGreen = object.spec?.strategy?.blueGreen !== undefined;
      documents.push({
        file,
        kind: doc.kind,
        name: doc.name,
        counted: doc.kind !== 'Experiment' && !blueGreen && !experiment,
        before: accepted(before[doc.index] ?? ''),
        after: accepted(after[doc.index] ?? ''),
      });
    });
  }
  return { documents, reasons };
}

describe('Argo Rollouts corpus (test/fixtures/argo-corpus): accepted before and after convert', () => {
  const { documents, reasons } = measure();
  const counted = documents.filter((doc) => doc.counted);
  const before = counted.filter((doc) => doc.before).length;
  const after = counted.filter((doc) => doc.after).length;
  const percent = (n: number): string => `${((100 * n) / counted.length).toFixed(0)}%`;
  process.stdout.write(
    `argo corpus: ${documents.length} documents in ${files.length} files; ${counted.length} counted (blue-green and experiments left out); ` +
      `accepted by lint with only apiVersion changed: ${before} (${percent(before)}); after convert: ${after} (${percent(after)})\n`,
  );

  it('is a corpus of 40 to 60 canary documents', () => {
    expect(counted.length).toBeGreaterThanOrEqual(40);
    expect(counted.length).toBeLessThanOrEqual(60);
  });

  it('convert makes more of it acceptable than changing apiVersion alone', () => {
    expect(after).toBeGreaterThan(before);
    expect(documents.filter((doc) => doc.before && !doc.after)).toEqual([]);
  });

  // The corpus holds one or more of every Argo feature Fledge lacks (the Ambassador router, the
  // Datadog provider, workloadRef, antiAffinity, Istio header routes, args in conditions, fieldRef into the pod
  // template), so 80% is what it measures; each of the rest is reported with a reason below.
  it('accepts at least 80% of the counted documents after convert', () => {
    expect(after / counted.length).toBeGreaterThanOrEqual(0.8);
  });

  it('gives every document it cannot make acceptable a reason, with file:line', () => {
    const rejected = documents.filter((doc) => !doc.after);
    for (const doc of rejected) expect(reasons.get(`${doc.kind}/${doc.name}`), `${doc.file} ${doc.kind}/${doc.name}`).toBeDefined();
    process.stdout.write(rejected.map((doc) => `  rejected ${doc.file} ${doc.kind}/${doc.name}: ${(reasons.get(`${doc.kind}/${doc.name}`) ?? []).join('; ')}\n`).join(''));
  });
});
