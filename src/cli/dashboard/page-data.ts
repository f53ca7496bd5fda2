import type { DeclaredRollout } from '../../api/rollout.js';
import { describeStep } from '../../rollout/steps.js';
import { planAbort, planPause, planPromote, planResume, planRetry, type ActionPlan } from '../actions.js';
import type { RolloutObjects } from '../client.js';
import type { RolloutRow } from '../render.js';
import { buildRolloutView, rolloutRow, type AnalysisRunView, type MetricView, type RolloutView } from '../view.js';
import { metricThreshold, type Threshold } from './threshold.js';

/** The page's buttons, each the plan its `kubectl fledge` command makes. */
export const ACTIONS = {
  promote: (rollout: DeclaredRollout) => planPromote(rollout, false),
  'promote-full': (rollout: DeclaredRollout) => planPromote(rollout, true),
  abort: planAbort,
  retry: planRetry,
  pause: planPause,
  resume: planResume,
} satisfies Record<string, (rollout: DeclaredRollout) => ActionPlan>;

export type ActionName = keyof typeof ACTIONS;

export const isActionName = (name: string): name is ActionName => Object.hasOwn(ACTIONS, name);

export interface StepData {
  text: string;
  state: 'done' | 'current' | 'pending';
}

export interface MetricData extends MetricView {
  threshold?: Threshold;
}

export interface RolloutPage extends Omit<RolloutView, 'analysisRuns'> {
  steps: StepData[];
  analysisRuns: Array<Omit<AnalysisRunView, 'metrics'> & { metrics: MetricData[] }>;
  /** Per button: undefined when it applies now, else why it is refused (what the command would print). */
  actions: Record<ActionName, string | undefined>;
}

/** Everything one Rollout's page shows: the `get rollout` view, its steps, a threshold per metric, which buttons apply. */
export function rolloutPage(objects: RolloutObjects): RolloutPage {
  const { rollout } = objects;
  const view = buildRolloutView(rollout, objects.replicaSets, objects.pods, objects.analysisRuns);
  const steps = rollout.spec.strategy.canary.steps ?? [];
  const settled = view.currentRevision !== undefined && view.currentRevision === view.stableRevision;
  const actions = Object.fromEntries(
    Object.entries(ACTIONS).map(([name, plan]) => {
      const planned = plan(rollout);
      return [name, planned.kind === 'refuse' ? planned.message : undefined];
    }),
  ) as Record<ActionName, string | undefined>;
  return {
    ...view,
    steps: steps.map((step, index) => ({
      text: describeStep(step),
      state: settled || index < view.stepsCompleted ? 'done' : index === view.stepsCompleted ? 'current' : 'pending',
    })),
    analysisRuns: view.analysisRuns.map((run) => ({
      ...run,
      metrics: run.metrics.map((metric) => {
        const threshold = metricThreshold(metric);
        return { ...metric, ...(threshold !== undefined && { threshold }) };
      }),
    })),
    actions,
  };
}

/** The list's rows, sorted by namespace then name so the page does not shuffle on every event. */
export function rolloutRows(rollouts: DeclaredRollout[]): RolloutRow[] {
  return rollouts.map(rolloutRow).sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}
