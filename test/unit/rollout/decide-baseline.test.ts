import { describe, expect, it } from 'vitest';
import { CanaryStrategy, type CanaryStep } from '../../../src/api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../../../src/api/labels.js';
import { baselineRevision } from '../../../src/rollout/decide/baseline.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf } from './fake-cluster.js';

const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }];
const BASELINE = { metadata: { labels: { role: 'baseline' }, annotations: { team: 'payments' } } };

function cluster(): FakeCluster {
  const world = new FakeCluster(
    makeRollout({ replicas: 10, steps: STEPS, canary: { baseline: BASELINE, stableMetadata: { labels: { role: 'stable', tier: 'web' } }, canaryMetadata: { labels: { role: 'canary' } } } }),
  );
  world.converge();
  return world;
}

describe('decide: the baseline beside the canary', () => {
  it('starts a baseline of the stable template with the canary, the same size at every step, and labels it apart', () => {
    const world = cluster();
    expect(world.baselines).toEqual([]);
    world.setImage('api:2');
    const started = world.decide();
    const create = started.baseline.changes.find((change) => change.kind === 'create');
    expect(create?.kind).toBe('create');
    if (create?.kind !== 'create') return;
    const stable = revisionOf('api:1');
    const { metadata, spec } = create.replicaSet;
    expect(metadata?.name).toBe(`api-${baselineRevision(stable)}`);
    expect(metadata?.labels).toMatchObject({ [LABEL_ROLE]: 'baseline', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable) });
    expect(metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true });
    // The stable's template, not the canary's; its own selector, so no Service of the Rollout picks its pods.
    expect(spec?.template?.spec?.containers[0]?.image).toBe('api:1');
    expect(spec?.selector.matchLabels).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable) });
    // Its metadata wins over the stable template's; stableMetadata's keys are left off (it is not the stable).
    expect(spec?.template?.metadata?.labels).toEqual({ app: 'api', role: 'baseline', [LABEL_POD_TEMPLATE_HASH]: baselineRevision(stable), [LABEL_ROLE]: 'baseline' });
    expect(spec?.template?.metadata?.annotations).toEqual({ team: 'payments' });

    world.apply(started);
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(world.countOf('api:2')?.replicas).toBe(2);
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([2]);
    world.advance(5 * MINUTE);
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Paused', currentStepIndex: 3 });
    expect(world.baselines.map((rs) => rs.replicas)).toEqual([5]);
  });

  it('removes the baseline when the canary is promoted', () => {
    const world = cluster();
    world.setImage('api:2');
    world.converge();
    world.advance(5 * MINUTE);
    world.converge();
    expect(world.baselines).toHaveLength(1);
    world.patchStatus({ promote: 'full' });
    world.converge();
    expect(world.status).toMatchObject({ phase: 'Healthy', stableRevision: revisionOf('api:2') });
    expect(world.baselines).toEqual([]);
  });

  it('removes the baseline at once on abort, in the reconcile that aborts', () => {
    const world = cluster();
    world.setImage('api:2');
    world.converge();
    expect(world.baselines).toHaveLength(1);
    world.checkBudgets = false;
    world.patchStatus({ abort: true });
    const aborted = world.decide();
    expect(aborted.baseline.delete).toEqual([world.baselines[0]?.name]);
    world.apply(aborted);
    expect(world.baselines).toEqual([]);
  });

  it('the CRD refuses a baseline behind a traffic router, which would send it no traffic', () => {
    const parsed = CanaryStrategy.safeParse({ baseline: {}, trafficRouting: { nginx: { stableIngress: 'web' } }, stableService: 's', canaryService: 'c' });
    // The zod schema carries the rule as a CEL validation for the apiserver; here it is checked as the CRD states it.
    expect(parsed.success).toBe(true);
    const rules = (CanaryStrategy.meta()?.['x-kubernetes-validations'] as Array<{ rule: string; message: string }>).map((rule) => rule.rule);
    expect(rules).toContain('!has(self.baseline) || !has(self.trafficRouting)');
  });
});
