import { describe, expect, it } from 'vitest';
import { CanaryStrategy, type CanaryStep, type ExperimentStep } from '../../../src/api/rollout.js';
import { LABEL_ANALYSIS_KIND, LABEL_EXPERIMENT_TEMPLATE, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../../../src/api/labels.js';
import { validateAgainstCrd } from '../../../src/cli/crd-schema.js';
import type { RolloutPlan } from '../../../src/rollout/decide/plan.js';
import { experimentPodTemplateHash } from '../../../src/rollout/decide/revision.js';
import { FakeCluster, MINUTE, makeRollout, revisionOf } from './fake-cluster.js';

const TEMPLATES: ExperimentStep['templates'] = [
  { name: 'baseline', specRef: 'stable' },
  { name: 'canary', specRef: 'canary', replicas: 2, metadata: { labels: { variant: 'canary' }, annotations: { team: 'payments' } } },
];
const COMPARE = {
  name: 'compare',
  templateName: 'mann-whitney',
  args: [
    { name: 'baseline-hash', value: '{{templates.baseline.podTemplateHash}}' },
    { name: 'canary-hash', value: 'pod_template_hash="{{ templates.canary.podTemplateHash }}"' },
    { name: 'stable-hash', valueFrom: { podTemplateHashValue: 'Stable' as const } },
    { name: 'canary-rs', value: '{{templates.canary.replicaset.name}}' },
  ],
};
const MANN_WHITNEY = {
  args: [{ name: 'baseline-hash' }, { name: 'canary-hash' }, { name: 'stable-hash' }, { name: 'canary-rs' }],
  metrics: [
    { name: 'latency', provider: { prometheus: { address: 'http://prom', query: 'q' } }, successCondition: 'result < 1.0' },
    { name: 'errors-shadow', provider: { prometheus: { address: 'http://prom', query: 'q' } }, successCondition: 'result < 1.0' },
  ],
};

function world(experiment: Partial<ExperimentStep>, steps: (step: CanaryStep) => CanaryStep[] = (step) => [{ setWeight: 20 }, step, { pause: {} }]): FakeCluster {
  const step: CanaryStep = { experiment: { templates: TEMPLATES, ...experiment } };
  const cluster = new FakeCluster(makeRollout({ replicas: 4, steps: steps(step), canary: { stableMetadata: { labels: { role: 'stable' } } } }));
  cluster.converge();
  return cluster;
}

/** One reconcile, applied with its AnalysisRun writes, and the pods given time to come up when `settle`. */
function tick(cluster: FakeCluster, settle = true): RolloutPlan {
  const plan = cluster.decide();
  cluster.apply(plan);
  cluster.applyRuns(plan);
  if (settle) cluster.settle();
  return plan;
}

/** Reconciles (pods coming up each time) until one starts the experiment; that reconcile's plan. */
function untilStarted(cluster: FakeCluster): RolloutPlan {
  for (let i = 0; i < 10; i++) {
    const plan = tick(cluster, false);
    if (plan.events.some((event) => event.reason === 'ExperimentStarted')) return plan;
    cluster.settle();
  }
  throw new Error('the experiment never started');
}

const runName = (analysis: string, stepIndex = 1): string => `api-${revisionOf('api:2')}-1-s${stepIndex}-${analysis}`;

describe('decide: the experiment step', () => {
  it('runs a ReplicaSet per template under its own hash, starts the analysis once every pod is available, and ends after its duration', () => {
    const cluster = world({ duration: '10m', analyses: [COMPARE], dryRun: [{ metricName: 'shadow$' }], analysisRunMetadata: { labels: { team: 'payments' } } });
    cluster.templates = { 'AnalysisTemplate mann-whitney': MANN_WHITNEY };
    cluster.setImage('api:2');
    const started = untilStarted(cluster);
    expect(started.status.currentStepIndex).toBe(1);
    const [baseline, canary] = started.experiment.changes;
    if (baseline?.kind !== 'create' || canary?.kind !== 'create') throw new Error('two ReplicaSets are created');
    const id = `${revisionOf('api:2')}-1-s1`;
    expect(baseline.replicaSet.metadata?.name).toBe(`api-${id}-baseline`);
    expect(baseline.revision).toBe(experimentPodTemplateHash('api', id, 'baseline'));
    expect(baseline.revision).not.toBe(revisionOf('api:1'));
    // The stable's template without stableMetadata; its own hash in the selector, so no Service of the Rollout picks its pods.
    expect(baseline.replicaSet.spec?.template?.spec?.containers[0]?.image).toBe('api:1');
    expect(baseline.replicaSet.spec?.template?.metadata?.labels).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: baseline.revision, [LABEL_ROLE]: 'experiment', [LABEL_EXPERIMENT_TEMPLATE]: 'baseline' });
    expect(baseline.replicaSet.spec?.selector.matchLabels).toEqual({ app: 'api', [LABEL_POD_TEMPLATE_HASH]: baseline.revision });
    expect(baseline.replicaSet.spec?.replicas).toBe(1);
    expect(baseline.replicaSet.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name: 'api', controller: true });
    expect(canary.replicaSet.spec?.template?.spec?.containers[0]?.image).toBe('api:2');
    expect(canary.replicaSet.spec?.replicas).toBe(2);
    expect(canary.replicaSet.spec?.template?.metadata).toMatchObject({ labels: { variant: 'canary', [LABEL_EXPERIMENT_TEMPLATE]: 'canary' }, annotations: { team: 'payments' } });
    expect(started.experiment.services.create).toEqual([]);
    // No run until every pod is available: the duration has not started either.
    expect(started.analysisRunChanges.create).toEqual([]);
    expect(started.status.experiment).toEqual({ step: 1, startedAt: new Date(cluster.now).toISOString() });
    expect(started.status.message).toContain('starting its ReplicaSets: 0/2');
    expect(started.requeueAfterMs).toBe(10 * MINUTE);

    cluster.settle();
    cluster.advance(5_000);
    const running = tick(cluster);
    expect(running.events.map((event) => event.reason)).toEqual(['ExperimentRunning']);
    expect(running.status.experiment?.availableAt).toBe(new Date(cluster.now).toISOString());
    expect(running.requeueAfterMs).toBe(10 * MINUTE);
    const [run] = running.analysisRunChanges.create;
    expect(run?.kind).toBe('experiment');
    expect(run?.run.metadata).toMatchObject({ name: runName('compare'), labels: { team: 'payments', [LABEL_ANALYSIS_KIND]: 'experiment' } });
    expect(run?.run.spec.args).toEqual([
      { name: 'baseline-hash', value: baseline.revision },
      { name: 'canary-hash', value: `pod_template_hash="${canary.revision}"` },
      { name: 'stable-hash', value: revisionOf('api:1') },
      { name: 'canary-rs', value: `api-${id}-canary` },
    ]);
    expect(run?.run.spec.metrics.map((metric) => [metric.name, metric.dryRun === true])).toEqual([
      ['latency', false],
      ['errors-shadow', true],
    ]);
    expect(run?.run.spec.invalidReason).toBeUndefined();

    // A run still measuring does not hold the step past its duration: without a required analysis, time ends it.
    cluster.advance(10 * MINUTE - 1);
    expect(tick(cluster).status.currentStepIndex).toBe(1);
    cluster.advance(1);
    const done = tick(cluster);
    expect(done.events.map((event) => event.reason)).toEqual(['ExperimentCompleted', 'RolloutStepCompleted', 'RolloutPaused']);
    expect(done.events[0]?.message).toContain('its duration (10m) passed');
    expect(done.status.currentStepIndex).toBe(2);
    expect(done.status.experiment).toBeUndefined();
    expect(done.experiment.delete.sort()).toEqual([`api-${id}-baseline`, `api-${id}-canary`]);
    expect(done.analysisRunChanges.delete).toEqual([{ name: runName('compare'), why: 'an experiment run whose step is over' }]);
    expect(cluster.experimentReplicaSets).toEqual([]);
    expect(cluster.runs.size).toBe(0);
  });

  it('with a required analysis, ends when it succeeds, before the duration or long after it', () => {
    for (const late of [false, true]) {
      const cluster = world({ duration: '10m', analyses: [{ name: 'smoke', templateName: 'mann-whitney', requiredForCompletion: true }, { name: 'side', templateName: 'mann-whitney' }] });
      cluster.setImage('api:2');
      for (let i = 0; i < 4; i++) tick(cluster);
      expect(cluster.status.experiment?.availableAt).toBeDefined();
      expect([...cluster.runs.keys()].sort()).toEqual([runName('side'), runName('smoke')]);
      cluster.advance(late ? 60 * MINUTE : MINUTE);
      expect(tick(cluster).status.currentStepIndex, 'a required run still measuring holds the step').toBe(1);
      expect(cluster.status.message).toContain('running until its required analyses (smoke) succeed');
      cluster.runs.set(runName('smoke'), { name: runName('smoke'), phase: 'Successful', kind: 'experiment' });
      const done = tick(cluster);
      expect(done.events[0]?.message).toContain('its required analyses (smoke) succeeded');
      expect(done.status.currentStepIndex).toBe(2);
      expect(done.analysisRunChanges.delete.map((run) => run.name).sort()).toEqual([runName('side'), runName('smoke')]);
    }
  });

  it('aborts when a run fails, removing its ReplicaSets and runs in the same reconcile', () => {
    const cluster = world({ duration: '1h', analyses: [{ name: 'compare', templateName: 'mann-whitney' }] });
    cluster.setImage('api:2');
    for (let i = 0; i < 4; i++) tick(cluster);
    cluster.runs.set(runName('compare'), { name: runName('compare'), phase: 'Failed', message: 'latency: 1.4 failed result < 1.0', kind: 'experiment' });
    cluster.checkBudgets = false;
    const aborted = tick(cluster);
    expect(aborted.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(aborted.status.message).toBe(`aborted: analysis failed at step 1/3 (experiment 1h): experiment analysis compare: latency: 1.4 failed result < 1.0`);
    expect(aborted.events.find((event) => event.reason === 'RolloutAborted')?.cause).toBe('Analysis');
    expect(aborted.experiment.delete).toHaveLength(2);
    expect(aborted.analysisRunChanges.delete.map((run) => run.name)).toEqual([runName('compare')]);
    expect(cluster.experimentReplicaSets).toEqual([]);
  });

  it('holds on an inconclusive run with the run kept and the pods gone, and a promote moves past it', () => {
    const cluster = world({ analyses: [{ name: 'compare', templateName: 'mann-whitney' }] });
    cluster.setImage('api:2');
    for (let i = 0; i < 4; i++) tick(cluster);
    cluster.runs.set(runName('compare'), { name: runName('compare'), phase: 'Inconclusive', message: 'too few samples', kind: 'experiment' });
    const held = tick(cluster);
    expect(held.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(cluster.condition('Paused')).toEqual({ status: 'True', reason: 'AnalysisHold' });
    expect(held.analysisRunChanges.delete).toEqual([]);
    expect(cluster.experimentReplicaSets).toEqual([]);
    cluster.patchStatus({ promote: 'step' });
    const promoted = tick(cluster);
    expect(promoted.status).toMatchObject({ currentStepIndex: 2 });
    expect(promoted.analysisRunChanges.delete.map((run) => run.name)).toEqual([runName('compare')]);
  });

  it('without a duration or a required analysis, waits for a promote; a full promote ends it too', () => {
    for (const how of ['step', 'full'] as const) {
      const cluster = world({});
      cluster.setImage('api:2');
      for (let i = 0; i < 4; i++) tick(cluster);
      cluster.advance(100 * 60 * MINUTE);
      expect(tick(cluster).status.message).toContain('running until promoted');
      expect(cluster.experimentReplicaSets).toHaveLength(2);
      cluster.patchStatus({ promote: how });
      cluster.converge();
      expect(cluster.status.currentStepIndex).toBe(how === 'step' ? 2 : 3);
      expect(cluster.experimentReplicaSets).toEqual([]);
    }
  });

  it('aborts when its pods are not all available within progressDeadlineSeconds, as Argo fails the experiment', () => {
    const cluster = world({ duration: '1m' });
    cluster.setImage('api:2');
    untilStarted(cluster);
    expect(cluster.experimentReplicaSets).toHaveLength(2);
    cluster.advance(10 * MINUTE - 1);
    expect(tick(cluster, false).status.abort).toBeUndefined();
    cluster.advance(1);
    cluster.checkBudgets = false;
    const aborted = tick(cluster, false);
    expect(aborted.status.message).toBe('aborted: experiment failed at step 1/3 (experiment 1m): its pods were not all available within progressDeadlineSeconds (600s)');
    expect(aborted.events.find((event) => event.reason === 'RolloutAborted')?.cause).toBe('Experiment');
    expect(cluster.experimentReplicaSets).toEqual([]);
  });

  it('resumes from status after a restart: the duration counts from the availableAt it recorded', () => {
    const cluster = world({ duration: '10m' });
    cluster.setImage('api:2');
    for (let i = 0; i < 4; i++) tick(cluster);
    const availableAt = cluster.status.experiment?.availableAt;
    // A new controller knows only what the API objects say: the same status, the same ReplicaSets.
    const restarted = new FakeCluster(structuredClone(cluster.rollout));
    Object.assign(restarted, { now: cluster.now + 9 * MINUTE, replicaSets: structuredClone(cluster.replicaSets), experimentReplicaSets: structuredClone(cluster.experimentReplicaSets) });
    const resumed = tick(restarted);
    expect(resumed.experiment.changes).toEqual([]);
    expect(resumed.status.experiment?.availableAt).toBe(availableAt);
    expect(resumed.requeueAfterMs).toBe(MINUTE);
    restarted.advance(MINUTE);
    expect(tick(restarted).status.currentStepIndex).toBe(2);
  });

  it('makes a Service for a template that asks for one, selecting only its pods, and removes it with the step', () => {
    const cluster = new FakeCluster(makeRollout({ replicas: 2, steps: [{ experiment: { duration: '1m', templates: [{ name: 'preview', specRef: 'canary', service: {} }, { name: 'named', specRef: 'canary', service: { name: 'api-preview' } }] } }] }));
    cluster.rollout.spec.template.spec = { containers: [{ name: 'api', image: 'api:1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] };
    cluster.converge();
    cluster.setImage('api:2');
    cluster.rollout.spec.template.spec = { containers: [{ name: 'api', image: 'api:2', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] };
    const started = untilStarted(cluster);
    const [preview, named] = started.experiment.services.create;
    const id = `${cluster.status.currentRevision}-1-s0`;
    expect(preview?.metadata?.name).toBe(`api-${id}-preview`);
    expect(named?.metadata?.name).toBe('api-preview');
    expect(preview?.spec).toEqual({
      selector: { app: 'api', [LABEL_POD_TEMPLATE_HASH]: experimentPodTemplateHash('api', id, 'preview') },
      ports: [{ name: 'http', protocol: 'TCP', port: 8080, targetPort: 8080 }],
    });
    expect(cluster.experimentServices.map((service) => service.name).sort()).toEqual(['api-preview', `api-${id}-preview`]);
    cluster.settle();
    cluster.converge();
    expect(cluster.status.experiment?.availableAt).toBeDefined();
    cluster.advance(MINUTE);
    cluster.converge();
    expect(cluster.status.phase).toBe('Healthy');
    expect(cluster.experimentServices).toEqual([]);
  });

  it('gives Argo’s canary-preview labels: the template’s labels override the pod template’s and join its selector', () => {
    const cluster = new FakeCluster(
      makeRollout({
        replicas: 2,
        steps: [{ experiment: { templates: [{ name: 'canary-preview', specRef: 'canary', selector: { matchLabels: { app: 'api-preview' } }, metadata: { labels: { app: 'api-preview' } } }] } }],
      }),
    );
    cluster.converge();
    cluster.setImage('api:2');
    const [change] = untilStarted(cluster).experiment.changes;
    if (change?.kind !== 'create') throw new Error('a ReplicaSet is created');
    expect(change.replicaSet.spec?.selector.matchLabels).toEqual({ app: 'api-preview', [LABEL_POD_TEMPLATE_HASH]: change.revision });
    expect(change.replicaSet.spec?.template?.metadata?.labels?.app).toBe('api-preview');
  });

  it('a placeholder that names nothing the experiment has makes its run invalid, saying what it could name', () => {
    const cluster = world({ analyses: [{ name: 'compare', templateName: 'mann-whitney', args: [{ name: 'baseline-hash', value: '{{templates.nosuch.podTemplateHash}}' }] }] });
    cluster.templates = { 'AnalysisTemplate mann-whitney': MANN_WHITNEY };
    cluster.setImage('api:2');
    let created: RolloutPlan['analysisRunChanges']['create'] = [];
    for (let i = 0; i < 4; i++) created = [...created, ...tick(cluster).analysisRunChanges.create];
    expect(created[0]?.run.spec.invalidReason).toContain('argument baseline-hash: {{templates.nosuch.podTemplateHash}} names nothing the experiment has (known: templates.baseline.podTemplateHash');
  });

  it('a new revision mid-experiment starts afresh: the old experiment goes, the new canary meets its own', () => {
    const cluster = world({ duration: '10m' }, (step) => [step]);
    cluster.setImage('api:2');
    for (let i = 0; i < 3; i++) tick(cluster);
    const before = cluster.experimentReplicaSets.map((rs) => rs.name);
    expect(before).toHaveLength(2);
    cluster.setImage('api:3');
    cluster.converge();
    expect(cluster.experimentReplicaSets.map((rs) => rs.name).some((name) => before.includes(name))).toBe(false);
    expect(cluster.experimentReplicaSets).toHaveLength(2);
  });
});

describe('decide: a weighted experiment behind a router', () => {
  function routed(): FakeCluster {
    const cluster = new FakeCluster(
      makeRollout({
        replicas: 4,
        steps: [
          { setWeight: 10 },
          { experiment: { duration: '5m', templates: [{ name: 'baseline', specRef: 'stable', weight: 5 }, { name: 'canary', specRef: 'canary', weight: 5 }] } },
          { setWeight: 50 },
        ],
        canary: { stableService: 'api-stable', canaryService: 'api-canary', trafficRouting: { gatewayAPI: { httpRoute: 'api' } } },
      }),
    );
    cluster.hasTrafficRouter = true;
    cluster.converge();
    return cluster;
  }
  const weights = (plan: RolloutPlan): Array<[string, number]> => (plan.traffic?.additionalDestinations ?? []).map((destination) => [destination.serviceName, destination.weight]);

  it('gives each template’s Service its weight once every pod is available, completes once the router has it, and keeps the pods until the router lets go', () => {
    const cluster = routed();
    cluster.setImage('api:2');
    const started = untilStarted(cluster);
    expect(weights(started), 'no weight before the pods are available').toEqual([]);
    expect(started.experiment.services.create.map((service) => service.spec?.ports)).toEqual([
      [{ name: 'http', port: 8080, targetPort: 8080 }],
      [{ name: 'http', port: 8080, targetPort: 8080 }],
    ]);
    cluster.settle();
    const running = tick(cluster, false);
    const id = `${revisionOf('api:2')}-1-s1`;
    expect(weights(running)).toEqual([
      [`api-${id}-baseline`, 5],
      [`api-${id}-canary`, 5],
    ]);
    expect(running.traffic?.canaryWeight).toBe(10);

    // The duration has passed, but the router has not taken the weights up: the step waits, as any routed step does.
    cluster.advance(5 * MINUTE);
    cluster.settlePods();
    expect(tick(cluster, false).status.currentStepIndex).toBe(1);
    cluster.takeUpTraffic();
    const done = tick(cluster, false);
    expect(done.status.currentStepIndex).toBe(2);
    expect(weights(done)).toEqual([]);
    // The router still sends them traffic: their pods and Services stay until it reports none.
    expect(done.experiment.delete).toEqual([]);
    expect(done.experiment.services.delete).toEqual([]);
    cluster.takeUpTraffic();
    const released = tick(cluster, false);
    expect(released.experiment.delete.sort()).toEqual([`api-${id}-baseline`, `api-${id}-canary`]);
    expect(released.experiment.services.delete.sort()).toEqual([`api-${id}-baseline`, `api-${id}-canary`]);
  });

  it('gives no weight to a template of no pods: its share stays with the stable', () => {
    const cluster = new FakeCluster(
      makeRollout({
        replicas: 4,
        steps: [{ experiment: { duration: '5m', templates: [{ name: 'idle', specRef: 'canary', replicas: 0, weight: 10 }] } }],
        canary: { stableService: 'api-stable', canaryService: 'api-canary', trafficRouting: { gatewayAPI: { httpRoute: 'api' } } },
      }),
    );
    cluster.hasTrafficRouter = true;
    cluster.converge();
    cluster.setImage('api:2');
    untilStarted(cluster);
    cluster.settle();
    const running = tick(cluster, false);
    expect(running.status.experiment?.availableAt).toBeDefined();
    expect(weights(running)).toEqual([]);
  });

  it('takes a template’s weight away while one of its pods is unavailable', () => {
    const cluster = routed();
    cluster.setImage('api:2');
    untilStarted(cluster);
    cluster.settle();
    tick(cluster);
    const lost = cluster.experimentReplicaSets.find((rs) => rs.name.endsWith('-canary'));
    if (lost === undefined) throw new Error('the canary template runs');
    lost.availableReplicas = 0;
    expect(weights(tick(cluster, false)).map(([service]) => service)).toEqual([cluster.experimentReplicaSets.find((rs) => rs.name.endsWith('-baseline'))?.name]);
  });
});

describe('the experiment step in the CRD', () => {
  const issues = (canary: Record<string, unknown>): string[] => {
    const rollout = {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'api' },
      spec: { selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:1' }] } }, strategy: { canary } },
    };
    return (validateAgainstCrd(rollout) ?? []).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('accepts Argo’s baseline-against-canary step', () => {
    expect(issues({ steps: [{ experiment: { duration: '1h', templates: [{ name: 'baseline', specRef: 'stable' }, { name: 'canary', specRef: 'canary' }], analyses: [{ name: 'mann-whitney', templateName: 'mann-whitney', args: [{ name: 'baseline-hash', value: '{{templates.baseline.podTemplateHash}}' }] }] } }] })).toEqual([]);
  });

  it('refuses template and analysis names that repeat, and a specRef other than stable or canary', () => {
    const twice = [{ name: 'a', specRef: 'stable' }, { name: 'a', specRef: 'canary' }];
    expect(issues({ steps: [{ experiment: { templates: twice } }] })).toEqual(['spec.strategy.canary.steps.0.experiment: experiment template names must be unique']);
    const analyses = [{ name: 'x', templateName: 't' }, { name: 'x', templateName: 'u' }];
    expect(issues({ steps: [{ experiment: { templates: [twice[0]], analyses } }] })).toEqual(['spec.strategy.canary.steps.0.experiment: experiment analysis names must be unique']);
    expect(issues({ steps: [{ experiment: { templates: [{ name: 'a', specRef: 'preview' }] } }] })[0]).toContain('must be one of "stable", "canary"');
  });

  it('takes weights only behind a router that routes to the templates’ Services', () => {
    const weighted = [{ setWeight: 10 }, { experiment: { templates: [{ name: 'a', specRef: 'canary', weight: 5 }] } }];
    expect(issues({ steps: weighted })).toEqual(['spec.strategy.canary: an experiment template weight needs trafficRouting: without a router its pods get no share of traffic']);
    const routed = (trafficRouting: Record<string, unknown>) => issues({ steps: weighted, stableService: 's', canaryService: 'c', trafficRouting });
    const refused = ['spec.strategy.canary: experiment template weights are routed by gatewayAPI, istio, alb and smi only: leave weight out with traefik, nginx, apisix or ambassador (alone or beside another router)'];
    expect(routed({ nginx: { stableIngress: 'web' } })).toEqual(refused);
    // Beside a router that cannot route to them, the templates' Services would get their share from one router only.
    expect(routed({ istio: { virtualService: { name: 'v' } }, ambassador: { mappings: ['m'] } })).toEqual(refused);
    for (const router of [{ gatewayAPI: { httpRoute: 'r' } }, { istio: { virtualService: { name: 'v' } } }, { alb: { ingress: 'i', servicePort: 80 } }, { smi: {} }]) expect(routed(router)).toEqual([]);
  });

  it('refuses weights their total cannot serve beside the canary, in the schema the controller parses with', () => {
    const steps = [{ setWeight: 60 }, { experiment: { templates: [{ name: 'a', specRef: 'stable', weight: 30 }, { name: 'b', specRef: 'canary', weight: 20 }] } }];
    const parsed = CanaryStrategy.safeParse({ steps });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe("steps[1].experiment: its templates' weights (50%) and the canary's 60% come to more than 100%");
  });
});
