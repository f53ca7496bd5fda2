import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnalysisPhase } from '../../../src/api/analysis.js';
import { experimentWeightProblem, type CanaryStep, type CanaryStrategy, type CanaryWebhook, type WebhookType } from '../../../src/api/rollout.js';
import { decide } from '../../../src/rollout/decide/plan.js';
import { rolloutViolations } from '../../../src/rollout/decide/invariants.js';
import { propertyParameters } from '../property.js';
import { FakeCluster, makeRollout } from './fake-cluster.js';

const ANALYSIS = { templates: [{ templateName: 'success-rate' }] };

/** Argo's baseline-against-canary experiment: a duration, a required analysis, both or neither (it then waits for a promote). */
const experimentStep: fc.Arbitrary<CanaryStep> = fc
  // Quick ones weighted up, so worlds see experiments complete as well as run.
  .record({ duration: fc.constantFrom(undefined, '0s', '0s', '30s', '5m'), analysis: fc.constantFrom('none', 'none', 'optional', 'required'), canaryReplicas: fc.integer({ min: 0, max: 2 }) })
  .map(({ duration, analysis, canaryReplicas }) => ({
    experiment: {
      ...(duration !== undefined && { duration }),
      templates: [
        { name: 'baseline', specRef: 'stable' as const },
        { name: 'canary', specRef: 'canary' as const, replicas: canaryReplicas, service: {} },
      ],
      ...(analysis !== 'none' && {
        analyses: [{ name: 'compare', templateName: 'success-rate', requiredForCompletion: analysis === 'required', args: [{ name: 'canary-hash', value: '{{templates.canary.podTemplateHash}}' }] }],
      }),
    },
  }));

const step: fc.Arbitrary<CanaryStep> = fc.oneof(
  // Weighted up: an experiment needs its pods, then its analysis or duration, before worlds see it complete.
  { weight: 3, arbitrary: experimentStep },
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

/** With a router, steps may also set and remove managed routes (named in trafficRouting.managedRoutes). */
const MANAGED_ROUTES = [{ name: 'h1' }, { name: 'h2' }, { name: 'm1' }];
const routedStep: fc.Arbitrary<CanaryStep> = fc.oneof(
  { weight: 4, arbitrary: step },
  { weight: 3, arbitrary: fc.record({ setWeight: fc.integer({ min: 0, max: 100 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ name: fc.constantFrom('h1', 'h2'), remove: fc.boolean() }).map(({ name, remove }) => ({
      setHeaderRoute: { name, ...(!remove && { match: [{ headerName: 'x-canary', headerValue: { exact: name } }] }) },
    })),
  },
  {
    weight: 1,
    arbitrary: fc.boolean().map((remove) => ({ setMirrorRoute: { name: 'm1', percentage: 50, ...(!remove && { match: [{ path: { prefix: '/' } }] }) } })),
  },
  // An experiment whose templates the router gives a share of traffic, as Argo's weighted experiment step.
  {
    weight: 2,
    arbitrary: fc.record({ duration: fc.constantFrom('0s', '30s', '5m'), weight: fc.integer({ min: 0, max: 20 }) }).map(({ duration, weight }) => ({
      experiment: {
        duration,
        templates: [
          { name: 'baseline', specRef: 'stable' as const, weight },
          { name: 'canary', specRef: 'canary' as const, weight },
        ],
      },
    })),
  },
);
// At least one step: without any, a new revision is promoted at once and no canary ever carries weight. Weights that
// would take more than all the traffic are refused by the schema, so no world has them.
const routedSteps = fc.array(routedStep, { minLength: 1, maxLength: 6 }).filter((list) => experimentWeightProblem(list) === undefined);
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
  | { kind: 'verdict'; slot: 'step' | 'background' | 'experiment'; phase: AnalysisPhase }
  | { kind: 'paused'; paused: boolean }
  /** The reconcile's status write is lost (a conflict): the next one decides on the old status again. */
  | { kind: 'lostWrite' }
  /** The AnalysisTemplate disappears or (re)appears, as a GitOps sync may order it. */
  | { kind: 'template'; exists: boolean }
  /** With a router: the data plane takes up what was last written, with the pods left as they are ... */
  | { kind: 'takeUp' }
  /** ... or the pods become available with the traffic left as it is. */
  | { kind: 'pods' }
  /** A person edits the weight, or the router cannot say (undefined: the route's rules disagree, not yet accepted). */
  | { kind: 'editWeight'; weight: number | undefined }
  /** The router reports a problem (its object is gone, say), or stops reporting one. */
  | { kind: 'trafficProblem'; problem: string | undefined }
  /** The wanted calls of one webhook type answer, 2xx or not. */
  | { kind: 'hook'; type: WebhookType; outcome: 'passed' | 'failed' }
  /** The controller restarts: every answer it held in memory is gone. */
  | { kind: 'restart' }
  /** A person asks for every pod to be recreated (spec.restartAt, as `kubectl fledge restart` writes it). */
  | { kind: 'restartPods' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'settleOne' as const }) },
  { weight: 4, arbitrary: fc.constantFrom(1_000, 30_000, 300_000, 3_600_000, 800 * 3_600_000).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 2, arbitrary: fc.constantFrom('api:1', 'api:2', 'api:3').map((image) => ({ kind: 'image' as const, image })) },
  { weight: 1, arbitrary: steps.map((edited) => ({ kind: 'steps' as const, steps: edited })) },
  { weight: 2, arbitrary: fc.constantFrom<'step' | 'full'>('step', 'full').map((how) => ({ kind: 'promote' as const, how })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'retry' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('verdict' as const), slot: fc.constantFrom<'step' | 'background' | 'experiment'>('step', 'background', 'experiment'), phase }) },
  { weight: 1, arbitrary: fc.boolean().map((paused) => ({ kind: 'paused' as const, paused })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lostWrite' as const }) },
  { weight: 1, arbitrary: fc.boolean().map((exists) => ({ kind: 'template' as const, exists })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restartPods' as const }) },
);

// A routed step needs pods, then the weight written, then the weight taken up: worlds settle more often, or few get anywhere.
const routedAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 10, arbitrary: action },
  { weight: 8, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'takeUp' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'pods' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'promote' as const, how: 'full' as const }) },
  { weight: 1, arbitrary: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }).map((weight) => ({ kind: 'editWeight' as const, weight })) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 'HTTPRoute shop/api not found').map((problem) => ({ kind: 'trafficProblem' as const, problem })) },
);

const scenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  analysisRunHistoryLimit: fc.constantFrom(undefined, 0, 1),
  baseline: fc.boolean(),
  rollbackWindow: fc.constantFrom(undefined, 1, 2),
  maxSurge: fc.constantFrom<CanaryStrategy['maxSurge']>('25%', 0, 1, 2, '50%'),
  maxUnavailable: fc.constantFrom<CanaryStrategy['maxUnavailable']>(0, 1, '25%'),
  stableService: fc.boolean(),
  background: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  steps,
  actions: fc.array(action, { minLength: 1, maxLength: 40 }),
});

/** Worlds behind a traffic router: the same people and pods, plus a data plane that lags, fails and is edited by hand. */
const routedScenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  maxSurge: fc.constantFrom<CanaryStrategy['maxSurge']>('25%', 0, 1),
  maxUnavailable: fc.constantFrom<CanaryStrategy['maxUnavailable']>(0, 1, '25%'),
  dynamicStableScale: fc.boolean(),
  /** The judge's baseline, a third destination beside the canary. */
  baseline: fc.boolean(),
  scaleDownDelaySeconds: fc.constantFrom(undefined, 0, 10),
  scaleDownDelayRevisionLimit: fc.constantFrom(undefined, 0, 1),
  abortScaleDownDelaySeconds: fc.constantFrom(undefined, 0, 10),
  background: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  steps: routedSteps,
  actions: fc.array(routedAction, { minLength: 15, maxLength: 40 }),
});

/**
 * Worlds behind ALB with pingPong (and, in some, Istio beside it on stableService and canaryService, as Argo's
 * albmesh), some with the judge's baseline as a third destination while the stable side changes hands.
 */
const pingPongScenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  maxSurge: fc.constantFrom<CanaryStrategy['maxSurge']>('25%', 1),
  maxUnavailable: fc.constantFrom<CanaryStrategy['maxUnavailable']>(0, 1),
  dynamicStableScale: fc.boolean(),
  mesh: fc.boolean(),
  baseline: fc.boolean(),
  scaleDownDelaySeconds: fc.constantFrom(undefined, 0, 10),
  background: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  steps: fc.array(fc.oneof({ weight: 3, arbitrary: step }, { weight: 2, arbitrary: fc.record({ setWeight: fc.integer({ min: 0, max: 100 }) }) }), { minLength: 1, maxLength: 6 }),
  actions: fc.array(routedAction, { minLength: 15, maxLength: 40 }),
});

/** One hook of each type that decides something; gates and failures answer often, so canaries get past them and abort. */
const HOOK_TYPES: WebhookType[] = ['confirm-rollout', 'pre-rollout', 'confirm-traffic-increase', 'rollout', 'confirm-promotion', 'rollback'];
const hookAction: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('hook' as const),
  type: fc.constantFrom(...HOOK_TYPES),
  outcome: fc.constantFrom<'passed' | 'failed'>('passed', 'passed', 'passed', 'failed'),
});
const hookedScenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  maxSurge: fc.constantFrom<CanaryStrategy['maxSurge']>('25%', 1),
  maxUnavailable: fc.constantFrom<CanaryStrategy['maxUnavailable']>(0, 1),
  background: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  steps,
  hooks: fc.subarray(HOOK_TYPES, { minLength: 1 }).map((types) => types.map((type): CanaryWebhook => ({ name: type, type, url: `http://hooks.test/${type}` }))),
  actions: fc.array(
    fc.oneof({ weight: 10, arbitrary: action }, { weight: 8, arbitrary: hookAction }, { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) }),
    { minLength: 10, maxLength: 40 },
  ),
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
      const running = [...cluster.runs.values()].find((run) => run.kind === 'experiment' && (run.phase ?? 'Running') === 'Running');
      const name = act.slot === 'step' ? status.stepAnalysisRun : act.slot === 'background' ? status.backgroundAnalysisRun : running?.name;
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
    case 'takeUp':
      return cluster.takeUpTraffic();
    case 'pods':
      return cluster.settlePods();
    case 'editWeight':
      return cluster.editTraffic(act.weight);
    case 'trafficProblem':
      cluster.trafficProblem = act.problem;
      return;
    case 'hook':
      return cluster.answer(act.type, act.outcome);
    case 'restart':
      cluster.webhookResults.clear();
      return;
    case 'restartPods':
      return cluster.setSpec({ restartAt: new Date(cluster.now).toISOString() });
  }
}

/** Performs each action, then one reconcile checked against every invariant, applied as the shell would apply it. */
function explore(cluster: FakeCluster, actions: readonly Action[], afterEach?: () => void): number {
  let reconciles = 0;
  cluster.checkBudgets = false;
  for (const act of [{ kind: 'settle' as const }, ...actions]) {
    perform(cluster, act);
    const facts = cluster.facts();
    const plan = decide(facts);
    reconciles++;
    const violations = rolloutViolations(facts, plan);
    if (violations.length > 0) {
      const brief = ({ conditions: _conditions, ...rest }: typeof plan.status = {}) => JSON.stringify(rest);
      const traffic = facts.traffic === undefined ? '' : `\ntraffic: ${JSON.stringify(facts.traffic)} target ${JSON.stringify(plan.traffic?.canaryWeight)}`;
      throw new Error(
        `after ${act.kind}: ${violations.join('; ')}\nstatus before: ${brief(facts.rollout.status)}\nplan status: ${brief(plan.status)}` +
          `\nreplicaSets: ${JSON.stringify(facts.replicaSets.map((rs) => [rs.revision, rs.replicas, rs.availableReplicas, rs.scaleDownAt]))}${traffic}`,
      );
    }
    if (act.kind !== 'lostWrite') {
      cluster.apply(plan);
      cluster.applyRuns(plan);
      const runs = plan.analysisRunChanges;
      restarts += plan.events.filter((event) => event.reason === 'RolloutRestarted').length;
      if (plan.baseline.changes.some((change) => change.kind === 'create')) baselined++;
      if (plan.events.some((event) => event.reason === 'ExperimentCompleted')) experimented++;
      if (plan.events.some((event) => event.reason === 'RolloutAborted' && event.message.includes('experiment'))) experimentAborts++;
      const carried = (facts.traffic?.additionalDestinations ?? []).filter((destination) => (destination.weight ?? 0) > 0);
      if (carried.some((destination) => destination.serviceName !== BASELINE_SERVICE)) experimentsRouted++;
      if (carried.some((destination) => destination.serviceName === BASELINE_SERVICE)) baselinesRouted++;
      if (plan.baseline.services.delete.length > 0) baselineServicesRemoved++;
      pruned += runs.delete.length;
      // The promote and abort requests are consumed by the reconcile that acted on them.
      if (plan.status.promote === undefined) delete cluster.rollout.status?.promote;
      afterEach?.();
    }
  }
  return reconciles;
}

