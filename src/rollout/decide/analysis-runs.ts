import type { RolePodMetadata, RolloutAnalysis } from '../../api/rollout.js';
import type { RolloutSettings } from './defaults.js';
import type { RolloutContext } from './machine.js';
import { ownedObjectName } from '../../api/labels.js';
import type { Stage } from './stage.js';
import { experimentArgValues, experimentAt } from './experiment.js';

/** An AnalysisRun the Rollout wants to exist now; the shell creates it from the templates if it is missing. */
export interface DesiredAnalysisRun {
  name: string;
  kind: 'step' | 'background' | 'experiment';
  analysis: RolloutAnalysis;
  /** The canary's pod-template hash. */
  revision: string;
  stepIndex?: number;
  /** An experiment's run: the values its arguments may name, its dry-run metric patterns and its metadata. */
  experiment?: { analysis: string; argValues: Record<string, string>; dryRun: string[]; metadata: RolePodMetadata | undefined };
}

/**
 * Runs are named by rollout, revision, attempt and step, so a retried step or a superseded revision
 * gets a new run and can never read an earlier run's verdict.
 */
export function analysisRunName(rollout: string, revision: string, attempt: number, slot: number | 'background'): string {
  return ownedObjectName(rollout, `${revision}-${attempt}-${slot === 'background' ? 'bg' : `s${slot}`}`);
}

function isCanaryInFlight(stage: Stage): boolean {
  return stage !== 'stable' && stage !== 'aborted';
}

/** The step run while at an analysis step, and the background run from its startingStep until promotion. */
export function desiredAnalysisRuns(rollout: string, stage: Stage, context: RolloutContext, settings: RolloutSettings): DesiredAnalysisRun[] {
  const revision = context.currentRevision;
  if (revision === undefined || !isCanaryInFlight(stage)) return [];
  const runs: DesiredAnalysisRun[] = [];
  const step = context.steps[context.stepIndex];
  if (step !== undefined && 'analysis' in step && (stage === 'analyzing' || stage === 'inconclusive')) {
    runs.push({
      name: analysisRunName(rollout, revision, context.attempt, context.stepIndex),
      kind: 'step',
      analysis: step.analysis,
      revision,
      stepIndex: context.stepIndex,
    });
  }
  runs.push(...experimentRuns(rollout, stage, context));
  const background = settings.backgroundAnalysis;
  if (background !== undefined && context.stepIndex >= (background.startingStep ?? 0)) {
    runs.push({ name: analysisRunName(rollout, revision, context.attempt, 'background'), kind: 'background', analysis: background, revision });
  }
  return runs;
}

/**
 * An experiment's runs, once every template's pods are available: while it runs, and through an analysis hold at its
 * step, so a person can read them before deciding.
 */
function experimentRuns(rollout: string, stage: Stage, context: RolloutContext): DesiredAnalysisRun[] {
  const at = experimentAt(rollout, context);
  if (at === undefined || at.clock.availableAt === undefined || !(stage === 'experimenting' || stage === 'inconclusive')) return [];
  const argValues = experimentArgValues(at);
  return (at.step.analyses ?? []).map((analysis) => ({
    name: ownedObjectName(rollout, `${at.id}-${analysis.name}`),
    kind: 'experiment',
    analysis: { templates: [{ templateName: analysis.templateName, ...(analysis.clusterScope !== undefined && { clusterScope: analysis.clusterScope }) }], ...(analysis.args && { args: analysis.args }) },
    revision: context.currentRevision ?? '',
    stepIndex: context.stepIndex,
    experiment: { analysis: analysis.name, argValues, dryRun: (at.step.dryRun ?? []).map((entry) => entry.metricName), metadata: at.step.analysisRunMetadata },
  }));
}

/** How a template reference reads in facts.missingTemplates, in conditions and in Events. */
export function templateRef(ref: RolloutAnalysis['templates'][number]): string {
  return `${ref.clusterScope === true ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate'} ${ref.templateName}`;
}

/** The templates the runs wanted now name but that do not exist. */
export function missingTemplatesOf(runs: readonly DesiredAnalysisRun[], missing: readonly string[]): string[] {
  const refs = new Set(runs.flatMap((run) => run.analysis.templates.map(templateRef)));
  return missing.filter((ref) => refs.has(ref));
}
