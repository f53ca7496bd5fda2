import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, JUDGE_ARGS, type AnalysisTemplateSpec } from '../api/analysis.js';
import { DeclaredRollout } from '../api/rollout.js';
import { compileCondition, ConditionError, resultTypeOf } from '../analysis/condition.js';
import { EXPERIMENT_PLACEHOLDER, isSupportedFieldPath, SUPPORTED_FIELD_PATHS } from '../analysis/templates.js';
import { conditionForTypeCheck } from '../analysis/metric-args.js';
import { validateAgainstCrd } from './crd-schema.js';
import { parseDocuments } from '../yaml/document.js';
import type { Colors } from './render.js';

export interface LintProblem {
  file: string;
  line: number;
  kind: string;
  name: string;
  message: string;
}

export interface LintReport {
  files: number;
  objects: number;
  problems: LintProblem[];
}

/** Checks beyond the schema (CEL type-checking for analysis templates); each returns [path, message] pairs. */
export type ExtraCheck = (object: unknown) => Array<[Array<string | number>, string]>;

export interface KindValidator {
  schema: z.ZodType;
  extra?: ExtraCheck;
}

const FLEDGE_API = 'fledge.dev/v1alpha1';

/**
 * The CEL type-check the controller does before measuring, and arguments that metrics use but `spec.args` never
 * declares; `owner` names the kind in messages. Templates and runs share both: a run carries its templates' metrics.
 */
const checkMetrics = (owner: string): ExtraCheck => (object) => {
  const spec = (object as { spec: Pick<AnalysisTemplateSpec, 'args' | 'metrics'> }).spec;
  const problems: Array<[Array<string | number>, string]> = [];
  const declared = new Set((spec.args ?? []).map((arg) => arg.name));
  spec.metrics.forEach((metric, index) => {
    for (const field of ['successCondition', 'failureCondition'] as const) {
      const expression = metric[field];
      if (expression === undefined) continue;
      try {
        compileCondition(conditionForTypeCheck(expression, spec.args), resultTypeOf(metric.provider));
      } catch (err) {
        if (!(err instanceof ConditionError)) throw err;
        problems.push([['spec', 'metrics', index, field], err.reason]);
      }
    }
    // The provider, and Argo's templated interval, count and limits. A judge gives its queries role and window itself.
    const given = 'judge' in metric.provider ? JUDGE_ARGS : [];
    for (const [field, value] of Object.entries(metric)) {
      for (const [, name] of JSON.stringify(value).matchAll(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g)) {
        if (!declared.has(name as string) && !given.includes(name as string)) problems.push([['spec', 'metrics', index, field], `uses {{args.${name}}} but the ${owner} declares no argument ${name}`]);
      }
    }
  });
  return problems;
};

/**
 * What the apiserver leaves to the ReplicaSet it creates later: a pod template without containers, or a container
 * without a name or image, passes `kubectl apply` and only fails the Rollout (InvalidSpec) once it is reconciled.
 */
const checkPodTemplate: ExtraCheck = (object) => {
  // A workloadRef's template is the Deployment's, which the apiserver has checked already.
  const template = (object as { spec: { template?: { spec: Record<string, unknown> } } }).spec.template;
  if (template === undefined) return [];
  const podSpec = template.spec;
  const path = ['spec', 'template', 'spec', 'containers'];
  const containers = podSpec.containers;
  if (!Array.isArray(containers) || containers.length === 0) return [[path, 'a pod template needs at least one container']];
  return containers.flatMap((container: unknown, index): Array<[Array<string | number>, string]> => {
    const fields = (container ?? {}) as Record<string, unknown>;
    return (['name', 'image'] as const)
      .filter((field) => typeof fields[field] !== 'string' || fields[field] === '')
      .map((field) => [[...path, index, field], `a container needs a ${field}`]);
  });
};

type Path = Array<string | number>;
type AnalysisArgs = { args?: Array<{ value?: unknown; valueFrom?: { fieldRef?: { fieldPath?: unknown } } }> } | undefined;
type ExperimentOf = { templates?: Array<{ name?: unknown }>; analyses?: AnalysisArgs[] } | undefined;
type StepOf = { analysis?: AnalysisArgs; experiment?: ExperimentOf } | undefined;
type CanaryOf = { steps?: StepOf[]; analysis?: AnalysisArgs } | undefined;

