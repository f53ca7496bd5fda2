import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ReplicaSetFacts } from '../../../src/rollout/decide/facts.js';
import {
  canaryStepCounts,
  isAtCounts,
  planReplicaSets,
  resolveIntOrPercent,
  rollTowards,
  scalingLimits,
  weightedCounts,
  type ReplicaPlanInput,
  type RollingSet,
} from '../../../src/rollout/decide/replicas.js';
import { propertyParameters } from '../property.js';

describe('resolveIntOrPercent / scalingLimits', () => {
  it('rounds surge up and unavailable down', () => {
    expect(resolveIntOrPercent('25%', 10, 'up')).toBe(3);
    expect(resolveIntOrPercent('25%', 10, 'down')).toBe(2);
    expect(resolveIntOrPercent(4, 10, 'up')).toBe(4);
    expect(resolveIntOrPercent('0%', 10, 'up')).toBe(0);
    expect(resolveIntOrPercent('100%', 7, 'down')).toBe(7);
  });

  it('applies the defaults (25% surge, 0 unavailable)', () => {
    expect(scalingLimits(10, '25%', 0)).toEqual({ maxSurge: 3, maxUnavailable: 0 });
    expect(scalingLimits(1, '25%', 0)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('makes maxUnavailable 1 when both resolve to 0, so a rollout can always move', () => {
    expect(scalingLimits(0, '25%', 0)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(scalingLimits(10, '0%', '0%')).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(scalingLimits(3, 0, '25%')).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(scalingLimits(10, 0, '25%')).toEqual({ maxSurge: 0, maxUnavailable: 2 });
  });
});

describe('weightedCounts', () => {
  it.each([
    // Argo Rollouts' own table (utils/replicaset/canary_test.go): replicas, weight, maxSurge → canary, stable.
    [0, 0, 0, 0, 0], [0, 50, 0, 0, 0], [0, 100, 0, 0, 0], [0, 0, 1, 0, 0], [0, 50, 1, 0, 0], [0, 100, 1, 0, 0],
    [1, 0, 0, 0, 1], [1, 1, 0, 0, 1], [1, 49, 0, 0, 1], [1, 50, 0, 1, 0], [1, 99, 0, 1, 0], [1, 100, 0, 1, 0],
    [1, 0, 1, 0, 1], [1, 1, 1, 1, 1], [1, 49, 1, 1, 1], [1, 50, 1, 1, 1], [1, 99, 1, 1, 1], [1, 100, 1, 1, 0],
    [2, 0, 0, 0, 2], [2, 1, 0, 1, 1], [2, 50, 0, 1, 1], [2, 99, 0, 1, 1], [2, 100, 0, 2, 0],
    [2, 0, 1, 0, 2], [2, 1, 1, 1, 2], [2, 50, 1, 1, 1], [2, 99, 1, 2, 1], [2, 100, 1, 2, 0],
    [3, 10, 0, 1, 2], [3, 25, 0, 1, 2], [3, 33, 0, 1, 2], [3, 34, 0, 1, 2], [3, 49, 0, 1, 2], [3, 50, 0, 2, 1],
    [3, 10, 1, 1, 3], [3, 25, 1, 1, 3], [3, 33, 1, 1, 2], [3, 34, 1, 1, 2], [3, 49, 1, 2, 2], [3, 50, 1, 2, 2],
    [10, 0, 1, 0, 10], [10, 1, 0, 1, 9], [10, 14, 0, 1, 9], [10, 15, 0, 2, 8], [10, 16, 0, 2, 8], [10, 99, 0, 9, 1], [10, 100, 1, 10, 0],
    [10, 1, 1, 1, 10], [10, 18, 1, 2, 9], [10, 19, 1, 2, 9], [10, 20, 1, 2, 8], [10, 23, 1, 2, 8], [10, 24, 1, 3, 8], [10, 25, 1, 3, 8],
    [10, 99, 1, 10, 1], [10, 100, 1, 10, 0],
  ])('%i replicas at %i%% with maxSurge %i → %i canary / %i stable', (replicas, weight, maxSurge, canary, stable) => {
    expect(weightedCounts(replicas, weight, maxSurge)).toEqual({ canary, stable });
  });

  it('property: within replicas + maxSurge, and neither side at 0 for a weight between 0 and 100 when a surge pod allows it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 10 }), (replicas, weight, maxSurge) => {
        const { canary, stable } = weightedCounts(replicas, weight, maxSurge);
        expect(canary + stable).toBeLessThanOrEqual(replicas + 1);
        expect(canary).toBeGreaterThan(0);
        expect(stable).toBeGreaterThan(0);
      }),
      propertyParameters(200),
    );
  });
});

