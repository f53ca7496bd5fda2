import type { AnalysisPhase } from '../../api/analysis.js';
import type { DeclaredRollout } from '../../api/rollout.js';
import type { WindowMetric, WindowVerdict } from '../../analysis/backtest.js';
import { describeStep } from '../../rollout/decide/steps.js';
import { planAbort, planPause, planPromote, planResume, planRetry, type ActionPlan } from '../actions.js';
import { outcomeSentence, rolloutBacktestJson, type RolloutBacktest } from '../backtest.js';
import type { RolloutObjects } from '../client.js';
import { buildRolloutView, plotValue, rolloutRow, type AnalysisRunView, type MeasurementPoint, type MetricView, type RolloutRow, type RolloutView } from '../view.js';
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

export interface BacktestPanel extends ReturnType<typeof rolloutBacktestJson> {
  /** "this analysis would have aborted K of your last N releases", as the command prints it. */
  sentence: string;
  windows: Array<
    WindowVerdict & {
      revision: string;
      live: AnalysisPhase;
      metrics: Array<WindowMetric & { points: MeasurementPoint[]; threshold?: Threshold }>;
    }
  >;
}

/**
 * The backtest panel: what `backtest --rollout -o json` prints, with the releases line, and per window its
 * revision, live verdict, and per metric the replayed measurements as plot points and the threshold of its template.
 */
export function backtestPanel(result: RolloutBacktest): BacktestPanel {
  const json = rolloutBacktestJson(result);
  return {
    ...json,
    sentence: outcomeSentence(result.outcome),
    windows: json.windows.map((window, index) => {
      const release = result.releases[index];
      const specs = release?.window.spec.metrics ?? [];
      return {
        ...window,
        revision: release?.revision ?? window.label,
        live: release?.live ?? 'Pending',
        metrics: window.metrics.map((metric) => {
          const spec = specs.find((candidate) => candidate.name === metric.name);
          const threshold = spec === undefined ? undefined : metricThreshold(spec);
          const points = metric.series.map((point) => {
            const value = plotValue(point.value);
            return { time: point.time, ...(value !== undefined && { value }), phase: point.phase };
          });
          return { ...metric, points, ...(threshold !== undefined && { threshold }) };
        }),
      };
    }),
  };
}