const canaryOf = (object: unknown): CanaryOf => (object as { spec?: { strategy?: { canary?: CanaryOf } } }).spec?.strategy?.canary;
const stepsOf = (canary: CanaryOf): StepOf[] => (Array.isArray(canary?.steps) ? canary.steps : []);
const argsOf = (analysis: AnalysisArgs): NonNullable<NonNullable<AnalysisArgs>['args']> => (Array.isArray(analysis?.args) ? analysis.args : []);

/** Every analysis of a Rollout that takes arguments: its steps', its experiments' and its background one, and where each is. */
function rolloutAnalyses(object: unknown): Array<[Path, AnalysisArgs]> {
  const canary = canaryOf(object);
  return [
    ...stepsOf(canary).flatMap((step, i): Array<[Path, AnalysisArgs]> => [
      [['spec', 'strategy', 'canary', 'steps', i, 'analysis'], step?.analysis],
      ...(Array.isArray(step?.experiment?.analyses) ? step.experiment.analyses : []).map((analysis, j): [Path, AnalysisArgs] => [['spec', 'strategy', 'canary', 'steps', i, 'experiment', 'analyses', j], analysis]),
    ]),
    [['spec', 'strategy', 'canary', 'analysis'], canary?.analysis],
  ];
}

/** Every analysis argument of a Rollout that reads a field of it: where it is, and the fieldPath. */
export function rolloutFieldRefs(object: unknown): Array<[Path, string]> {
  return rolloutAnalyses(object).flatMap(([at, analysis]) =>
    argsOf(analysis).flatMap((arg, j): Array<[Path, string]> => {
      const fieldPath = arg?.valueFrom?.fieldRef?.fieldPath;
      return typeof fieldPath === 'string' ? [[[...at, 'args', j, 'valueFrom', 'fieldRef', 'fieldPath'], fieldPath]] : [];
    }),
  );
}

/** What an experiment's argument values may name besides its templates. */
const EXPERIMENT_VALUES = ['experiment.availableAt', 'experiment.finishedAt'];

/** `{{...}}` in an experiment's argument values must name one of its templates' values, or the run is invalid when it starts. */
function experimentPlaceholders(object: unknown): Array<[Path, string]> {
  return stepsOf(canaryOf(object)).flatMap((step, i) => {
    const experiment = step?.experiment;
    const templates = (Array.isArray(experiment?.templates) ? experiment.templates : []).map((template) => String(template?.name));
    const known = new Set([...templates.flatMap((name) => [`templates.${name}.podTemplateHash`, `templates.${name}.replicaset.name`]), ...EXPERIMENT_VALUES]);
    return (Array.isArray(experiment?.analyses) ? experiment.analyses : []).flatMap((analysis, j) =>
      argsOf(analysis).flatMap((arg, k): Array<[Path, string]> => {
        if (typeof arg?.value !== 'string') return [];
        const unknown = [...arg.value.matchAll(EXPERIMENT_PLACEHOLDER)].map((match) => match[1] ?? '').filter((name) => !known.has(name));
        const path = ['spec', 'strategy', 'canary', 'steps', i, 'experiment', 'analyses', j, 'args', k, 'value'];
        return unknown.map((name): [Path, string] => [path, `{{${name}}} names nothing this experiment has: its templates are ${templates.join(', ')}`]);
      }),
    );
  });
}

const checkRollout: ExtraCheck = (object) => [
  ...checkPodTemplate(object),
  ...rolloutFieldRefs(object)
    .filter(([, fieldPath]) => !isSupportedFieldPath(fieldPath))
    .map(([path, fieldPath]): [Path, string] => [path, `fieldRef ${fieldPath} does not parse: write ${SUPPORTED_FIELD_PATHS}`]),
  ...experimentPlaceholders(object),
];

