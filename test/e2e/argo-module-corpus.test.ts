import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertText } from '../../src/cli/convert.js';
import { downloadGoModule } from '../harness/build.js';
import { ARGO_ROLLOUTS_VERSION } from '../harness/config.js';
import { createTestNamespace, installCrds, kubectl } from '../harness/e2e.js';

/**
 * Argo Rollouts' own manifests, read from its Go module at test time (never copied here): every canary Rollout and
 * analysis document under examples/ and test/e2e/, blue-green, CRDs, Helm templates and expected failures left out.
 * The figure is what a user migrating from Argo meets; our own corpus (argo-corpus.test.ts) says what we imagined.
 */
const ANALYSIS_KINDS = new Set(['AnalysisTemplate', 'ClusterAnalysisTemplate', 'AnalysisRun']);
/** Accepted after `convert` in this module's version when this test landed (2026-12-07); it may only rise. */
const ACCEPTED_FLOOR = 83;

interface CorpusDocument {
  file: string;
  kind: string;
  name: string;
  /** The document with only its apiVersion moved to Fledge's. */
  asIs: string;
  /** The document as `kubectl fledge convert` writes it. */
  converted: string;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'crds' || entry === 'expectedfailures' ? [] : yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; generateName?: string; namespace?: string }; spec?: { strategy?: { canary?: unknown } } };

/** The document as written, with only its apiVersion moved to Fledge's (its text otherwise untouched). */
function withFledgeApiVersion(text: string): string {
  const [doc] = parseAllDocuments(text);
  doc?.setIn(['apiVersion'], 'fledge.dev/v1alpha1');
  return doc?.toString() ?? text;
}

/** The document as a user applies it into their own namespace (some examples name Argo's test namespaces). */
function inTestNamespace(text: string): string {
  const docs = parseAllDocuments(text);
  const doc = docs[0];
  if (doc === undefined || docs.length !== 1 || doc.errors.length > 0) return text;
  doc.deleteIn(['metadata', 'namespace']);
  return doc.toString();
}

/** The corpus's documents, and what `convert` said about the files that hold them, by severity. */
function corpus(moduleDir: string): { documents: CorpusDocument[]; notes: Map<string, number> } {
  const documents: CorpusDocument[] = [];
  const notes = new Map<string, number>();
  for (const path of ['examples', 'test/e2e'].flatMap((dir) => yamlFiles(join(moduleDir, dir)))) {
    // A Helm chart's templates are not manifests until rendered; `{{args.x}}` in a template is Argo's own syntax.
    if (path.includes('/templates/')) continue;
    const text = readFileSync(path, 'utf8');
    const file = relative(moduleDir, path);
    const converted = convertText(file, text);
    for (const finding of converted.findings) notes.set(finding.severity, (notes.get(finding.severity) ?? 0) + 1);
    const convertedDocs = parseAllDocuments(converted.file.text);
    parseAllDocuments(text).forEach((doc, index) => {
      const manifest = doc.toJS() as Manifest | null;
      if (manifest?.apiVersion !== 'argoproj.io/v1alpha1' || manifest.kind === undefined) return;
      const canary = manifest.kind === 'Rollout' && manifest.spec?.strategy?.canary !== undefined;
      if (!canary && !ANALYSIS_KINDS.has(manifest.kind)) return;
      documents.push({
        file,
        kind: manifest.kind,
        name: manifest.metadata?.name ?? manifest.metadata?.generateName ?? '?',
        asIs: inTestNamespace(withFledgeApiVersion(doc.toString())),
        converted: inTestNamespace(convertedDocs[index]?.toString() ?? ''),
      });
    });
  }
  return { documents, notes };
}

/** A refusal's reason, without names or values: the field the apiserver names and what it says of it. */
function refusalReason(stderr: string): string {
  const unknown = /unknown field "([^"]+)"/.exec(stderr);
  if (unknown) return `unknown field ${unknown[1]!.replace(/\[\d+\]/g, '[]')}`;
  const invalid = /([\w.[\]]+): (Invalid value|Required value|Unsupported value|Forbidden|Duplicate value|Too long|Too many)/.exec(stderr);
  if (invalid) return `${invalid[1]!.replace(/\[\d+\]/g, '[]')}: ${invalid[2]}`;
  return stderr.trim().split('\n')[0]!.replace(/"[^"]*"/g, '"…"').slice(0, 120);
}

describe(`Argo Rollouts ${ARGO_ROLLOUTS_VERSION}'s own manifests, from its Go module, on the real apiserver`, () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let documents: CorpusDocument[];
  let notes: Map<string, number>;
  beforeAll(async () => {
    ({ documents, notes } = corpus(await downloadGoModule('github.com/argoproj/argo-rollouts', ARGO_ROLLOUTS_VERSION)));
    await installCrds();
    ns = await createTestNamespace('argo-module');
  }, 300_000);
  afterAll(async () => {
    await ns?.remove();
  });

  it('accepts at least as many after convert as when this figure was recorded, and says why it refuses the rest', async () => {
    const accepted = async (text: string): Promise<string | undefined> => {
      // create, not apply: an AnalysisRun named by generateName cannot be applied.
      const applied = await kubectl(['create', '--dry-run=server', '-n', ns.name, '-f', '-'], { input: text });
      return applied.code === 0 ? undefined : refusalReason(applied.stderr);
    };
    const results: Array<{ doc: CorpusDocument; asIs: string | undefined; converted: string | undefined }> = [];
    for (let i = 0; i < documents.length; i += 4) {
      results.push(...(await Promise.all(documents.slice(i, i + 4).map(async (doc) => ({ doc, asIs: await accepted(doc.asIs), converted: await accepted(doc.converted) })))));
    }
    const count = (pick: 'asIs' | 'converted'): number => results.filter((result) => result[pick] === undefined).length;
    const reasons = new Map<string, number>();
    for (const result of results) if (result.converted !== undefined) reasons.set(result.converted, (reasons.get(result.converted) ?? 0) + 1);
    const lines = [
      `argo module corpus (${ARGO_ROLLOUTS_VERSION}): ${documents.length} canary Rollout and analysis documents`,
      `  accepted with only apiVersion changed: ${count('asIs')} of ${documents.length}`,
      `  accepted after kubectl fledge convert: ${count('converted')} of ${documents.length}`,
      `  convert's notes on those files: ${[...notes].map(([severity, n]) => `${n} ${severity}`).join(', ') || 'none'}`,
      '  refused after convert, by reason:',
      ...[...reasons].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `    ${n} × ${reason}`),
    ];
    const lost = results.filter((result) => result.asIs === undefined && result.converted !== undefined);
    lines.push(...lost.map((result) => `  accepted as written, refused after convert: ${result.doc.file} ${result.doc.kind}/${result.doc.name} (${result.converted})`));
    process.stdout.write(`${lines.join('\n')}\n`);
    expect(documents.length, 'the module still holds its 90 documents').toBe(90);
    expect(count('converted'), `accepted after convert (floor ${ACCEPTED_FLOOR})`).toBeGreaterThanOrEqual(ACCEPTED_FLOOR);
  }, 600_000);
});
