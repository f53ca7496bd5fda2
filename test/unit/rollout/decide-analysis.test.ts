import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { analysisRunName } from '../../../src/rollout/decide/analysis-runs.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf, type RolloutOptions } from './fake-cluster.js';

const SUCCESS_RATE = { templates: [{ templateName: 'success-rate' }] };
const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { analysis: SUCCESS_RATE }, { setWeight: 100 }];

function canaryCluster(canary: RolloutOptions['canary'] = {}, steps: CanaryStep[] = STEPS): FakeCluster {
  const cluster = new FakeCluster(makeRollout({ replicas: 10, steps, canary }));
  cluster.converge();
  cluster.setImage('api:2');
  cluster.converge();
  return cluster;
}

describe('decide: analysis runs', () => {
  it('names the step run by revision, attempt and step, and asks for it only at the analysis step', () => {
    const cluster = canaryCluster();
    expect(cluster.plans.at(-1)?.analysisRuns).toEqual([]);
    expect(cluster.status.stepAnalysisRun).toBeUndefined();
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    // The first canary after the initial revision is attempt 1; attempts only ever grow.
    const name = analysisRunName('api', revisionOf('api:2'), 1, 3);
    expect(cluster.status).toMatchObject({ currentStepIndex: 3, stepAnalysisRun: name, phase: 'Progressing' });
    expect(cluster.plans.at(-1)?.analysisRuns).toEqual([
      { name, kind: 'step', analysis: SUCCESS_RATE, revision: revisionOf('api:2'), stepIndex: 3 },
    ]);
    cluster.stepAnalysisPhase = 'Successful';
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    expect(cluster.status.stepAnalysisRun).toBeUndefined();
    expect(cluster.plans.at(-1)?.analysisRuns).toEqual([]);
  });

  it('a retried canary gets new runs, so the failed run cannot abort it again', () => {
    const cluster = canaryCluster();
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    const first = cluster.status.stepAnalysisRun;
    cluster.checkBudgets = false;
    cluster.stepAnalysisPhase = 'Failed';
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(cluster.status.stepAnalysisRun).toBeUndefined();

    // The failed run keeps its verdict; the shell finds no run yet under the retry's new name.
    cluster.stepAnalysisPhase = undefined;
    cluster.patchStatus({ abort: false });
    cluster.converge();
    expect(cluster.status).toMatchObject({ attempt: 2, currentStepIndex: 1, phase: 'Paused' });
    cluster.advance(5 * MINUTE);
    cluster.converge();
    expect(cluster.status.stepAnalysisRun).toBe(analysisRunName('api', revisionOf('api:2'), 2, 3));
    expect(cluster.status.stepAnalysisRun).not.toBe(first);
    expect(cluster.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 3 });
  });

  it('background analysis runs from startingStep and aborts mid-pause when it fails', () => {
    const cluster = canaryCluster({ analysis: { ...SUCCESS_RATE, startingStep: 1 } });
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    const background = analysisRunName('api', revisionOf('api:2'), 1, 'background');
    expect(cluster.status.backgroundAnalysisRun).toBe(background);
    cluster.checkBudgets = false;
    cluster.backgroundAnalysisPhase = 'Failed';
    const plan = cluster.tick();
    expect(plan.events.map((event) => [event.reason, event.cause])).toEqual([['RolloutAborted', 'BackgroundAnalysis']]);
    expect(cluster.status.message).toBe(
      'aborted: background analysis failed at step 1/5 (pause 5m): success-rate: 0.8 failed result >= 0.95',
    );
    cluster.converge();
    expect(cluster.countOf('api:2')).toEqual({ replicas: 0, available: 0 });
    expect(cluster.countOf('api:1')).toEqual({ replicas: 10, available: 10 });
    expect(cluster.status.backgroundAnalysisRun).toBeUndefined();
  });

  it('background analysis before its startingStep is not asked for', () => {
    const cluster = canaryCluster({ analysis: { ...SUCCESS_RATE, startingStep: 2 } });
    expect(cluster.status.currentStepIndex).toBe(1);
    expect(cluster.status.backgroundAnalysisRun).toBeUndefined();
  });

  it('onFailure: Pause holds the canary on a failed step instead of aborting; promote continues with a fresh attempt', () => {
    const steps: CanaryStep[] = [{ setWeight: 20 }, { analysis: { ...SUCCESS_RATE, onFailure: 'Pause' } }, { setWeight: 50 }, { pause: {} }];
    const cluster = canaryCluster({}, steps);
    expect(cluster.status.currentStepIndex).toBe(1);
    cluster.stepAnalysisPhase = 'Failed';
    const held = cluster.tick();
    expect(held.events.map((event) => event.reason)).toEqual(['AnalysisHold']);
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(cluster.status.abort).toBeUndefined();
    expect(cluster.condition('Paused')).toEqual({ status: 'True', reason: 'AnalysisHold' });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    // It stays held across reconciles (the hold is restored from status).
    cluster.advance(10 * MINUTE);
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });

    cluster.stepAnalysisPhase = undefined;
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3, attempt: 2 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 5, available: 5 });
  });

  it('an inconclusive background run holds the canary at any step', () => {
    const cluster = canaryCluster({ analysis: SUCCESS_RATE });
    cluster.backgroundAnalysisPhase = 'Inconclusive';
    cluster.advance(5 * MINUTE);
    const plan = cluster.tick();
    expect(plan.events.map((event) => event.reason)).toEqual(['AnalysisHold']);
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(cluster.status.message).toMatch(/^background analysis was inconclusive at step 1\/5/);
  });
});

