import { readFileSync } from 'node:fs';
import { API_VERSION } from '../api/rollout.js';
import { validateAgainstCrd } from './crd-schema.js';
import { exprToCel } from './expr-to-cel.js';
import { rolloutFieldRefs, yamlFiles } from './lint.js';
import { isSupportedFieldPath, SUPPORTED_FIELD_PATHS } from '../analysis/templates.js';
import type { Colors } from './render.js';
import { parseDocuments, type Document, type SourceDocuments } from '../yaml/document.js';

export const ARGO_API = 'argoproj.io/v1alpha1';
const CONVERTED_KINDS = new Set(['Rollout', 'AnalysisTemplate', 'ClusterAnalysisTemplate', 'AnalysisRun']);

/** `untranslated`: kept as written, and Fledge would refuse or ignore it. `note`: translated, but read this. */
export interface ConvertFinding {
  file: string;
  line: number;
  kind: string;
  name: string;
  severity: 'untranslated' | 'note';
  message: string;
}

export interface ConvertedDocument {
  kind: string;
  name: string;
  /** The document's index in its file. */
  index: number;
  /** Whether the document had an Argo Rollouts canary strategy (blue-green and Experiments are not canaries). */
  canary: boolean;
  /** Whether convert left nothing untranslated in it. */
  complete: boolean;
}

export interface ConvertedFile {
  file: string;
  text: string;
  documents: ConvertedDocument[];
}

export interface ConvertReport {
  files: ConvertedFile[];
  findings: ConvertFinding[];
}

type Path = Array<string | number>;
type Json = Record<string, unknown>;

const asObject = (value: unknown): Json | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined);
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Argo features with no Fledge equivalent, by where they sit, and why. */
const UNSUPPORTED: Array<{ match: (path: Path) => boolean; message: string }> = [
  { match: (p) => p.join('.') === 'spec.strategy.blueGreen', message: 'the blueGreen strategy is not supported: Fledge runs canaries' },
  {
    match: (p) => p[3] === 'steps' && p[5] === 'plugin',
    message:
      'step plugins are not supported: Argo downloads and runs plugin binaries in its controller, and Fledge runs no third-party code; a webhook (strategy.canary.webhooks: pre-rollout, rollout, confirm-rollout) or a job metric in an analysis step can call what the plugin did',
  },
  {
    match: (p) => p.join('.') === 'spec.strategy.canary.trafficRouting.appMesh',
    message: 'AWS App Mesh is discontinued (AWS ended support on 2026-09-30): move the mesh to the Gateway API (trafficRouting.gatewayAPI), which Fledge routes through',
  },
  {
    match: (p) => p.slice(0, 4).join('.') === 'spec.strategy.canary.trafficRouting' && p.length === 5,
    message: 'this router is not supported: Fledge routes with gatewayAPI, traefik, istio, nginx, alb, smi, apisix or ambassador',
  },
  { match: (p) => p[3] === 'provider' && p.length === 5, message: 'this provider is not supported (Fledge measures with prometheus, web and job)' },
];

class DocumentConversion {
  readonly findings: ConvertFinding[] = [];
  private readonly reported = new Set<string>();

  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly source: SourceDocuments,
    readonly kind: string,
    readonly name: string,
  ) {}

  report(path: Path, severity: ConvertFinding['severity'], message: string): void {
    if (severity === 'untranslated') this.reported.add(path.join('.'));
    this.findings.push({ file: this.file, line: this.source.lineOf(this.doc, path), kind: this.kind, name: this.name, severity, message: `${path.join('.')}: ${message}` });
  }

  /** Whether a problem at `path` is already explained by one reported at or above it. */
  explained(path: Path): boolean {
    const text = path.join('.');
    return [...this.reported].some((known) => text === known || text.startsWith(`${known}.`));
  }

  set(path: Path, value: unknown): void {
    this.doc.setIn(path, value);
  }

  delete(path: Path): void {
    this.doc.deleteIn(path);
  }

  get complete(): boolean {
    return !this.findings.some((finding) => finding.severity === 'untranslated');
  }
}

/** The order a combined Argo step becomes Fledge steps in: what Argo sets at once first, what ends the step last. */
const SPLIT_ORDER = ['setCanaryScale', 'setHeaderRoute', 'setMirrorRoute', 'setWeight', 'pause', 'analysis', 'experiment', 'plugin'];
/** Which field of a combined step Argo waits on before it moves to the next one (its completedCurrentCanaryStep). */
const COMPLETED_BY = ['pause', 'setCanaryScale', 'setWeight', 'experiment', 'analysis', 'setHeaderRoute', 'setMirrorRoute', 'plugin'];

/**
 * Argo lets one step set setCanaryScale, setHeaderRoute and setMirrorRoute beside one of the others, all at once;
 * a Fledge step does one thing. Such a step becomes consecutive steps, and a background analysis's startingStep
 * follows the step it named.
 */