/** The kinds lint knows, with the schemas and checks the controller itself applies. */
const KINDS = new Map<string, KindValidator>([
  ['Rollout', { schema: DeclaredRollout, extra: checkRollout }],
  ['AnalysisTemplate', { schema: AnalysisTemplate, extra: checkMetrics('template') }],
  ['ClusterAnalysisTemplate', { schema: ClusterAnalysisTemplate, extra: checkMetrics('template') }],
  ['AnalysisRun', { schema: AnalysisRun, extra: checkMetrics('run') }],
]);

/** The YAML and JSON files at `path`: the file itself, or every one under the directory, in a stable order. */
export function yamlFiles(path: string): string[] {
  const stat = statSync(path);
  if (!stat.isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((entry) => {
      const child = join(path, entry);
      if (statSync(child).isDirectory()) return yamlFiles(child);
      return /\.(ya?ml|json)$/.test(entry) ? [child] : [];
    });
}

export function lintText(file: string, text: string): { objects: number; problems: LintProblem[] } {
  const { documents, lineAt, lineOf } = parseDocuments(text);
  const problems: LintProblem[] = [];
  let objects = 0;
  for (const doc of documents) {
    for (const error of doc.errors) {
      problems.push({ file, line: lineAt(error.pos[0]), kind: '-', name: '-', message: `YAML: ${error.message.split('\n')[0]}` });
    }
    if (doc.errors.length > 0) continue;
    const object = doc.toJS() as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } } | null;
    if (object === null || typeof object !== 'object') continue;
    if (object.apiVersion !== FLEDGE_API) continue;
    const kind = String(object.kind);
    const name = typeof object.metadata?.name === 'string' ? object.metadata.name : '<unnamed>';
    objects++;
    const validator = KINDS.get(kind);
    if (validator === undefined) {
      problems.push({ file, line: lineOf(doc, ['kind']), kind, name, message: `unknown kind ${kind} for ${FLEDGE_API} (known: ${[...KINDS.keys()].join(', ')})` });
      continue;
    }
    const parsed = validator.schema.safeParse(object);
    const reported: string[] = [];
    const report = (path: Array<string | number>, message: string): void => {
      reported.push(path.join('.'));
      problems.push({ file, line: lineOf(doc, path), kind, name, message: `${path.join('.') || '<root>'}: ${message}` });
    };
    const overlaps = (path: string): boolean => reported.some((known) => known.startsWith(path) || path.startsWith(known));
    // The CRD is what `kubectl apply` enforces, unknown fields (which zod drops) and CEL rules included, and says
    // exactly where; the schemas the controller parses with then add what it cannot express. Said once per place.
    for (const issue of validateAgainstCrd(object) ?? []) report(issue.path, issue.message);
    for (const issue of parsed.error?.issues ?? []) {
      const path = issue.path.filter((part): part is string | number => typeof part !== 'symbol');
      if (!overlaps(path.join('.'))) report(path, issue.message);
    }
    if (!parsed.success) continue;
    for (const [path, message] of validator.extra?.(object) ?? []) {
      problems.push({ file, line: lineOf(doc, path), kind, name, message: `${path.join('.')}: ${message}` });
    }
  }
  return { objects, problems };
}

export function lintPaths(paths: string[]): LintReport {
  const report: LintReport = { files: 0, objects: 0, problems: [] };
  for (const path of paths) {
    let files: string[];
    try {
      files = yamlFiles(path);
    } catch {
      report.problems.push({ file: path, line: 0, kind: '-', name: '-', message: 'no such file or directory' });
      continue;
    }
    for (const file of files) {
      report.files++;
      const result = lintText(file, readFileSync(file, 'utf8'));
      report.objects += result.objects;
      report.problems.push(...result.problems);
    }
  }
  return report;
}

export function renderLintReport(report: LintReport, c: Colors): string {
  const lines = report.problems.map((p) => `${c.bold(`${p.file}:${p.line}`)}: ${c.red('error')}: ${p.kind}/${p.name}: ${p.message}`);
  const summary =
    report.problems.length === 0
      ? c.green(`✔ ${report.objects} objects in ${report.files} files are valid`)
      : c.red(`✖ ${report.problems.length} problems in ${report.objects} objects (${report.files} files)`);
  return [...lines, summary].join('\n') + '\n';
}
