import type { AnalysisArg, AnalysisRunSpec, AnalysisTemplateSpec, Metric, ScoreThresholds } from '../api/analysis.js';
import type { RolloutAnalysis, RolloutAnalysisArg } from '../api/rollout.js';
import { resolveRunMetrics } from './metric-args.js';

/** Values a Rollout can hand to its templates through valueFrom. */
/** Two templates' score thresholds as one run's: the higher of each, so no template's bar is lowered. */
const strictest = (a: ScoreThresholds | undefined, b: ScoreThresholds): ScoreThresholds =>
  a === undefined ? b : { pass: Math.max(a.pass, b.pass), marginal: Math.max(a.marginal, b.marginal) };

export interface RolloutArgContext {
  /** The Rollout as the apiserver has it: fieldRef paths are read from it. */
  rollout: unknown;
  stableHash: string | undefined;
  canaryHash: string;
  /** An experiment's run: what `{{templates.<name>.podTemplateHash}}` and the like in a value stand for. */
  experimentValues?: Readonly<Record<string, string>>;
}

/** One step of a fieldRef path: a field name, an index, or a quoted map key. */
const PATH_STEP = /^(?:\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[(?:'([^']+)'|"([^"]+)")\])/;

/**
 * A fieldRef path as Argo Rollouts and the downward API write it (`metadata.labels['team']`,
 * `spec.template.spec.containers[0].image`), as the keys and indexes it walks; undefined when it does not parse.
 */
export function parseFieldPath(fieldPath: string): Array<string | number> | undefined {
  const steps: Array<string | number> = [];
  let rest = fieldPath;
  while (rest.length > 0) {
    const match = PATH_STEP.exec(rest);
    if (match === null || (steps.length === 0 && rest.startsWith('.'))) return undefined;
    steps.push(match[2] !== undefined ? Number(match[2]) : ((match[1] ?? match[3] ?? match[4]) as string));
    rest = rest.slice(match[0].length);
  }
  return steps.length > 0 ? steps : undefined;
}

export function isSupportedFieldPath(fieldPath: string): boolean {
  return parseFieldPath(fieldPath) !== undefined;
}

export const SUPPORTED_FIELD_PATHS = "a path into the Rollout, such as metadata.labels['key'] or spec.template.spec.containers[0].image";

type ArgValue = { value: string } | { problem: string };

/** The scalar a fieldRef path reaches in the Rollout, or why there is none. */
export function fieldPathValue(object: unknown, fieldPath: string): ArgValue {
  const steps = parseFieldPath(fieldPath);
  if (steps === undefined) return { problem: `fieldPath ${fieldPath} does not parse: write ${SUPPORTED_FIELD_PATHS}` };
  let at: unknown = object;
  for (const step of steps) {
    if (typeof step === 'number' ? !Array.isArray(at) : at === null || typeof at !== 'object' || Array.isArray(at)) return { problem: `the Rollout has no ${fieldPath}` };
    at = (at as Record<string | number, unknown>)[step];
  }
  if (typeof at === 'string' || typeof at === 'number' || typeof at === 'boolean') return { value: String(at) };
  return { problem: at === undefined || at === null ? `the Rollout has no ${fieldPath}` : `${fieldPath} is ${Array.isArray(at) ? 'a list' : 'an object'}, not a value` };
}

export type TemplateLookup = (name: string, clusterScope: boolean) => AnalysisTemplateSpec | undefined;

/** `{{ name }}` in an experiment's argument value. */
export const EXPERIMENT_PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** An experiment argument's value with each placeholder filled in, as Argo's experiment controller does; or why it cannot be. */
function experimentArgValue(value: string, values: Readonly<Record<string, string>>): ArgValue {
  const unknown = [...value.matchAll(EXPERIMENT_PLACEHOLDER)].map((match) => match[1] ?? '').filter((name) => !(name in values));
  if (unknown.length > 0) return { problem: `{{${unknown[0]}}} names nothing the experiment has (known: ${Object.keys(values).join(', ')})` };
  return { value: value.replace(EXPERIMENT_PLACEHOLDER, (_, name: string) => values[name] ?? '') };
}

function rolloutArgValue(arg: RolloutAnalysisArg, context: RolloutArgContext): ArgValue {
  if (arg.value !== undefined) return context.experimentValues === undefined ? { value: arg.value } : experimentArgValue(arg.value, context.experimentValues);
  const from = arg.valueFrom;
  const hash = from?.podTemplateHashValue === 'Stable' ? context.stableHash : from?.podTemplateHashValue === 'Latest' ? context.canaryHash : undefined;
  if (hash !== undefined) return { value: hash };
  if (from?.fieldRef !== undefined) return fieldPathValue(context.rollout, from.fieldRef.fieldPath);
  return { problem: 'the Rollout has no such value yet' };
}

/**
 * The spec of the AnalysisRun for one analysis step or background analysis: the templates' metrics,
 * and their arguments with the Rollout's values filled in. Anything that cannot be resolved becomes
 * `invalidReason`, so the run errors with that reason, the Rollout aborts saying it, and nothing is
 * measured against a half-built query.
 */
export function buildRunSpec(analysis: RolloutAnalysis, lookup: TemplateLookup, context: RolloutArgContext): AnalysisRunSpec {
  const metrics: Metric[] = [];
  const args = new Map<string, AnalysisArg>();
  const problems: string[] = [];
  let retention: number | undefined;
  let thresholds: ScoreThresholds | undefined;
  for (const ref of analysis.templates) {
    const scope = ref.clusterScope === true;
    const template = lookup(ref.templateName, scope);
    if (template === undefined) {
      problems.push(`${scope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate'} ${ref.templateName} not found`);
      continue;
    }
    for (const metric of template.metrics) {
      if (metrics.some((known) => known.name === metric.name)) problems.push(`metric ${metric.name} appears in more than one template`);
      else metrics.push(metric);
    }
    for (const arg of template.args ?? []) if (!args.has(arg.name)) args.set(arg.name, arg);
    if (template.measurementRetention !== undefined) retention = Math.max(retention ?? 0, template.measurementRetention);
    if (template.scoreThresholds !== undefined) thresholds = strictest(thresholds, template.scoreThresholds);
  }
  for (const given of analysis.args ?? []) {
    const resolved = rolloutArgValue(given, context);
    if ('problem' in resolved) problems.push(`argument ${given.name}: ${resolved.problem}`);
    else if (args.has(given.name)) args.set(given.name, { name: given.name, value: resolved.value });
  }
  for (const arg of args.values()) {
    if (arg.value === undefined && arg.valueFrom === undefined) problems.push(`argument ${arg.name} has no value: set it in the Rollout's analysis args`);
  }
  // Templated interval, count and limits become values now, so the run shows what it measures with.
  const resolved = resolveRunMetrics({ metrics, args: [...args.values()] });
  if ('problem' in resolved) problems.push(resolved.problem);
  return {
    metrics: 'metrics' in resolved ? resolved.metrics : metrics,
    args: [...args.values()],
    ...(retention !== undefined && { measurementRetention: retention }),
    ...(thresholds !== undefined && { scoreThresholds: thresholds }),
    ...(problems.length > 0 && { invalidReason: problems.join('; ') }),
  };
}