function splitCombinedSteps(object: Json, c: DocumentConversion): void {
  const at: Path = ['spec', 'strategy', 'canary'];
  const canary = asObject(asObject(asObject(object.spec)?.strategy)?.canary);
  const steps = asArray(canary?.steps);
  if (!steps.some((step) => Object.keys(asObject(step) ?? {}).length > 1)) return;
  const rank = (key: string): number => (SPLIT_ORDER.includes(key) ? SPLIT_ORDER.indexOf(key) : SPLIT_ORDER.length);
  const firstOf: number[] = [];
  const split: unknown[] = [];
  steps.forEach((step, index) => {
    firstOf.push(split.length);
    const fields = asObject(step);
    const keys = Object.keys(fields ?? {});
    if (fields === undefined || keys.length <= 1) {
      split.push(step);
      return;
    }
    const ordered = [...keys].sort((a, b) => rank(a) - rank(b));
    split.push(...ordered.map((key) => ({ [key]: fields[key] })));
    const waitedOn = COMPLETED_BY.find((key) => keys.includes(key)) ?? ordered[ordered.length - 1];
    c.report([...at, 'steps', index], 'note', `a step with ${keys.join(', ')} is split into ${ordered.length} steps (${ordered.join(', ')}): Argo set them at once and waited on ${waitedOn} alone`);
  });
  c.set([...at, 'steps'], split);
  const startingStep = asObject(canary?.analysis)?.startingStep;
  const moved = typeof startingStep === 'number' ? firstOf[startingStep] : undefined;
  if (typeof startingStep === 'number' && moved !== undefined && moved !== startingStep) {
    c.set([...at, 'analysis', 'startingStep'], moved);
    c.report([...at, 'analysis', 'startingStep'], 'note', `startingStep ${startingStep} is ${moved} once the combined steps before it are split`);
  }
}

const EXPERIMENT_WEIGHT =
  "an experiment template's weight is routed by trafficRouting gatewayAPI, istio, alb or smi only (and not beside another router): route with them, or leave weight out and the experiment runs without traffic";
/** The routers that carry an experiment template's weight (the CRD's rule). */
const WEIGHTING_ROUTERS = ['gatewayAPI', 'istio', 'alb', 'smi'];

function convertRollout(object: Json, c: DocumentConversion): void {
  for (const [path, fieldPath] of rolloutFieldRefs(object)) {
    if (!isSupportedFieldPath(fieldPath)) c.report(path, 'untranslated', `fieldRef ${fieldPath} does not parse: write ${SUPPORTED_FIELD_PATHS}`);
  }
  // The CRD refuses a weight no router carries by a rule the schema check here does not run: said where it is,
  // before steps are split.
  const canary = asObject(asObject(asObject(object.spec)?.strategy)?.canary);
  const routing = asObject(canary?.trafficRouting);
  const weighted = Object.keys(routing ?? {}).every((router) => router === 'managedRoutes' || WEIGHTING_ROUTERS.includes(router)) && WEIGHTING_ROUTERS.some((router) => routing?.[router] !== undefined);
  asArray(canary?.steps).forEach((step, index) => {
    asArray(asObject(asObject(step)?.experiment)?.templates).forEach((template, at) => {
      if (!weighted && asObject(template)?.weight !== undefined) c.report(['spec', 'strategy', 'canary', 'steps', index, 'experiment', 'templates', at, 'weight'], 'untranslated', EXPERIMENT_WEIGHT);
    });
  });
  splitCombinedSteps(object, c);
}

function convertTemplate(object: Json, c: DocumentConversion): void {
  const spec = asObject(object.spec);
  const metrics = asArray(spec?.metrics);
  metrics.forEach((metric, index) => {
    const fields = asObject(metric) ?? {};
    const at = (...rest: Path): Path => ['spec', 'metrics', index, ...rest];
    for (const which of ['successCondition', 'failureCondition'] as const) {
      const expression = fields[which];
      if (typeof expression !== 'string') continue;
      // A web metric's result is its JSON value (`result == true`), a Prometheus one's a number.
      const translated = exprToCel(expression.trim(), asObject(asObject(fields.provider)?.web) !== undefined ? 'json' : 'number');
      if (!translated.ok) {
        c.report(at(which), 'untranslated', `${JSON.stringify(expression)} is not translated: ${translated.reason}`);
        continue;
      }
      if (translated.cel !== expression) c.set(at(which), translated.cel);
      for (const note of translated.notes) c.report(at(which), 'note', note);
    }
    const web = asObject(asObject(fields.provider)?.web);
    if (web?.timeoutSeconds !== undefined) {
      c.set(at('provider', 'web', 'timeout'), web.timeoutSeconds);
      c.delete(at('provider', 'web', 'timeoutSeconds'));
    }
    if (web?.jsonBody !== undefined && web.body === undefined) {
      c.set(at('provider', 'web', 'body'), JSON.stringify(web.jsonBody));
      c.delete(at('provider', 'web', 'jsonBody'));
    }
  });
  // Argo lists dry-run metrics apart; Fledge marks each metric.
  const dryRun = spec?.dryRun;
  if (Array.isArray(dryRun)) {
    const names = dryRun.map((entry) => asObject(entry)?.metricName);
    const known = metrics.map((metric) => asObject(metric)?.name);
    if (names.every((name) => name === '.*' || known.includes(name))) {
      metrics.forEach((metric, index) => {
        if (names.includes('.*') || names.includes(asObject(metric)?.name)) c.set(['spec', 'metrics', index, 'dryRun'], true);
      });
      c.delete(['spec', 'dryRun']);
    } else {
      c.report(['spec', 'dryRun'], 'untranslated', 'dryRun names a metric pattern Fledge cannot match: mark metrics dryRun: true instead');
    }
  }
  const retention = spec?.measurementRetention;
  if (Array.isArray(retention)) {
    const limits = retention.map((entry) => asObject(entry)?.limit);
    if (limits.every((limit) => typeof limit === 'number' && Number.isInteger(limit) && limit >= 1)) {
      c.set(['spec', 'measurementRetention'], Math.max(...(limits as number[])));
      c.report(['spec', 'measurementRetention'], 'note', 'Fledge keeps one retention for every metric of a run: the largest of the per-metric limits');
    }
  }
}