describe('canaryStepCounts', () => {
  it('uses the latest setWeight at or before the step', () => {
    const steps = [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }];
    expect(canaryStepCounts(steps, 1, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 2, stable: 8 });
    expect(canaryStepCounts(steps, 2, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 5, stable: 5 });
  });

  it('lets setCanaryScale override the canary size for the following steps, until matchTrafficWeight', () => {
    const steps = [
      { setCanaryScale: { replicas: 3 } },
      { setWeight: 10 },
      { setCanaryScale: { weight: 50 } },
      { pause: {} },
      { setCanaryScale: { matchTrafficWeight: true } },
    ];
    expect(canaryStepCounts(steps, 0, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 3, stable: 7 });
    expect(canaryStepCounts(steps, 1, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 3, stable: 7 });
    expect(canaryStepCounts(steps, 3, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 5, stable: 5 });
    expect(canaryStepCounts(steps, 4, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 1, stable: 9 });
  });

  it('keeps the stable at full size when a traffic router splits the traffic', () => {
    expect(canaryStepCounts([{ setWeight: 20 }], 0, 10, { router: true })).toEqual({ canary: 2, stable: 10 });
  });

  it('never asks for a negative stable count', () => {
    expect(canaryStepCounts([{ setCanaryScale: { replicas: 15 } }], 0, 10, { router: false, maxSurge: 3 })).toEqual({ canary: 15, stable: 0 });
  });
});

/** Applies rolling steps (pods become available in between) and checks the budgets each time. */
function rollToCompletion(sets: RollingSet[], replicas: number, surge: number, unavailable: number): RollingSet[] {
  let current = sets.map((set) => ({ ...set }));
  for (let round = 0; round < 100; round++) {
    if (current.every((set) => set.replicas === set.desired && set.availableReplicas === set.desired)) return current;
    const targets = rollTowards(current, replicas, { maxSurge: surge, maxUnavailable: unavailable });
    const total = [...targets.values()].reduce((sum, count) => sum + count, 0);
    const before = current.reduce((sum, set) => sum + set.replicas, 0);
    expect(total).toBeLessThanOrEqual(Math.max(replicas + surge, before));
    const kept = current.reduce((sum, set) => sum + Math.min(set.availableReplicas, targets.get(set.revision) ?? 0), 0);
    const availableBefore = current.reduce((sum, set) => sum + set.availableReplicas, 0);
    expect(kept).toBeGreaterThanOrEqual(Math.min(availableBefore, replicas - unavailable));
    current = current.map((set) => {
      const next = targets.get(set.revision) ?? set.replicas;
      return { ...set, replicas: next, availableReplicas: next };
    });
  }
  throw new Error(`did not converge: ${JSON.stringify(current)}`);
}