/** A pretend cluster for a generated world: its size, steps, scaling limits and background analysis, and `canary` on top. */
function clusterFor(
  world: { replicas: number; steps: CanaryStep[]; maxSurge: CanaryStrategy['maxSurge']; maxUnavailable: CanaryStrategy['maxUnavailable']; background: number | undefined },
  canary: Partial<CanaryStrategy>,
): FakeCluster {
  return new FakeCluster(
    makeRollout({
      replicas: world.replicas,
      steps: world.steps,
      canary: {
        maxSurge: world.maxSurge,
        maxUnavailable: world.maxUnavailable,
        ...(world.background !== undefined && { analysis: { ...ANALYSIS, startingStep: world.background } }),
        ...canary,
      },
    }),
  );
}

let worlds = 0;
/** Baseline ReplicaSets created, and experiment steps completed or aborted, across the worlds explored. */
let baselined = 0;
let experimented = 0;
let experimentAborts = 0;
/** Reconciles in which a router reported traffic on an experiment's Services, or on the baseline's. */
let experimentsRouted = 0;
let baselinesRouted = 0;
/** Reconciles that removed a baseline's Service (once the router let go of it). */
let baselineServicesRemoved = 0;
const BASELINE_SERVICE = 'api-baseline';
/** Restarts completed and AnalysisRuns deleted across the worlds explored, so a test can say they were exercised. */
let restarts = 0;
let pruned = 0;
/**
 * Lets the worker's event loop run every few worlds. Thousands of worlds in one synchronous stretch starved the
 * worker's RPC to vitest on a loaded 2-core machine ("Timeout calling onTaskUpdate": every test passed, the run failed).
 */
