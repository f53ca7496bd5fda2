import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnalysisPhase } from '../../../src/api/analysis.js';
import type { CanaryStep, CanaryStrategy } from '../../../src/api/rollout.js';
import { decide } from '../../../src/rollout/plan.js';
import { rolloutViolations } from '../../../src/rollout/invariants.js';
import { propertyParameters } from '../property.js';
import { FakeCluster, makeRollout } from './fake-cluster.js';

const ANALYSIS = { templates: [{ templateName: 'success-rate' }] };

const step: fc.Arbitrary<CanaryStep> = fc.oneof(
  fc.record({ setWeight: fc.integer({ min: 0, max: 100 }) }),
  fc.constant({ pause: {} }),
  fc.constantFrom('10s', '5m', '800h').map((duration) => ({ pause: { duration } })),
  fc.constant({ analysis: ANALYSIS }),
  fc.constant({ analysis: { ...ANALYSIS, onFailure: 'Pause' as const } }),
  fc.oneof(
    fc.record({ replicas: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ weight: fc.integer({ min: 0, max: 100 }) }),
    fc.constant({ matchTrafficWeight: true }),
  ).map((setCanaryScale) => ({ setCanaryScale })),
);
const steps = fc.array(step, { maxLength: 6 });
const phase = fc.constantFrom<AnalysisPhase>('Running', 'Successful', 'Failed', 'Error', 'Inconclusive');

/** What the world and people do between reconciles. */
type Action =
  | { kind: 'settle' }
  | { kind: 'settleOne' }
  | { kind: 'advance'; ms: number }
  | { kind: 'image'; image: string }
  | { kind: 'steps'; steps: CanaryStep[] }
  | { kind: 'promote'; how: 'step' | 'full' }
  | { kind: 'abort' }
  | { kind: 'retry' }
  | { kind: 'verdict'; slot: 'step' | 'background'; phase: AnalysisPhase }
  | { kind: 'paused'; paused: boolean }
  /** The reconcile's status write is lost (a conflict): the next one decides on the old status again. */
  | { kind: 'lostWrite' }
  /** The AnalysisTemplate disappears or (re)appears, as a GitOps sync may order it. */
  | { kind: 'template'; exists: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'settleOne' as const }) },
  { weight: 4, arbitrary: fc.constantFrom(1_000, 30_000, 300_000, 3_600_000, 800 * 3_600_000).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 2, arbitrary: fc.constantFrom('api:1', 'api:2', 'api:3').map((image) => ({ kind: 'image' as const, image })) },
  { weight: 1, arbitrary: steps.map((edited) => ({ kind: 'steps' as const, steps: edited })) },
  { weight: 2, arbitrary: fc.constantFrom<'step' | 'full'>('step', 'full').map((how) => ({ kind: 'promote' as const, how })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'retry' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('verdict' as const), slot: fc.constantFrom<'step' | 'background'>('step', 'background'), phase }) },
  { weight: 1, arbitrary: fc.boolean().map((paused) => ({ kind: 'paused' as const, paused })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lostWrite' as const }) },
  { weight: 1, arbitrary: fc.boolean().map((exists) => ({ kind: 'template' as const, exists })) },
);

const scenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  maxSurge: fc.constantFrom<CanaryStrategy['maxSurge']>('25%', 0, 1, 2, '50%'),
  maxUnavailable: fc.constantFrom<CanaryStrategy['maxUnavailable']>(0, 1, '25%'),
  stableService: fc.boolean(),
  background: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  steps,
  actions: fc.array(action, { minLength: 1, maxLength: 40 }),
});

function perform(cluster: FakeCluster, act: Action): void {
  const status = cluster.status;
  switch (act.kind) {
    case 'settle':
      return cluster.settle();
    case 'settleOne':
      for (const rs of cluster.replicaSets) rs.availableReplicas = rs.readyReplicas = Math.min(rs.replicas, rs.availableReplicas + 1);
      return;
    case 'advance':
      return cluster.advance(act.ms);
    case 'image':
      return cluster.setImage(act.image);
    case 'steps':
      return cluster.setSpec({ strategy: { canary: { ...cluster.rollout.spec.strategy.canary, steps: act.steps } } });
    case 'promote':
      return cluster.patchStatus({ promote: act.how });
    case 'abort':
      return cluster.patchStatus({ abort: true });
    case 'retry':
      return cluster.patchStatus({ abort: false });
    case 'verdict': {
      const name = act.slot === 'step' ? status.stepAnalysisRun : status.backgroundAnalysisRun;
      // A verdict, once reached, never changes (the run machine's promise); only a Running run takes one.
      const run = name === undefined ? undefined : cluster.runs.get(name);
      if (run !== undefined && (run.phase ?? 'Running') === 'Running') cluster.runs.set(run.name, { name: run.name, phase: act.phase });
      return;
    }
    case 'paused':
      return cluster.setSpec({ paused: act.paused });
    case 'lostWrite':
      return;
    case 'template':
      cluster.missingTemplates = act.exists ? [] : ['AnalysisTemplate success-rate'];
      return;
  }
}

describe('rollout core properties', () => {
  it('keeps every invariant of src/rollout/invariants.ts after every generated event', () => {
    let reconciles = 0;
    fc.assert(
      fc.property(scenario, (world) => {
        const cluster = new FakeCluster(
          makeRollout({
            replicas: world.replicas,
            steps: world.steps,
            canary: {
              maxSurge: world.maxSurge,
              maxUnavailable: world.maxUnavailable,
              ...(world.stableService && { stableService: 'api-stable', canaryService: 'api-canary' }),
              ...(world.background !== undefined && { analysis: { ...ANALYSIS, startingStep: world.background } }),
            },
          }),
        );
        cluster.checkBudgets = false;
        for (const act of [{ kind: 'settle' as const }, ...world.actions]) {
          perform(cluster, act);
          const facts = cluster.facts();
          const plan = decide(facts);
          reconciles++;
          const violations = rolloutViolations(facts, plan);
          if (violations.length > 0) {
            const brief = ({ conditions: _conditions, ...rest }: typeof plan.status = {}) => JSON.stringify(rest);
            throw new Error(`after ${act.kind}: ${violations.join('; ')}\nstatus before: ${brief(facts.rollout.status)}\nplan status: ${brief(plan.status)}`);
          }
          if (act.kind !== 'lostWrite') {
            cluster.apply(plan);
            // The shell creates the runs the plan wants, unless one of that name exists, and terminates those it no
            // longer wants: at worst, one that had measured a success then says Successful.
            for (const wanted of plan.analysisRuns) {
              if (!cluster.runs.has(wanted.name)) cluster.runs.set(wanted.name, { name: wanted.name, phase: undefined });
            }
            for (const [name, run] of cluster.runs) {
              const live = run.phase === undefined || run.phase === 'Running';
              if (live && !plan.analysisRuns.some((wanted) => wanted.name === name)) cluster.runs.set(name, { name, phase: 'Successful', terminated: true });
            }
            // The promote and abort requests are consumed by the reconcile that acted on them.
            if (plan.status.promote === undefined) delete cluster.rollout.status?.promote;
          }
        }
      }),
      propertyParameters(3000),
    );
    expect(reconciles).toBeGreaterThan(1000);
  }, 120_000);
});