describe('rollTowards', () => {
  it('scales the canary up first, then shrinks the stable as the canary becomes available', () => {
    const sets: RollingSet[] = [
      { revision: 'stable', replicas: 10, availableReplicas: 10, desired: 8 },
      { revision: 'canary', replicas: 0, availableReplicas: 0, desired: 2 },
    ];
    expect(rollTowards(sets, 10, { maxSurge: 3, maxUnavailable: 0 })).toEqual(
      new Map([
        ['stable', 10],
        ['canary', 2],
      ]),
    );
    const canaryUp: RollingSet[] = [
      { revision: 'stable', replicas: 10, availableReplicas: 10, desired: 8 },
      { revision: 'canary', replicas: 2, availableReplicas: 2, desired: 2 },
    ];
    expect(rollTowards(canaryUp, 10, { maxSurge: 3, maxUnavailable: 0 }).get('stable')).toBe(8);
  });

  it('keeps the stable whole while the canary is not available yet', () => {
    const sets: RollingSet[] = [
      { revision: 'stable', replicas: 10, availableReplicas: 10, desired: 5 },
      { revision: 'canary', replicas: 5, availableReplicas: 1, desired: 5 },
    ];
    expect(rollTowards(sets, 10, { maxSurge: 3, maxUnavailable: 0 }).get('stable')).toBe(9);
  });

  it('removes pods that are not available without spending the budget', () => {
    const sets: RollingSet[] = [
      { revision: 'old', replicas: 3, availableReplicas: 0, desired: 0 },
      { revision: 'stable', replicas: 10, availableReplicas: 10, desired: 10 },
    ];
    expect(rollTowards(sets, 10, { maxSurge: 3, maxUnavailable: 0 })).toEqual(
      new Map([
        ['old', 0],
        ['stable', 10],
      ]),
    );
  });

  it('moves one pod at a time with no surge and maxUnavailable 1', () => {
    const sets: RollingSet[] = [
      { revision: 'stable', replicas: 10, availableReplicas: 10, desired: 8 },
      { revision: 'canary', replicas: 0, availableReplicas: 0, desired: 2 },
    ];
    expect(rollTowards(sets, 10, { maxSurge: 0, maxUnavailable: 1 })).toEqual(
      new Map([
        ['stable', 9],
        ['canary', 0],
      ]),
    );
  });

  it.each([
    // replicas, weight, surge, unavailable
    [10, 20, 3, 0],
    [10, 50, 0, 1],
    [10, 100, 3, 0],
    [10, 0, 3, 0],
    [1, 20, 1, 0],
    [1, 100, 1, 0],
    [0, 50, 0, 1],
    [7, 33, 2, 2],
    [5, 60, 0, 1],
  ])('converges %i replicas to %i%% within surge %i / unavailable %i', (replicas, weight, surge, unavailable) => {
    const { canary, stable } = weightedCounts(replicas, weight, surge);
    const result = rollToCompletion(
      [
        { revision: 'stable', replicas, availableReplicas: replicas, desired: stable },
        { revision: 'canary', replicas: 0, availableReplicas: 0, desired: canary },
      ],
      replicas,
      surge,
      unavailable,
    );
    expect(result.map((set) => set.replicas)).toEqual([stable, canary]);
  });

  it('rolls back from a superseded canary to a new one without losing availability', () => {
    const result = rollToCompletion(
      [
        { revision: 'superseded', replicas: 5, availableReplicas: 5, desired: 0 },
        { revision: 'stable', replicas: 5, availableReplicas: 5, desired: 8 },
        { revision: 'canary', replicas: 0, availableReplicas: 0, desired: 2 },
      ],
      10,
      3,
      0,
    );
    expect(result.map((set) => set.replicas)).toEqual([0, 8, 2]);
  });
});

const rs = (revision: string, replicas: number, availableReplicas = replicas, extra: Partial<ReplicaSetFacts> = {}): ReplicaSetFacts => ({
  name: `api-${revision}`,
  revision,
  revisionNumber: Number(revision.replace(/\D/g, '')) || 1,
  replicas,
  readyReplicas: availableReplicas,
  availableReplicas,
  createdAt: 0,
  ...extra,
});

const baseInput = (overrides: Partial<ReplicaPlanInput>): ReplicaPlanInput => ({
  mode: { kind: 'stable', revision: 'r1' },
  now: 1_000,
  replicas: 4,
  limits: { maxSurge: 1, maxUnavailable: 0 },
  currentRevision: 'r1',
  replicaSets: [],
  hasTrafficRouter: false,
  abortScaleDownDelayMs: 30_000,
  ...overrides,
});

