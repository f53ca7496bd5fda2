import { describe, expect, it } from 'vitest';
import type { CanaryStep } from '../../../src/api/rollout.js';
import { rollbackWithinWindow } from '../../../src/rollout/decide/rollback-window.js';
import { FakeCluster, makeRollout, revisionOf } from './fake-cluster.js';

const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: {} }, { setWeight: 100 }];

/** api:1, then api:2 and api:3 each promoted by hand past the indefinite pause: revisions 1, 2, 3, with 3 stable. */
function withHistory(revisions: number): FakeCluster {
  const rollout = makeRollout({ replicas: 5, steps: STEPS });
  const cluster = new FakeCluster({ ...rollout, spec: { ...rollout.spec, rollbackWindow: { revisions } } });
  cluster.converge();
  for (const image of ['api:2', 'api:3']) {
    cluster.setImage(image);
    cluster.converge();
    cluster.patchStatus({ promote: 'full' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf(image) });
  }
  return cluster;
}

describe('decide: rollbackWindow', () => {
  it('a rollback to a revision within the window skips every step, straight to full promotion', () => {
    const cluster = withHistory(2);
    const before = cluster.plans.length;
    cluster.setImage('api:2');
    const plan = cluster.decide();
    expect(plan.events.map((event) => event.reason)).toContain('RollbackFastTracked');
    cluster.apply(plan);
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    // It never paused at the indefinite pause of step 2.
    expect(cluster.plans.slice(before).some((candidate) => candidate.status.phase === 'Paused')).toBe(false);
  });

  it('a rollback beyond the window runs the steps as any change does', () => {
    const cluster = withHistory(2);
    cluster.setImage('api:1');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, stableRevision: revisionOf('api:3') });
    expect(cluster.events.map((event) => event.reason)).not.toContain('RollbackFastTracked');
  });

  it('is counted as Argo counts it: revisions 1 to 5, 5 stable, a window of 3 takes 4 and 3, not 2', () => {
    const sets = [1, 2, 3, 4, 5].map((n) => ({ name: `r${n}`, revision: `r${n}`, revisionNumber: n, replicas: 0, readyReplicas: 0, availableReplicas: 0, createdAt: n }));
    const within = (revision: string) => rollbackWithinWindow({ revisions: 3 }, revision, 'r5', sets);
    expect(['r4', 'r3', 'r2', 'r1'].map(within)).toEqual([true, true, false, false]);
    // A new template has no ReplicaSet yet, and going forward is no rollback.
    expect(rollbackWithinWindow({ revisions: 3 }, 'new', 'r5', sets)).toBe(false);
    expect(rollbackWithinWindow({ revisions: 3 }, 'r5', 'r4', sets)).toBe(false);
    expect(rollbackWithinWindow(undefined, 'r4', 'r5', sets)).toBe(false);
  });
});
