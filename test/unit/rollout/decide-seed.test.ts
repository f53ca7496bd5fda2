import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { FakeCluster, MINUTE, T0, makeRollout, revisionOf } from './fake-cluster.js';

const SEED_STEPS: CanaryStep[] = [
  { setWeight: 20 },
  { pause: { duration: '5m' } },
  { setWeight: 50 },
  { pause: {} },
  { setWeight: 100 },
];

/** A cluster where api:1 is Healthy and stable, ready for a template change. */
export function healthyCluster(options: Parameters<typeof makeRollout>[0] = {}): FakeCluster {
  const cluster = new FakeCluster(makeRollout({ replicas: 10, steps: SEED_STEPS, ...options }));
  cluster.converge();
  return cluster;
}

describe('decide: first sight', () => {
  it('makes the first revision stable at once, Progressing until its pods are available, then Healthy', () => {
    const cluster = new FakeCluster(makeRollout({ replicas: 3, steps: SEED_STEPS }));
    const first = cluster.decide();
    expect(first.replicaSets).toEqual([{ revision: revisionOf('api:1'), replicas: 3, create: true }]);
    expect(first.status).toMatchObject({
      phase: 'Progressing',
      stableRevision: revisionOf('api:1'),
      currentRevision: revisionOf('api:1'),
      currentStepIndex: 5,
      stepProgress: '5/5',
      observedGeneration: 1,
      selector: 'app=api',
    });
    expect(first.events.map((event) => event.reason)).toEqual(['RolloutInitialized']);
    expect(first.status.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('NewReplicaSetCreated');
    cluster.apply(first);
    cluster.settle();

    const healthy = cluster.decide();
    expect(healthy.status).toMatchObject({ phase: 'Healthy', replicas: 3, availableReplicas: 3, updatedReplicas: 3, canaryWeight: 100, actualWeight: 100 });
    expect(healthy.events).toEqual([]);
    expect(cluster.condition('Ready')).toEqual({ status: 'False', reason: 'RolloutProgressing' });
    expect(cluster.condition('Reconciling')).toEqual({ status: 'True', reason: 'RolloutProgressing' });
    cluster.apply(healthy);
    expect(cluster.condition('Ready')).toEqual({ status: 'True', reason: 'RolloutHealthy' });
    expect(cluster.condition('Progressing')).toEqual({ status: 'True', reason: 'RolloutCompleted' });
    expect(cluster.condition('Reconciling')).toEqual({ status: 'False', reason: 'RolloutHealthy' });
    expect(cluster.condition('Stalled')).toEqual({ status: 'False', reason: 'RolloutHealthy' });
    expect(cluster.condition('Available')).toEqual({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(cluster.condition('Paused')).toEqual({ status: 'False', reason: 'NotPaused' });
  });

  it('defaults to one replica', () => {
    const cluster = new FakeCluster(makeRollout());
    const plan = cluster.converge();
    expect(plan.status.phase).toBe('Healthy');
    expect(cluster.countOf('api:1')).toEqual({ replicas: 1, available: 1 });
  });
});

describe('decide: the seed example (20% → pause 5m → 50% → pause → 100%, 10 replicas)', () => {
  it('walks every step with Argo semantics', () => {
    const cluster = healthyCluster();
    cluster.setImage('api:2');

    // setWeight 20: 2 canary, 8 stable, then the 5m pause starts.
    const started = cluster.decide();
    expect(started.events.map((event) => event.reason)).toEqual(['RolloutStarted']);
    expect(started.replicaSets.find((target) => target.revision === revisionOf('api:2'))).toEqual({ revision: revisionOf('api:2'), replicas: 2, create: true });
    expect(started.status).toMatchObject({ phase: 'Progressing', currentStepIndex: 0, stepProgress: '0/5', canaryWeight: 20, stableRevision: revisionOf('api:1'), currentRevision: revisionOf('api:2') });
    cluster.apply(started);
    cluster.settle();
    cluster.converge();
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    expect(cluster.countOf('api:1')).toEqual({ replicas: 8, available: 8 });
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, stepProgress: '1/5', canaryWeight: 20, actualWeight: 20 });
    expect(cluster.status.message).toBe(`canary at 20%, pausing until ${new Date(T0 + 5 * MINUTE).toISOString()}`);
    expect(cluster.status.pauseStartTime).toBe(new Date(T0).toISOString());
    expect(cluster.condition('Paused')).toEqual({ status: 'True', reason: 'PauseStep' });
    expect(cluster.condition('Progressing')).toEqual({ status: 'Unknown', reason: 'RolloutPaused' });
    expect(cluster.condition('Ready')).toEqual({ status: 'False', reason: 'RolloutPaused' });
    // Not done: kstatus and `kubectl wait` read Reconciling, and must keep waiting through a pause.
    expect(cluster.condition('Reconciling')).toEqual({ status: 'True', reason: 'RolloutPaused' });
    expect(cluster.condition('Stalled')).toEqual({ status: 'False', reason: 'RolloutPaused' });
    expect(cluster.condition('Available')).toEqual({ status: 'True', reason: 'MinimumReplicasAvailable' });

    // The pause ends exactly at start + 5m, not a millisecond earlier.
    cluster.advance(5 * MINUTE - 1);
    const stillPaused = cluster.tick();
    expect(stillPaused.requeueAfterMs).toBe(1);
    expect(cluster.status.currentStepIndex).toBe(1);
    cluster.advance(1);
    const resumed = cluster.tick();
    expect(resumed.events.map((event) => event.reason)).toEqual(['RolloutStepCompleted']);
    expect(cluster.status).toMatchObject({ currentStepIndex: 2, canaryWeight: 50, phase: 'Progressing' });
    expect(cluster.status.pauseStartTime).toBeUndefined();

    // setWeight 50: 5/5, then an indefinite pause that waits for a promote.
    cluster.converge();
    expect(cluster.countOf('api:2')).toEqual({ replicas: 5, available: 5 });
    expect(cluster.countOf('api:1')).toEqual({ replicas: 5, available: 5 });
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3, stepProgress: '3/5', actualWeight: 50 });
    expect(cluster.status.message).toBe('canary at 50%, paused at step 3/5 until promoted');
    // The message counts steps as the Step printer column does.
    expect(cluster.status.message).toContain(`step ${cluster.status.stepProgress}`);
    cluster.advance(60 * MINUTE);
    const waiting = cluster.tick();
    expect(waiting.requeueAfterMs).toBeUndefined();
    expect(waiting.events).toEqual([]);
    expect(cluster.status.currentStepIndex).toBe(3);

    // Promote: setWeight 100, then every step is done and the canary becomes stable.
    cluster.patchStatus({ promote: 'step' });
    const promoted = cluster.tick();
    expect(promoted.events.map((event) => event.reason)).toEqual(['RolloutPromoted']);
    expect(promoted.status.promote).toBeUndefined();
    expect(cluster.status.stableRevision).toBe(revisionOf('api:1'));
    const done = cluster.converge();
    expect(done.status).toMatchObject({
      phase: 'Healthy',
      stableRevision: revisionOf('api:2'),
      currentRevision: revisionOf('api:2'),
      currentStepIndex: 5,
      stepProgress: '5/5',
      canaryWeight: 100,
      actualWeight: 100,
      replicas: 10,
      availableReplicas: 10,
      updatedReplicas: 10,
      observedGeneration: 2,
    });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 10, available: 10 });
    expect(cluster.countOf('api:1')).toEqual({ replicas: 0, available: 0 });
    expect(cluster.reasons()).toEqual([
      'RolloutInitialized',
      'RolloutStarted',
      'RolloutStepCompleted',
      'RolloutPaused',
      'RolloutStepCompleted',
      'RolloutStepCompleted',
      'RolloutPaused',
      'RolloutPromoted',
      'RolloutStepCompleted',
      'RolloutCompleted',
    ]);
  });

  it('keeps the stable revision until the last step completes', () => {
    const cluster = healthyCluster();
    cluster.setImage('api:2');
    for (let i = 0; i < 30 && cluster.status.stableRevision === revisionOf('api:1'); i++) {
      const plan = cluster.tick();
      if (plan.status.stableRevision !== revisionOf('api:1')) {
        expect(plan.events.map((event) => event.reason)).toContain('RolloutCompleted');
      }
      if (cluster.status.phase === 'Paused') {
        cluster.advance(5 * MINUTE);
        if (cluster.status.currentStepIndex === 3) cluster.patchStatus({ promote: 'step' });
      }
    }
    expect(cluster.status.stableRevision).toBe(revisionOf('api:2'));
  });

  it('resumes a pause from status alone after a controller restart', () => {
    const cluster = healthyCluster();
    cluster.setImage('api:2');
    cluster.converge();
    expect(cluster.status.phase).toBe('Paused');
    // A new process: nothing survives but the API objects, which round-trip through JSON.
    const restarted = new FakeCluster(JSON.parse(JSON.stringify(cluster.rollout)));
    restarted.replicaSets = JSON.parse(JSON.stringify(cluster.replicaSets));
    restarted.now = T0 + 4 * MINUTE;
    expect(restarted.tick().requeueAfterMs).toBe(MINUTE);
    expect(restarted.status.currentStepIndex).toBe(1);
    restarted.advance(MINUTE);
    restarted.tick();
    expect(restarted.status.currentStepIndex).toBe(2);
  });
});