async function breathe(): Promise<void> {
  if (++worlds % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
}

describe('rollout core properties', () => {
  it('keeps every invariant of src/rollout/decide/invariants.ts after every generated event', async () => {
    let reconciles = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (world) => {
        await breathe();
        const services = world.stableService ? { stableService: 'api-stable', canaryService: 'api-canary' } : {};
        const cluster = clusterFor(world, {
          ...services,
          ...(world.analysisRunHistoryLimit !== undefined && { analysisRunHistoryLimit: world.analysisRunHistoryLimit }),
          ...(world.baseline && { baseline: { metadata: { labels: { role: 'baseline' } } } }),
        });
        if (world.rollbackWindow !== undefined) cluster.rollout.spec.rollbackWindow = { revisions: world.rollbackWindow };
        reconciles += explore(cluster, world.actions);
      }),
      propertyParameters(3000),
    );
    expect(reconciles).toBeGreaterThan(1000);
    expect(baselined, 'baselines were started beside canaries in some worlds').toBeGreaterThan(10);
    expect(experimented, 'experiment steps ran to completion in some worlds').toBeGreaterThan(10);
    expect(experimentAborts, 'experiments aborted canaries (a failed run, pods never available) in some worlds').toBeGreaterThan(10);
    expect(restarts, 'restarts (spec.restartAt) ran to completion in some worlds').toBeGreaterThan(10);
    expect(pruned, 'AnalysisRuns were deleted (afresh or beyond the history limit) in some worlds').toBeGreaterThan(10);
  }, 120_000);

  it('keeps every invariant, gates and rollback included, in worlds with webhooks that answer, fail and are forgotten at restarts', async () => {
    let reconciles = 0;
    let gated = 0;
    await fc.assert(
      fc.asyncProperty(hookedScenario, async (world) => {
        await breathe();
        const cluster = clusterFor(world, { webhooks: world.hooks });
        reconciles += explore(cluster, world.actions);
        if (cluster.status.webhooks?.waitingFor !== undefined) gated++;
      }),
      // Fewer worlds than the first property: it is the slowest per world.
      propertyParameters(800),
    );
    expect(reconciles).toBeGreaterThan(1000);
    expect(gated, 'some worlds end waiting at a gate').toBeGreaterThan(25);
  }, 120_000);

  it('keeps every invariant in worlds behind a traffic router that lags, fails and is edited by hand', async () => {
    let reconciles = 0;
    let routedSteps = 0;
    await fc.assert(
      fc.asyncProperty(routedScenario, async (world) => {
        await breathe();
        const cluster = clusterFor(world, {
          stableService: 'api-stable',
          canaryService: 'api-canary',
          trafficRouting: { gatewayAPI: { httpRoute: 'api' }, managedRoutes: MANAGED_ROUTES },
          dynamicStableScale: world.dynamicStableScale,
          ...(world.baseline && { baseline: {} }),
          ...(world.scaleDownDelaySeconds !== undefined && { scaleDownDelaySeconds: world.scaleDownDelaySeconds }),
          ...(world.scaleDownDelayRevisionLimit !== undefined && { scaleDownDelayRevisionLimit: world.scaleDownDelayRevisionLimit }),
          ...(world.abortScaleDownDelaySeconds !== undefined && { abortScaleDownDelaySeconds: world.abortScaleDownDelaySeconds }),
        });
        cluster.hasTrafficRouter = true;
        reconciles += explore(cluster, world.actions);
        routedSteps += cluster.status.currentStepIndex ?? 0;
      }),
      propertyParameters(600),
    );
    expect(reconciles).toBeGreaterThan(1000);
    // The worlds get somewhere: canaries past their first steps, not only rollouts stuck at step 0.
    expect(routedSteps).toBeGreaterThan(600);
    expect(experimentsRouted, 'routers carried experiment weights in some reconciles').toBeGreaterThan(50);
    expect(baselinesRouted, 'routers carried a baseline’s share in some reconciles').toBeGreaterThan(30);
    expect(baselineServicesRemoved, 'baseline Services were removed once the router let go, in some worlds').toBeGreaterThan(30);
  }, 120_000);

  it('keeps every invariant, pingPong’s included, in worlds behind ALB with ping and pong Services taking turns', async () => {
    let reconciles = 0;
    let swaps = 0;
    let aborted = 0;
    const baselinesRoutedBefore = baselinesRouted;
    await fc.assert(
      fc.asyncProperty(pingPongScenario, async (world) => {
        await breathe();
        const cluster = clusterFor(world, {
          pingPong: { pingService: 'api-ping', pongService: 'api-pong' },
          trafficRouting: {
            alb: { ingress: 'api', servicePort: 80, rootService: 'api-root' },
            ...(world.mesh && { istio: { virtualService: { name: 'api' } } }),
          },
          ...(world.mesh && { stableService: 'api-stable', canaryService: 'api-canary' }),
          dynamicStableScale: world.dynamicStableScale,
          ...(world.scaleDownDelaySeconds !== undefined && { scaleDownDelaySeconds: world.scaleDownDelaySeconds }),
          ...(world.baseline && { baseline: {} }),
        });
        cluster.hasTrafficRouter = true;
        let side = cluster.status.canary?.stablePingPong;
        const watchSwaps = (): void => {
          const now = cluster.status.canary?.stablePingPong;
          if (side !== undefined && now !== side) swaps++;
          side = now;
        };
        reconciles += explore(cluster, world.actions, watchSwaps);
        if (cluster.status.abort === true) aborted++;
      }),
      propertyParameters(400),
    );
    expect(reconciles).toBeGreaterThan(1000);
    expect(swaps, 'the stable side changed hands in some worlds').toBeGreaterThan(20);
    expect(aborted, 'some worlds end aborted').toBeGreaterThan(10);
    expect(baselinesRouted - baselinesRoutedBefore, 'ALB carried a baseline’s share beside ping and pong in some reconciles').toBeGreaterThan(20);
  }, 120_000);
});
