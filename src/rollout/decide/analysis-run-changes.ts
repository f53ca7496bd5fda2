import type * as k8s from '@kubernetes/client-node';
import type { AnalysisRunSpec, AnalysisTemplateSpec } from '../../api/analysis.js';
import { API_VERSION, type Rollout } from '../../api/rollout.js';
import { buildRunSpec } from '../../analysis/templates.js';
import { isTerminal } from '../../analysis/run-machine.js';
import { templateRef, type DesiredAnalysisRun } from './analysis-runs.js';
import type { AnalysisRunFacts } from './facts.js';
import { LABEL_ANALYSIS_KIND, LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT, rolloutLabelValue } from '../../api/labels.js';

/** An AnalysisRun to create, whole. */
export type AnalysisRunManifest = k8s.KubernetesObject & { metadata: k8s.V1ObjectMeta & { name: string }; spec: AnalysisRunSpec };

/** What the shell does to the Rollout's AnalysisRuns this reconcile. */
export interface AnalysisRunChanges {
  create: Array<{ kind: DesiredAnalysisRun['kind']; run: AnalysisRunManifest }>;
  /** Running runs the Rollout no longer wants: cut short, their verdict stands. */
  terminate: string[];
  /** Runs to delete, and why (for the log). */
  delete: Array<{ name: string; why: string }>;
}

export interface AnalysisRunChangeInput {
  rollout: Rollout;
  /** The runs the plan wants now. */
  wanted: readonly DesiredAnalysisRun[];
  /** The runs the Rollout owns. */
  owned: readonly AnalysisRunFacts[];
  /** facts.templates: the parsed templates, by templateRef. */
  templates: Readonly<Record<string, AnalysisTemplateSpec>>;
  /** status.stableRevision after this reconcile, for the runs' stable-hash arguments. */
  stableRevision: string | undefined;
  /** analysisRunHistoryLimit, defaulted. */
  historyLimit: number;
}

/**
 * Creates the runs the plan wants, terminates the ones it no longer wants, and deletes finished runs beyond
 * analysisRunHistoryLimit, newest kept. A wanted run found terminated judged an earlier visit to this step (possible
 * only if status was lost): it is deleted, and created afresh once the cache shows it gone.
 */
export function analysisRunChanges(input: AnalysisRunChangeInput): AnalysisRunChanges {
  const changes: AnalysisRunChanges = { create: [], terminate: [], delete: [] };
  const wanted = new Set(input.wanted.map((run) => run.name));
  for (const desired of input.wanted) {
    const existing = input.owned.find((run) => run.name === desired.name);
    if (existing?.terminated === true) changes.delete.push({ name: desired.name, why: 'a terminated analysis run the rollout needs afresh' });
    else if (existing === undefined) changes.create.push({ kind: desired.kind, run: runManifest(input, desired) });
  }
  const finished: AnalysisRunFacts[] = [];
  for (const run of input.owned) {
    if (wanted.has(run.name)) continue;
    // An experiment's runs go with its ReplicaSets: its verdict is in the Rollout's status and Events.
    if (run.kind === 'experiment') changes.delete.push({ name: run.name, why: 'an experiment run whose step is over' });
    else if (isTerminal(run.phase ?? 'Pending')) finished.push(run);
    else if (run.terminated !== true) changes.terminate.push(run.name);
  }
  finished.sort((a, b) => String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')));
  for (const run of finished.slice(input.historyLimit)) changes.delete.push({ name: run.name, why: 'beyond analysisRunHistoryLimit' });
  return changes;
}

function runManifest(input: AnalysisRunChangeInput, desired: DesiredAnalysisRun): AnalysisRunManifest {
  const { rollout } = input;
  const name = rollout.metadata.name ?? '';
  const { experiment } = desired;
  const spec = buildRunSpec(desired.analysis, (templateName, clusterScope) => input.templates[templateRef({ templateName, clusterScope })], {
    rollout,
    stableHash: input.stableRevision,
    canaryHash: desired.revision,
    ...(experiment !== undefined && { experimentValues: experiment.argValues }),
  });
  const annotations = experiment?.metadata?.annotations;
  return {
    apiVersion: API_VERSION,
    kind: 'AnalysisRun',
    metadata: {
      name: desired.name,
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { ...(experiment?.metadata?.labels ?? {}), [LABEL_ROLLOUT]: rolloutLabelValue(name), [LABEL_POD_TEMPLATE_HASH]: desired.revision, [LABEL_ANALYSIS_KIND]: desired.kind },
      ...(annotations !== undefined && { annotations }),
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: experiment === undefined || experiment.dryRun.length === 0 ? spec : withDryRun(spec, experiment.dryRun),
  };
}

/**
 * Argo's dryRun: each pattern is a regular expression matched anywhere in a metric's name, and must match one; the
 * metrics it matches are measured but decide nothing. A pattern that matches none, or does not parse, invalidates the run.
 */
export function withDryRun(spec: AnalysisRunSpec, patterns: readonly string[]): AnalysisRunSpec {
  const problems: string[] = [];
  const dry = new Set<string>();
  patterns.forEach((pattern, index) => {
    let matcher: RegExp;
    try {
      matcher = new RegExp(pattern);
    } catch {
      problems.push(`dryRun[${index}]: ${JSON.stringify(pattern)} is not a regular expression`);
      return;
    }
    const matched = spec.metrics.filter((metric) => matcher.test(metric.name));
    if (matched.length === 0) problems.push(`dryRun[${index}]: ${JSON.stringify(pattern)} matches no metric`);
    for (const metric of matched) dry.add(metric.name);
  });
  const invalidReason = [spec.invalidReason, ...problems].filter((reason): reason is string => reason !== undefined).join('; ');
  return {
    ...spec,
    metrics: spec.metrics.map((metric) => (dry.has(metric.name) ? { ...metric, dryRun: true } : metric)),
    ...(invalidReason !== '' && { invalidReason }),
  };
}