function convertDocument(file: string, doc: Document, source: SourceDocuments, index: number): { conversion?: DocumentConversion; summary?: ConvertedDocument } {
  const object = asObject(doc.toJS());
  if (object === undefined || object.apiVersion !== ARGO_API) return {};
  const kind = String(object.kind);
  const name = typeof asObject(object.metadata)?.name === 'string' ? (asObject(object.metadata)?.name as string) : '<unnamed>';
  const c = new DocumentConversion(file, doc, source, kind, name);
  const strategy = asObject(asObject(object.spec)?.strategy);
  const summary = (): ConvertedDocument => ({ kind, name, index, canary: kind === 'Rollout' && strategy?.canary !== undefined, complete: c.complete });
  if (!CONVERTED_KINDS.has(kind)) {
    c.report(['kind'], 'untranslated', `${kind} has no Fledge equivalent; kept as written`);
    return { conversion: c, summary: summary() };
  }
  c.set(['apiVersion'], API_VERSION);
  if (kind === 'Rollout') convertRollout(object, c);
  else convertTemplate(object, c);

  // Whatever the CRD still refuses is reported where it is: known Argo features by name, anything else as it is.
  const converted = asObject(doc.toJS()) ?? {};
  for (const issue of validateAgainstCrd(converted) ?? []) {
    if (c.explained(issue.path)) continue;
    const known = UNSUPPORTED.find((entry) => entry.match(issue.path));
    c.report(issue.path, 'untranslated', known?.message ?? `kept as written, and Fledge refuses it: ${issue.message}`);
  }
  return { conversion: c, summary: summary() };
}

/** Rewrites one file's Argo Rollouts documents to Fledge, keeping comments, layout and every other document. */
export function convertText(file: string, text: string): { file: ConvertedFile; findings: ConvertFinding[] } {
  const source = parseDocuments(text);
  const findings: ConvertFinding[] = [];
  const documents: ConvertedDocument[] = [];
  source.documents.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        findings.push({ file, line: source.lineAt(error.pos[0]), kind: '-', name: '-', severity: 'untranslated', message: `YAML: ${error.message.split('\n')[0]}` });
      }
      return;
    }
    const { conversion, summary } = convertDocument(file, doc, source, index);
    if (conversion) findings.push(...conversion.findings);
    if (summary) documents.push(summary);
  });
  // Every document after the first kept its own `---`. Kubernetes manifests rarely indent lists under their key.
  const out = source.documents.map((doc) => doc.toString({ lineWidth: 0, indentSeq: false, flowCollectionPadding: false })).join('');
  return { file: { file, text: out, documents }, findings };
}

export function convertPaths(paths: string[]): ConvertReport {
  const report: ConvertReport = { files: [], findings: [] };
  for (const path of paths) {
    let files: string[];
    try {
      files = yamlFiles(path);
    } catch {
      report.findings.push({ file: path, line: 0, kind: '-', name: '-', severity: 'untranslated', message: 'no such file or directory' });
      continue;
    }
    for (const file of files) {
      const { file: converted, findings } = convertText(file, readFileSync(file, 'utf8'));
      report.files.push(converted);
      report.findings.push(...findings);
    }
  }
  return report;
}

export function renderConvertFindings(report: ConvertReport, c: Colors): string {
  const lines = report.findings.map(
    (f) => `${c.bold(`${f.file}:${f.line}`)}: ${f.severity === 'untranslated' ? c.red('not translated') : c.yellow('note')}: ${f.kind}/${f.name}: ${f.message}`,
  );
  const documents = report.files.flatMap((file) => file.documents);
  const untranslated = report.findings.filter((f) => f.severity === 'untranslated').length;
  const summary = `${documents.filter((d) => d.complete).length} of ${documents.length} Argo Rollouts documents converted completely; ${untranslated} things not translated`;
  return [...lines, untranslated === 0 ? c.green(`✔ ${summary}`) : c.red(`✖ ${summary}`)].join('\n') + '\n';
}
