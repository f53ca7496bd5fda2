import type { RolloutAnalysis } from '../../api/rollout.js';
import type { RolloutSettings } from './defaults.js';
import type { RolloutContext } from './machine.js';
import { ownedObjectName } from '../../api/labels.js';
import type { Stage } from './stage.js';

/** An AnalysisRun the Rollout wants to exist now; the shell creates it from the templates if it is missing. */
export interface DesiredAnalysisRun {
  name: string;
  kind: 'step' | 'background';
  analysis: RolloutAnalysis;
  /** The canary's pod-template hash. */
  revision: string;
  stepIndex?: number;
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
  const background = settings.backgroundAnalysis;
  if (background !== undefined && context.stepIndex >= (background.startingStep ?? 0)) {
    runs.push({ name: analysisRunName(rollout, revision, context.attempt, 'background'), kind: 'background', analysis: background, revision });
  }
  return runs;
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