describe('decide: an AnalysisTemplate that does not exist yet', () => {
  const STEPS_WITH_ANALYSIS: CanaryStep[] = [{ setWeight: 20 }, { analysis: SUCCESS_RATE }, { setWeight: 100 }];

  it('waits for it at the analysis step, says so once, and measures once it appears', () => {
    const cluster = new FakeCluster(makeRollout({ replicas: 10, steps: STEPS_WITH_ANALYSIS, progressDeadlineSeconds: 600 }));
    cluster.converge();
    cluster.missingTemplates = ['AnalysisTemplate success-rate'];
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.plans.at(-1)?.analysisRuns).toEqual([]);
    expect(cluster.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 1, stableRevision: revisionOf('api:1') });
    expect(cluster.status.message).toMatch(/^canary at 20%, waiting at step 1\/3 for AnalysisTemplate success-rate, which does not exist; aborting at /);
    expect(cluster.condition('Progressing')).toEqual({ status: 'True', reason: 'AnalysisTemplateMissing' });
    cluster.advance(9 * MINUTE);
    cluster.converge();
    expect(cluster.status.phase).toBe('Progressing');
    expect(cluster.reasons().filter((reason) => reason === 'AnalysisTemplateMissing')).toHaveLength(1);

    cluster.missingTemplates = [];
    cluster.converge();
    const run = analysisRunName('api', revisionOf('api:2'), 1, 1);
    expect(cluster.plans.at(-1)?.analysisRuns.map((wanted) => wanted.name)).toEqual([run]);
    expect(cluster.condition('Progressing')?.reason).not.toBe('AnalysisTemplateMissing');
    cluster.stepAnalysisPhase = 'Successful';
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
  });

  it('aborts once the progress deadline passes without it, naming what is missing', () => {
    const cluster = new FakeCluster(makeRollout({ replicas: 10, steps: STEPS_WITH_ANALYSIS, progressDeadlineSeconds: 600, canary: { analysis: { templates: [{ templateName: 'latency', clusterScope: true }] } } }));
    cluster.converge();
    cluster.missingTemplates = ['ClusterAnalysisTemplate latency'];
    cluster.setImage('api:2');
    cluster.converge();
    // The background analysis is missing from the start: the canary holds at its first step.
    expect(cluster.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 0 });
    expect(cluster.plans.at(-1)?.requeueAfterMs).toBeLessThanOrEqual(10 * MINUTE);
    // spec.paused stops the clock of the wait, as it does the progress deadline.
    cluster.setSpec({ paused: true });
    cluster.advance(30 * MINUTE);
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', stableRevision: revisionOf('api:1') });
    cluster.setSpec({ paused: false });
    cluster.converge();
    expect(cluster.status.phase).toBe('Progressing');
    cluster.checkBudgets = false;
    cluster.advance(10 * MINUTE);
    cluster.converge();
    // The cause is a field, not read from the words: this abort was once counted as Manual.
    expect(cluster.events.filter((event) => event.reason === 'RolloutAborted').map((event) => event.cause)).toEqual(['TemplateMissing']);
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true, stableRevision: revisionOf('api:1') });
    expect(cluster.status.message).toBe('aborted: ClusterAnalysisTemplate latency not found within progressDeadlineSeconds (600s) at step 0/3 (setWeight 20)');
    expect(cluster.countOf('api:2')).toEqual({ replicas: 0, available: 0 });
  });
});
