import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { analysisRunName } from '../../../src/rollout/decide/analysis-runs.js';
import { stepsHash } from '../../../src/rollout/decide/revision.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf } from './fake-cluster.js';

const SUCCESS_RATE = { templates: [{ templateName: 'success-rate' }] };
const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }];

/** api:2 rolled out to the indefinite pause at 50% (step 3/5). */
function pausedAtStepFour(): FakeCluster {
  const cluster = new FakeCluster(makeRollout({ replicas: 5, steps: STEPS }));
  cluster.converge();
  cluster.setImage('api:2');
  cluster.converge();
  cluster.advance(5 * MINUTE);
  cluster.converge();
  expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3, stepsHash: stepsHash(STEPS) });
  return cluster;
}

describe('decide: steps edited mid-canary', () => {
  it('restarts the canary from step 1 and runs the new analysis step before promoting', () => {
    const cluster = pausedAtStepFour();
    const edited: CanaryStep[] = [{ setWeight: 20 }, { analysis: SUCCESS_RATE }, { setWeight: 50 }];
    cluster.setSpec({ strategy: { canary: { steps: edited } } });
    const plan = cluster.decide();
    expect(plan.events[0]).toMatchObject({
      reason: 'RolloutStepsChanged',
      message: `steps changed while the canary was at step 3: restarting the canary of revision ${revisionOf('api:2')} from step 0/3`,
    });
    expect(plan.status).toMatchObject({ stableRevision: revisionOf('api:1'), currentStepIndex: 0, canaryWeight: 20, stepsHash: stepsHash(edited), attempt: 2 });
    cluster.apply(plan);
    cluster.settle();
    cluster.converge();
    // Held at the analysis step of the new attempt until its run says Successful.
    const run = analysisRunName('api', revisionOf('api:2'), 2, 1);
    expect(cluster.status).toMatchObject({ stableRevision: revisionOf('api:1'), currentStepIndex: 1, stepAnalysisRun: run });
    cluster.advance(60 * MINUTE);
    cluster.converge();
    expect(cluster.status.stableRevision).toBe(revisionOf('api:1'));
    cluster.stepAnalysisPhase = 'Successful';
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    expect(cluster.reasons().filter((reason) => reason === 'RolloutStepsChanged')).toHaveLength(1);
  });

  it('does not promote when the steps shrink below the current step: it walks the new steps', () => {
    const cluster = pausedAtStepFour();
    cluster.setSpec({ strategy: { canary: { steps: [{ setWeight: 40 }, { pause: {} }] } } });
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', stableRevision: revisionOf('api:1'), currentStepIndex: 1, canaryWeight: 40 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
  });

  it('adopts the steps of a status written before stepsHash existed, unless its step index is beyond them', () => {
    const adopted = pausedAtStepFour();
    adopted.patchStatus({ stepsHash: undefined });
    adopted.setSpec({ strategy: { canary: { steps: [...STEPS, { pause: {} }] } } });
    const plan = adopted.decide();
    expect(plan.events).toEqual([]);
    expect(plan.status).toMatchObject({ currentStepIndex: 3, stepsHash: stepsHash([...STEPS, { pause: {} }]) });

    const shrunk = pausedAtStepFour();
    shrunk.patchStatus({ stepsHash: undefined });
    shrunk.setSpec({ strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: SUCCESS_RATE }] } } });
    shrunk.converge();
    expect(shrunk.reasons()).toContain('RolloutStepsChanged');
    expect(shrunk.status).toMatchObject({ stableRevision: revisionOf('api:1'), currentStepIndex: 1 });
  });

  it('only records the new steps when no canary is in flight, or when it is aborted', () => {
    const stable = new FakeCluster(makeRollout({ replicas: 5, steps: STEPS }));
    stable.converge();
    stable.setSpec({ strategy: { canary: { steps: [{ setWeight: 10 }] } } });
    const plan = stable.decide();
    expect(plan.events).toEqual([]);
    expect(plan.status).toMatchObject({ phase: 'Healthy', stepsHash: stepsHash([{ setWeight: 10 }]) });

    const aborted = pausedAtStepFour();
    aborted.checkBudgets = false;
    aborted.patchStatus({ abort: true });
    aborted.converge();
    aborted.setSpec({ strategy: { canary: { steps: [{ setWeight: 10 }] } } });
    aborted.converge();
    expect(aborted.reasons()).not.toContain('RolloutStepsChanged');
    expect(aborted.status).toMatchObject({ phase: 'Degraded', stableRevision: revisionOf('api:1') });
  });
});
