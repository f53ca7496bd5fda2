import { transition } from 'xstate';
import { getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import type { CanaryStep, WebhookType } from '../../../src/api/rollout.js';
import { rolloutMachine, type RolloutContext, type RolloutEvent, type RolloutSnapshot } from '../../../src/rollout/decide/machine.js';
import { replicaModeOf } from '../../../src/rollout/decide/replica-mode.js';
import { canaryStepCounts, idealCounts, planReplicaSets } from '../../../src/rollout/decide/replicas.js';
import { restoreStateValue } from '../../../src/rollout/decide/restore.js';
import { stageOf } from '../../../src/rollout/decide/stage.js';
import { setWeightAt } from '../../../src/rollout/decide/steps.js';
import { plannedStepIndex } from '../../../src/rollout/decide/hooks.js';
import { increasesWeight } from '../../../src/rollout/decide/gates.js';

const REPLICAS = 10;

const FULL_STEPS: CanaryStep[] = [
  { setWeight: 20 },
  { pause: { duration: '1m' } },
  { setCanaryScale: { replicas: 3 } },
  { analysis: { templates: [{ templateName: 'success-rate' }] } },
  { setWeight: 50 },
  { pause: {} },
  { setCanaryScale: { matchTrafficWeight: true } },
  { setWeight: 100 },
];

const EVENTS: RolloutEvent[] = [
  { type: 'SYNC' },
  { type: 'REVISION_OBSERVED', revision: 'r1' },
  { type: 'REVISION_OBSERVED', revision: 'r2' },
  { type: 'REVISION_OBSERVED', revision: 'r3' },
  { type: 'STEP_COMPLETED' },
  { type: 'PAUSE_ELAPSED' },
  { type: 'PROMOTE_STEP' },
  { type: 'PROMOTE_FULL' },
  { type: 'ABORT', reason: 'aborted by test', cause: 'Manual' },
  { type: 'RETRY' },
  { type: 'ANALYSIS_SUCCESSFUL' },
  { type: 'ANALYSIS_FAILED', phase: 'Failed', reason: 'success-rate 0.8', hold: false },
  { type: 'ANALYSIS_FAILED', phase: 'Error', reason: 'prometheus unreachable', hold: true },
  { type: 'ANALYSIS_INCONCLUSIVE', reason: 'no data' },
  { type: 'BACKGROUND_ANALYSIS_FAILED', phase: 'Failed', reason: 'latency 2s', hold: false },
  { type: 'BACKGROUND_ANALYSIS_FAILED', phase: 'Inconclusive', reason: 'no data', hold: false },
  { type: 'DEADLINE_EXCEEDED' },
  { type: 'STEPS_CHANGED', previousStepIndex: 2 },
  { type: 'GATE_OPENED' },
];

/** Every gate type, so the canary meets confirm-rollout, pre-rollout, confirm-traffic-increase and confirm-promotion. */
const GATE_HOOKS: WebhookType[] = ['confirm-rollout', 'pre-rollout', 'confirm-traffic-increase', 'confirm-promotion'];

function input(steps: CanaryStep[], specPaused: boolean, progressDeadlineAbort: boolean, hookTypes: WebhookType[] = []): RolloutContext {
  return {
    now: 1_000,
    steps,
    specPaused,
    progressDeadlineAbort,
    stableRevision: undefined,
    currentRevision: undefined,
    stepIndex: 0,
    pauseStartTime: undefined,
    abortedAt: undefined,
    abortReason: undefined,
    holdReason: undefined,
    attempt: 0,
    hookTypes,
    gate: undefined,
    gateSince: undefined,
    preRolloutPassed: undefined,
    experiment: undefined,
  };
}

/**
 * States are told apart by value and context, except the attempt counter: it grows with every retry,
 * and counting it would make the state space infinite without telling the graph anything new.
 */
function serializeState(snapshot: RolloutSnapshot): string {
  const { attempt: _attempt, ...context } = snapshot.context;
  return JSON.stringify([snapshot.value, context]);
}

/** Events whose transition completes the step being worked on. */
const COMPLETES_STEP = new Set(['STEP_COMPLETED', 'PAUSE_ELAPSED', 'ANALYSIS_SUCCESSFUL', 'PROMOTE_STEP']);

function checkState(snapshot: RolloutSnapshot): void {
  const { context } = snapshot;
  const steps = context.steps;
  const stage = stageOf(snapshot);
  expect(snapshot.matches({ canary: 'route' }), 'the transient route state never rests').toBe(false);
  expect(context.stepIndex).toBeGreaterThanOrEqual(0);
  expect(context.stepIndex).toBeLessThanOrEqual(steps.length);
  if (snapshot.matches('new')) return;

  // What was persisted restores to exactly this state.
  expect(restoreStateValue(context)).toEqual(snapshot.value);
  expect(context.abortedAt !== undefined).toBe(stage === 'aborted');
  expect(context.pauseStartTime !== undefined).toBe(stage === 'timedPause' || stage === 'indefinitePause' || stage === 'inconclusive');
  if (stage === 'stable') expect(context.currentRevision).toBe(context.stableRevision);
  else {
    expect(context.currentRevision).not.toBe(context.stableRevision);
    // Gates at the end (confirm-promotion; every gate when there are no steps) wait past the last step, and a
    // background analysis can hold the canary there.
    if (stage !== 'aborted' && stage !== 'gated' && stage !== 'inconclusive') expect(context.stepIndex).toBeLessThan(steps.length);
  }

  // A canary at a gate is planned at the step before it: the gate holds what comes next.
  const planned = { ...context, stepIndex: plannedStepIndex(stage, context) };
  const mode = replicaModeOf(stage, planned, REPLICAS, { router: false, maxSurge: 3 }, 'unused');
  const ideal = idealCounts(mode, REPLICAS);
  const canaryRevision = context.currentRevision as string;
  const stableRevision = context.stableRevision as string;
  // Whatever the pods look like, the plan never grows the canary past what this state allows.
  const pods = [
    [10, 0],
    [8, 2],
    [5, 5],
    [0, 10],
    [2, 2],
  ] as const;
  for (const [stablePods, canaryPods] of pods) {
    const replicaSets = [
      { name: 's', revision: stableRevision, revisionNumber: 1, replicas: stablePods, readyReplicas: stablePods, availableReplicas: stablePods, createdAt: 0 },
      ...(stage === 'stable'
        ? []
        : [{ name: 'c', revision: canaryRevision, revisionNumber: 2, replicas: canaryPods, readyReplicas: canaryPods, availableReplicas: canaryPods, createdAt: 0 }]),
    ];
    const plan = planReplicaSets({
      mode,
      now: context.now,
      replicas: REPLICAS,
      limits: { maxSurge: 3, maxUnavailable: 0 },
      currentRevision: canaryRevision,
      replicaSets,
      hasTrafficRouter: false,
      abortScaleDownDelayMs: 0,
    });
    const canaryTarget = plan.find((target) => target.revision === canaryRevision)?.replicas ?? 0;
    if (stage === 'aborted') {
      // After an abort the canary gets no pods, hence no traffic, and asks for no weight.
      expect(canaryTarget).toBe(0);
      expect(ideal.get(canaryRevision) ?? 0).toBe(0);
    } else if (stage !== 'stable') {
      const stepCanary = canaryStepCounts(steps, planned.stepIndex, REPLICAS, { router: false, maxSurge: 3 }).canary;
      expect(canaryTarget).toBeLessThanOrEqual(Math.max(stepCanary, canaryPods));
      if (canaryPods <= stepCanary) expect(canaryTarget).toBeLessThanOrEqual(stepCanary);
    }
  }

  if (stage !== 'stable' && stage !== 'aborted') {
    // The desired weight is the current step's (at a gate, the one before it): the latest setWeight at or before it, never a later one.
    const earlier = steps.slice(0, planned.stepIndex + 1).filter((step): step is { setWeight: number } => 'setWeight' in step);
    expect(setWeightAt(steps, planned.stepIndex)).toBe(earlier.at(-1)?.setWeight ?? 0);
  }
}

function checkTransition(previous: RolloutSnapshot, event: RolloutEvent, next: RolloutSnapshot): void {
  const before = previous.context;
  const after = next.context;
  if (after.stableRevision !== before.stableRevision) {
    // Stable moves only to the canary, only when its last step completes or on a full promote (or on first sight).
    const firstSight = before.stableRevision === undefined && event.type === 'REVISION_OBSERVED';
    const noSteps = before.steps.length === 0 && event.type === 'REVISION_OBSERVED';
    const lastStep = COMPLETES_STEP.has(event.type) && before.stepIndex === before.steps.length - 1 && !before.hookTypes.includes('confirm-promotion');
    const confirmed = previous.matches({ canary: 'gated' }) && before.gate === 'confirm-promotion' && (event.type === 'GATE_OPENED' || event.type === 'PROMOTE_STEP');
    expect(firstSight || noSteps || lastStep || confirmed || event.type === 'PROMOTE_FULL', `${event.type} moved stable at step ${before.stepIndex}`).toBe(true);
    if (!firstSight) {
      expect(after.stableRevision).toBe(before.currentRevision);
      expect(before.specPaused).toBe(false);
      expect(previous.matches('canary')).toBe(true);
    }
  }
  if (before.specPaused && previous.matches('canary') && next.matches('canary') && after.currentRevision === before.currentRevision) {
    expect(after.stepIndex, 'spec.paused freezes the step').toBe(before.stepIndex);
  }
  if (event.type === 'STEPS_CHANGED' && previous.matches('canary')) {
    expect(after.stepIndex, 'edited steps restart the canary').toBe(0);
    expect(after.attempt, 'with a new attempt, so no old analysis verdict applies').toBe(before.attempt + 1);
  }
  if (previous.matches({ canary: 'gated' }) && after.currentRevision === before.currentRevision && !next.matches('aborted')) {
    // A closed gate holds: only its opening, a person, a steps edit or a background verdict moves the canary on.
    const moved = !next.matches({ canary: 'gated' }) || after.gate !== before.gate || after.stepIndex !== before.stepIndex;
    if (moved) expect(['GATE_OPENED', 'PROMOTE_STEP', 'PROMOTE_FULL', 'STEPS_CHANGED', 'BACKGROUND_ANALYSIS_FAILED']).toContain(event.type);
    if (moved && event.type === 'GATE_OPENED' && before.gate === 'pre-rollout') expect(after.preRolloutPassed).toBe(before.currentRevision);
  }
  if (after.stepIndex > before.stepIndex && next.matches('canary') && previous.matches('canary') && event.type !== 'PROMOTE_FULL') {
    // A step that raises the weight is entered only through its confirm-traffic-increase gate.
    if (before.hookTypes.includes('confirm-traffic-increase') && increasesWeight(after.steps, after.stepIndex)) {
      expect(next.matches({ canary: 'gated' }) || after.gate === 'confirm-traffic-increase').toBe(true);
    }
  }
  if (previous.matches('aborted') && next.matches('canary')) {
    expect(event.type === 'RETRY' || event.type === 'REVISION_OBSERVED').toBe(true);
    expect(after.stepIndex).toBe(0);
  }
}

function checkPaths(paths: Array<StatePath<RolloutSnapshot, RolloutEvent>>): Set<string> {
  const reached = new Set<string>();
  for (const path of paths) {
    for (let i = 0; i < path.steps.length; i++) {
      const step = path.steps[i];
      if (step === undefined) continue;
      checkState(step.state);
      reached.add(JSON.stringify(step.state.value));
      const previous = path.steps[i - 1];
      // Recomputed: the graph merges states that differ only in attempt, so a path's next state may come from a twin.
      if (previous !== undefined) checkTransition(previous.state, step.event, transition(rolloutMachine, previous.state, step.event)[0]);
    }
  }
  return reached;
}

const ALL_STATES = ['"new"', '"stable"', '"aborted"', ...['weighting', 'timedPause', 'indefinitePause', 'analyzing', 'inconclusive'].map((s) => JSON.stringify({ canary: s }))];

describe('rollout machine (model-based)', () => {
  it.each([
    [false, false],
    [false, true],
    [true, false],
  ])('holds the invariants on every shortest path (spec.paused %s, progressDeadlineAbort %s)', (specPaused, deadlineAbort) => {
    const paths = getShortestPaths(rolloutMachine, { input: input(FULL_STEPS, specPaused, deadlineAbort), events: EVENTS, serializeState });
    const reached = checkPaths(paths);
    // spec.paused freezes progression at the first step, but a template change and an abort still go through.
    // Background analysis can still hold the canary: a hold is a pause, not progress.
    const expected = specPaused
      ? ['"new"', '"stable"', '"aborted"', JSON.stringify({ canary: 'weighting' }), JSON.stringify({ canary: 'inconclusive' })]
      : ALL_STATES;
    expect([...reached].sort()).toEqual([...expected].sort());
    expect(paths.length).toBeGreaterThan(specPaused ? 10 : 50);
  });

  it('holds the invariants on every simple path of a small rollout', () => {
    const steps: CanaryStep[] = [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { pause: {} }];
    // One event of each type (plus the first two revisions) keeps the number of simple paths in the thousands.
    const seen = new Set<string>();
    const events = EVENTS.filter((event) => {
      const key = event.type === 'REVISION_OBSERVED' ? event.revision : event.type;
      if (key === 'r3' || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const paths = getSimplePaths(rolloutMachine, { input: input(steps, false, true), events, serializeState });
    expect(paths.length).toBeGreaterThan(100);
    checkPaths(paths);
  }, 60_000);

  // Gates multiply the states (which gate, whose pre-rollout passed): a short canary and two revisions keep it quick.
  const GATED_STEPS: CanaryStep[] = [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }, { setWeight: 50 }];
  it.each([[GATED_STEPS], [[]]])('holds the invariants with every gate webhook (%#: three steps, no steps)', (steps) => {
    const events = EVENTS.filter((event) => event.type !== 'REVISION_OBSERVED' || event.revision !== 'r3');
    const paths = getShortestPaths(rolloutMachine, { input: input(steps, false, false, GATE_HOOKS), events, serializeState });
    const reached = checkPaths(paths);
    expect(reached).toContain(JSON.stringify({ canary: 'gated' }));
  });

  it('holds the invariants with no steps at all', () => {
    checkPaths(getShortestPaths(rolloutMachine, { input: input([], false, false), events: EVENTS, serializeState }));
  });

  it('is advanced with the pure transition() and leaves the input snapshot untouched', () => {
    const start = rolloutMachine.resolveState({
      value: { canary: 'weighting' },
      context: { ...input(FULL_STEPS, false, false), stableRevision: 'r1', currentRevision: 'r2' },
    });
    const frozen = JSON.stringify(start.context);
    const [next, actions] = transition(rolloutMachine, start, { type: 'STEP_COMPLETED' });
    expect(next.value).toEqual({ canary: 'timedPause' });
    expect(next.context).toMatchObject({ stepIndex: 1, pauseStartTime: 1_000 });
    expect(actions.map((action) => [action.type, (action.params as { reason: string }).reason])).toEqual([
      ['announce', 'RolloutStepCompleted'],
      ['announce', 'RolloutPaused'],
    ]);
    expect(JSON.stringify(start.context)).toBe(frozen);
  });
});