describe('planReplicaSets', () => {
  it('asks to create the current revision when it has no ReplicaSet', () => {
    expect(planReplicaSets(baseInput({}))).toEqual([{ revision: 'r1', replicas: 4, create: true }]);
    const canary = planReplicaSets(
      baseInput({
        mode: { kind: 'canary', stableRevision: 'r1', canaryRevision: 'r2', canary: 1, stable: 3 },
        currentRevision: 'r2',
        replicaSets: [rs('r1', 4)],
      }),
    );
    expect(canary).toEqual([
      { revision: 'r1', replicas: 4 },
      { revision: 'r2', replicas: 1, create: true },
    ]);
  });

  it('on abort without a router takes the canary to 0 at once; stable grows within maxSurge, older revisions leave as availability allows', () => {
    const plan = planReplicaSets(
      baseInput({
        mode: { kind: 'aborted', stableRevision: 'r1', canaryRevision: 'r3' },
        currentRevision: 'r3',
        replicaSets: [rs('r1', 2), rs('r2', 1), rs('r3', 2)],
      }),
    );
    // r2 still serves: it goes once r1's new pods are available, never leaving fewer than 4 - maxUnavailable.
    expect(plan).toEqual([
      { revision: 'r1', replicas: 4 },
      { revision: 'r2', replicas: 1 },
      { revision: 'r3', replicas: 0 },
    ]);
    const later = planReplicaSets(
      baseInput({
        mode: { kind: 'aborted', stableRevision: 'r1', canaryRevision: 'r3' },
        currentRevision: 'r3',
        replicaSets: [rs('r1', 4), rs('r2', 1), rs('r3', 0)],
      }),
    );
    expect(later).toEqual([
      { revision: 'r1', replicas: 4 },
      { revision: 'r2', replicas: 0 },
      { revision: 'r3', replicas: 0 },
    ]);
  });

  it('does not create the canary of an aborted rollout', () => {
    const plan = planReplicaSets(baseInput({ mode: { kind: 'aborted', stableRevision: 'r1', canaryRevision: 'r2' }, currentRevision: 'r2', replicaSets: [rs('r1', 4)] }));
    expect(plan).toEqual([{ revision: 'r1', replicas: 4 }]);
  });

  it('holds a ReplicaSet until its scale-down time, then scales it to 0 and clears the annotation', () => {
    const replicaSets = [rs('r1', 2, 2, { scaleDownAt: 5_000 }), rs('r2', 4)];
    const input = baseInput({ mode: { kind: 'stable', revision: 'r2' }, currentRevision: 'r2', replicaSets, limits: { maxSurge: 0, maxUnavailable: 1 } });
    expect(planReplicaSets(input)).toEqual([
      { revision: 'r1', replicas: 2 },
      { revision: 'r2', replicas: 4 },
    ]);
    expect(planReplicaSets({ ...input, now: 5_000 })).toEqual([
      { revision: 'r1', replicas: 0, scaleDownAt: null },
      { revision: 'r2', replicas: 4 },
    ]);
  });

  it('scaleDownDelayRevisionLimit: only the newest old revisions wait out their delay; older ones go at once', () => {
    const replicaSets = [
      rs('r1', 2, 2, { revisionNumber: 1, scaleDownAt: 50_000 }),
      rs('r2', 2, 2, { revisionNumber: 2, scaleDownAt: 60_000 }),
      rs('r3', 2, 2, { revisionNumber: 3, scaleDownAt: 70_000 }),
      rs('r4', 4, 4, { revisionNumber: 4 }),
    ];
    const input = baseInput({ mode: { kind: 'stable', revision: 'r4' }, currentRevision: 'r4', replicaSets, hasTrafficRouter: true, stableSwitched: true, scaleDownDelayMs: 30_000 });
    expect(planReplicaSets({ ...input, scaleDownDelayRevisionLimit: 1 })).toEqual([
      { revision: 'r1', replicas: 0, scaleDownAt: null },
      { revision: 'r2', replicas: 0, scaleDownAt: null },
      { revision: 'r3', replicas: 2 },
      { revision: 'r4', replicas: 4 },
    ]);
    // 0 keeps none waiting; no limit keeps all three until their times.
    expect(planReplicaSets({ ...input, scaleDownDelayRevisionLimit: 0 }).filter((target) => target.replicas > 0).map((target) => target.revision)).toEqual(['r4']);
    expect(planReplicaSets(input).filter((target) => target.replicas > 0).map((target) => target.revision)).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('clears a pending scale-down when the ReplicaSet is wanted again', () => {
    const plan = planReplicaSets(baseInput({ replicaSets: [rs('r1', 4, 4, { scaleDownAt: 50_000 })] }));
    expect(plan).toEqual([{ revision: 'r1', replicas: 4, scaleDownAt: null }]);
  });

  it('isAtCounts wants exact, fully available counts and nothing else running', () => {
    const ideal = new Map([
      ['r1', 3],
      ['r2', 1],
    ]);
    expect(isAtCounts([rs('r1', 3), rs('r2', 1)], ideal)).toBe(true);
    expect(isAtCounts([rs('r1', 3), rs('r2', 1, 0)], ideal)).toBe(false);
    expect(isAtCounts([rs('r1', 4), rs('r2', 1)], ideal)).toBe(false);
    expect(isAtCounts([rs('r1', 3), rs('r2', 1), rs('r0', 1)], ideal)).toBe(false);
    expect(isAtCounts([rs('r1', 3)], ideal)).toBe(false);
    expect(isAtCounts([rs('r2', 1)], ideal, 'r1')).toBe(true);
  });
});
