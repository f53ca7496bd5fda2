import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { canaryScaleAt, describeStep, pauseDeadline, setWeightAt, stepKind, stepOrdinal, stepProgress } from '../../../src/rollout/decide/steps.js';

const steps: CanaryStep[] = [
  { pause: { duration: 30 } },
  { setWeight: 20 },
  { pause: { duration: '5m' } },
  { setCanaryScale: { replicas: 2 } },
  { analysis: { templates: [{ templateName: 'success-rate' }] } },
  { pause: {} },
];

describe('steps', () => {
  it('knows each kind', () => {
    expect(steps.map(stepKind)).toEqual(['pause', 'setWeight', 'pause', 'setCanaryScale', 'analysis', 'pause']);
  });

  it('reads the weight from the latest setWeight at or before the step; 0 before any, 100 when done', () => {
    expect(setWeightAt(steps, 0)).toBe(0);
    expect(setWeightAt(steps, 1)).toBe(20);
    expect(setWeightAt(steps, 5)).toBe(20);
    expect(setWeightAt(steps, 6)).toBe(100);
    expect(setWeightAt([], 0)).toBe(100);
  });

  it('finds the setCanaryScale in force', () => {
    expect(canaryScaleAt(steps, 2)).toBeUndefined();
    expect(canaryScaleAt(steps, 3)).toEqual({ replicas: 2 });
    expect(canaryScaleAt(steps, 5)).toEqual({ replicas: 2 });
  });

  it('computes pause deadlines from the pause start; none for an indefinite pause', () => {
    expect(pauseDeadline(steps, 0, 1_000)).toBe(31_000);
    expect(pauseDeadline(steps, 2, 1_000)).toBe(301_000);
    expect(pauseDeadline(steps, 5, 1_000)).toBeUndefined();
    expect(pauseDeadline(steps, 1, 1_000)).toBeUndefined();
  });

  it('formats progress and steps for people', () => {
    expect(stepProgress(0, 5)).toBe('0/5');
    expect(stepProgress(5, 5)).toBe('5/5');
    expect(stepOrdinal(0, 5)).toBe('step 0/5');
    expect(stepOrdinal(2, 5)).toBe(`step ${stepProgress(2, 5)}`);
    expect(stepOrdinal(7, 5)).toBe('step 5/5');
    expect(steps.map(describeStep)).toEqual(['pause 30', 'setWeight 20', 'pause 5m', 'setCanaryScale replicas 2', 'analysis', 'pause']);
  });
});
