import type { AnalysisArg, AnalysisRunSpec, AnalysisTemplateSpec, Metric } from '../api/analysis.js';
import type { RolloutAnalysis, RolloutAnalysisArg } from '../api/rollout.js';
import { resolveRunMetrics } from './metric-args.js';

/** Values a Rollout can hand to its templates through valueFrom. */
export interface RolloutArgContext {
  name: string;
  namespace: string;
  stableHash: string | undefined;
  canaryHash: string;
  stableService: string | undefined;
  canaryService: string | undefined;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** `metadata.labels['key']` or `metadata.annotations["key"]`, as Kubernetes' downward API writes them. */
const MAP_FIELD = /^metadata\.(labels|annotations)\[(?:'([^']+)'|"([^"]+)")\]$/;
const PLAIN_FIELDS = new Set(['metadata.name', 'metadata.namespace', 'spec.strategy.canary.stableService', 'spec.strategy.canary.canaryService']);

/** The fieldRef paths a Rollout can hand its templates. */
export const SUPPORTED_FIELD_PATHS = "metadata.name, metadata.namespace, metadata.labels['key'], metadata.annotations['key'], spec.strategy.canary.stableService, spec.strategy.canary.canaryService";

export function isSupportedFieldPath(fieldPath: string): boolean {
  return PLAIN_FIELDS.has(fieldPath) || MAP_FIELD.test(fieldPath);
}

export type TemplateLookup = (name: string, clusterScope: boolean) => AnalysisTemplateSpec | undefined;

function rolloutArgValue(arg: RolloutAnalysisArg, context: RolloutArgContext): string | undefined {
  if (arg.value !== undefined) return arg.value;
  const from = arg.valueFrom;
  if (from?.podTemplateHashValue === 'Stable') return context.stableHash;
  if (from?.podTemplateHashValue === 'Latest') return context.canaryHash;
  const mapField = MAP_FIELD.exec(from?.fieldRef?.fieldPath ?? '');
  if (mapField !== null) {
    const key = (mapField[2] ?? mapField[3]) as string;
    return (mapField[1] === 'labels' ? context.labels : context.annotations)[key];
  }
  switch (from?.fieldRef?.fieldPath) {
    case 'metadata.name':
      return context.name;
    case 'metadata.namespace':
      return context.namespace;
    case 'spec.strategy.canary.stableService':
      return context.stableService;
    case 'spec.strategy.canary.canaryService':
      return context.canaryService;
    default:
      return undefined;
  }
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
  }
  for (const given of analysis.args ?? []) {
    const value = rolloutArgValue(given, context);
    if (value === undefined) {
      const fieldPath = given.valueFrom?.fieldRef?.fieldPath;
      const why = fieldPath === undefined ? 'the Rollout has no such value yet' : MAP_FIELD.test(fieldPath) ? `the Rollout has no ${fieldPath}` : `unsupported fieldPath ${fieldPath}`;
      problems.push(`argument ${given.name}: ${why}`);
      continue;
    }
    if (args.has(given.name)) args.set(given.name, { name: given.name, value });
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
    ...(problems.length > 0 && { invalidReason: problems.join('; ') }),
  };
}
