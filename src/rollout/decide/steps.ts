import { parseDuration } from '../../api/duration.js';
import type { CanaryStep } from '../../api/rollout.js';

export type StepKind = 'setWeight' | 'setCanaryScale' | 'pause' | 'analysis' | 'setHeaderRoute' | 'setMirrorRoute' | 'experiment';

type SetCanaryScale = Extract<CanaryStep, { setCanaryScale: unknown }>['setCanaryScale'];

export function stepKind(step: CanaryStep): StepKind {
  if ('setWeight' in step) return 'setWeight';
  if ('setCanaryScale' in step) return 'setCanaryScale';
  if ('pause' in step) return 'pause';
  if ('setHeaderRoute' in step) return 'setHeaderRoute';
  if ('setMirrorRoute' in step) return 'setMirrorRoute';
  if ('experiment' in step) return 'experiment';
  return 'analysis';
}

/** A pause with a duration ends by itself; `pause: {}` waits for a promote. */
export function pauseDurationMs(step: CanaryStep | undefined): number | undefined {
  if (step === undefined || !('pause' in step) || step.pause.duration === undefined) return undefined;
  return parseDuration(step.pause.duration);
}

export function isTimedPause(step: CanaryStep | undefined): boolean {
  return pauseDurationMs(step) !== undefined;
}

export function isIndefinitePause(step: CanaryStep | undefined): boolean {
  return step !== undefined && 'pause' in step && step.pause.duration === undefined;
}

export function isAnalysis(step: CanaryStep | undefined): boolean {
  return step !== undefined && 'analysis' in step;
}

export function isExperiment(step: CanaryStep | undefined): boolean {
  return step !== undefined && 'experiment' in step;
}

/** Epoch ms at which the timed pause at `stepIndex` ends, or undefined when that step is not a timed pause. */
export function pauseDeadline(steps: readonly CanaryStep[], stepIndex: number, pauseStartTime: number): number | undefined {
  const duration = pauseDurationMs(steps[stepIndex]);
  return duration === undefined ? undefined : pauseStartTime + duration;
}

/**
 * The weight the step at `stepIndex` asks for: the latest setWeight at or before it (Argo's
 * GetCurrentSetWeight). 0 before the first setWeight; 100 once every step is done.
 */
export function setWeightAt(steps: readonly CanaryStep[], stepIndex: number): number {
  if (stepIndex >= steps.length) return 100;
  for (let i = Math.min(stepIndex, steps.length - 1); i >= 0; i--) {
    const step = steps[i];
    if (step !== undefined && 'setWeight' in step) return step.setWeight;
  }
  return 0;
}

/**
 * The setCanaryScale in force at `stepIndex`: the latest one at or before it, unless that one is
 * matchTrafficWeight, which hands the canary's size back to the weight.
 */
export function canaryScaleAt(steps: readonly CanaryStep[], stepIndex: number): SetCanaryScale | undefined {
  for (let i = Math.min(stepIndex, steps.length - 1); i >= 0; i--) {
    const step = steps[i];
    if (step !== undefined && 'setCanaryScale' in step) {
      return step.setCanaryScale.matchTrafficWeight === true ? undefined : step.setCanaryScale;
    }
  }
  return undefined;
}

/**
 * `k/n` as Argo shows it: k is the current step's index (the steps completed so far, 0 at the first step), n the
 * number of steps. The Step column, the messages and the plugin all use it, so they never disagree.
 */
export function stepProgress(stepIndex: number, stepCount: number): string {
  return `${Math.min(stepIndex, stepCount)}/${stepCount}`;
}

/** "step 2/5" for the step at index 2, in the Step column's numbers, for messages a person reads. */
export function stepOrdinal(stepIndex: number, stepCount: number): string {
  return `step ${stepProgress(stepIndex, stepCount)}`;
}

export function describeStep(step: CanaryStep | undefined): string {
  if (step === undefined) return 'no step';
  if ('setWeight' in step) return `setWeight ${step.setWeight}`;
  if ('pause' in step) return step.pause.duration === undefined ? 'pause' : `pause ${step.pause.duration}`;
  if ('setCanaryScale' in step) {
    const scale = step.setCanaryScale;
    if (scale.replicas !== undefined) return `setCanaryScale replicas ${scale.replicas}`;
    if (scale.weight !== undefined) return `setCanaryScale weight ${scale.weight}`;
    return 'setCanaryScale matchTrafficWeight';
  }
  if ('setHeaderRoute' in step) return `setHeaderRoute ${step.setHeaderRoute.name}${step.setHeaderRoute.match ? '' : ' (remove)'}`;
  if ('setMirrorRoute' in step) return `setMirrorRoute ${step.setMirrorRoute.name}${step.setMirrorRoute.match ? '' : ' (remove)'}`;
  if ('experiment' in step) return step.experiment.duration === undefined ? 'experiment' : `experiment ${step.experiment.duration}`;
  return 'analysis';
}
