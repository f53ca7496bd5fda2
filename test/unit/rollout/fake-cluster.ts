import { expect } from 'vitest';
import { API_VERSION, type CanaryStep, type CanaryStrategy, type Rollout, type RolloutStatus } from '../../../src/api/rollout.js';
import type { AnalysisPhase, AnalysisRunFacts, RoleServiceFacts, ReplicaSetFacts, RolloutFacts } from '../../../src/rollout/decide/facts.js';
import type { Announcement } from '../../../src/rollout/decide/machine.js';
import { decide, type RolloutPlan } from '../../../src/rollout/decide/plan.js';
import { podTemplateHash } from '../../../src/rollout/decide/revision.js';
import { pendingRestart, type PodFacts } from '../../../src/rollout/decide/restart.js';
import { mergePatch } from '../fake-kube.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_ANALYSIS_KIND, LABEL_POD_TEMPLATE_HASH } from '../../../src/api/labels.js';
import type { TrafficObservation } from '../../../src/traffic/types.js';
import type { PingPongSide } from '../../../src/rollout/decide/facts.js';
import { recordedStableSide, routerServices } from '../../../src/rollout/decide/services.js';
import { composeObservations } from '../../../src/traffic/router-set.js';
import { servingDestinations } from '../../../src/traffic/plan.js';
import type { WebhookCall, WebhookResult } from '../../../src/rollout/decide/hooks.js';

export const T0 = Date.parse('2026-03-01T12:00:00.000Z');
export const MINUTE = 60_000;

export interface RolloutOptions {
  replicas?: number;
  steps?: CanaryStep[];
  image?: string;
  canary?: Partial<CanaryStrategy>;
  paused?: boolean;
  progressDeadlineSeconds?: number;
  progressDeadlineAbort?: boolean;
  revisionHistoryLimit?: number;
}

export function makeRollout(options: RolloutOptions = {}): Rollout {
  return {
    apiVersion: API_VERSION,
    kind: 'Rollout',
    metadata: { name: 'api', namespace: 'shop', uid: 'uid-1', generation: 1 },
    spec: {
      ...(options.replicas !== undefined && { replicas: options.replicas }),
      selector: { matchLabels: { app: 'api' } },
      template: templateFor(options.image ?? 'api:1'),
      ...(options.paused !== undefined && { paused: options.paused }),
      ...(options.progressDeadlineSeconds !== undefined && { progressDeadlineSeconds: options.progressDeadlineSeconds }),
      ...(options.progressDeadlineAbort !== undefined && { progressDeadlineAbort: options.progressDeadlineAbort }),
      ...(options.revisionHistoryLimit !== undefined && { revisionHistoryLimit: options.revisionHistoryLimit }),
      strategy: { canary: { ...(options.steps !== undefined && { steps: options.steps }), ...options.canary } },
    },
  };
}

export function templateFor(image: string): Rollout['spec']['template'] {
  return { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image, ports: [{ name: 'http', containerPort: 8080 }] }] } };
}

export const revisionOf = (image: string): string => podTemplateHash(templateFor(image));

/**
 * A pretend cluster for decide(): it applies plans the way the shell and the ReplicaSet controller
 * would, makes pods available when told, and moves the clock. Every reconcile is checked for
 * idempotence: deciding again on the status it just wrote must change nothing and say nothing.
 */
export class FakeCluster {
  now = T0;
  replicaSets: ReplicaSetFacts[] = [];
  /** The baseline ReplicaSets and Services, kept apart as the shell's observer keeps them. */
  baselines: ReplicaSetFacts[] = [];
  baselineServices: RoleServiceFacts[] = [];
  /** An experiment step's ReplicaSets and Services, kept apart likewise. */
  experimentReplicaSets: ReplicaSetFacts[] = [];
  experimentServices: RoleServiceFacts[] = [];
  /** What the run named by status.stepAnalysisRun says, as the shell would read it from the cache. */
  stepAnalysisPhase: AnalysisPhase | undefined;
  /** Likewise for status.backgroundAnalysisRun. */
  backgroundAnalysisPhase: AnalysisPhase | undefined;
  analysisMessage = 'success-rate: 0.8 failed result >= 0.95';
  hasTrafficRouter = false;
  /**
   * With a router: what it reports in effect. A plan's traffic target is written by `apply` and taken up by the
   * data plane at `settle`, as a real proxy takes it up a moment after the write.
   */
  traffic: TrafficObservation = { canaryWeight: 0, headerRoutes: [], mirrorRoutes: [] };
  private written: TrafficObservation | undefined;
  /**
   * pingPong: each router's data plane, the weight on the Service it was told is the canary side (the roles swap, and
   * each router of several has its own Services); and what each Service selects, written at once, as the shell
   * patches Services before it routes.
   */
  private routerWeights = new Map<string, { canaryService: string | undefined; weight: number | undefined }>();
  private writtenRouterWeights: Map<string, { canaryService: string | undefined; weight: number | undefined }> | undefined;
  readonly serviceSelects = new Map<string, string | null>();
  /** When set, the router reports this problem instead of taking anything up. */
  trafficProblem: string | undefined;
  /** What the webhook runner last heard, by call key; the shell drops the results of calls a plan no longer wants. */
  readonly webhookResults = new Map<string, WebhookResult>();
  /** Templates that do not exist, as `AnalysisTemplate NAME`. */
  missingTemplates: string[] = [];
  /** The templates that exist and parse, by `AnalysisTemplate NAME`: a run's spec is built from them. */
  templates: RolloutFacts['templates'] = {};
  readonly events: Announcement[] = [];
  readonly plans: RolloutPlan[] = [];
  /** Checked on every applied plan unless an abort is expected to drop pods on purpose. */
  checkBudgets = true;

  constructor(public rollout: Rollout) {}

  get status(): RolloutStatus {
    return this.rollout.status ?? {};
  }

  /** Pods, modelled only for restarts (spec.restartAt): each ReplicaSet's count of them, the oldest ready first. */
  private readonly pods = new Map<string, PodFacts & { replicaSet: string }>();

  facts(): RolloutFacts {
    const restartAt = pendingRestart(this.rollout.spec.restartAt, this.status.restartedAt);
    return {
      ...(restartAt !== undefined && restartAt <= this.now && { pods: this.podsNow() }),
      now: this.now,
      rollout: structuredClone(this.rollout),
      template: structuredClone(this.rollout.spec.template),
      currentRevision: podTemplateHash(this.rollout.spec.template),
      templates: structuredClone(this.templates),
      serviceOwners: {},
      replicaSets: structuredClone(this.replicaSets),
      baselines: structuredClone(this.baselines),
      ...(this.rollout.spec.strategy.canary.baseline !== undefined && { baselineServices: structuredClone(this.baselineServices), stableServicePorts: this.stableServicePorts() }),
      experimentReplicaSets: structuredClone(this.experimentReplicaSets),
      experimentServices: structuredClone(this.experimentServices),
      analysisRuns: this.analysisRuns(),
      missingTemplates: [...this.missingTemplates],
      hasTrafficRouter: this.hasTrafficRouter,
      webhooks: structuredClone([...this.webhookResults.values()]),
      ...(this.hasTrafficRouter && {
        traffic: this.trafficProblem !== undefined ? { ...structuredClone(this.traffic), problem: this.trafficProblem } : this.observedTraffic(),
      }),
      ...(this.hasTrafficRouter && this.pingPong !== undefined && { serviceSelects: Object.fromEntries(this.serviceSelects), routedWith: this.routedWith() }),
    };
  }

  /** The stable Service, as a user writes it: port 80 on the pods' 8080. */
  private stableServicePorts(): NonNullable<RolloutFacts['stableServicePorts']> {
    const { stableService, pingPong } = this.rollout.spec.strategy.canary;
    return stableService === undefined && pingPong === undefined ? [] : [{ name: 'http', port: 80, targetPort: 8080 as unknown as NonNullable<RolloutFacts['stableServicePorts']>[number]['targetPort'] }];
  }

  private get pingPong(): CanaryStrategy['pingPong'] {
    return this.rollout.spec.strategy.canary.pingPong;
  }

  /** The side the observer reads the routers with: the one status recorded. */
  private routedWith(): PingPongSide {
    return recordedStableSide(this.status);
  }

  /** What the routers report: with pingPong, each router's weight on the Service it is read with as the canary side. */
  private observedTraffic(): TrafficObservation {
    const observed = structuredClone(this.traffic);
    if (this.pingPong === undefined) return observed;
    return composeObservations(
      routerServices(this.rollout.spec.strategy.canary, this.routedWith()).map(({ router, canaryService }) => {
        const state = this.routerWeights.get(router) ?? { canaryService, weight: observed.canaryWeight };
        const weight = state.weight === undefined || state.canaryService === canaryService ? state.weight : 100 - state.weight;
        return { router, observation: { canaryWeight: weight, headerRoutes: [], mirrorRoutes: [] } };
      }),
    );
  }

  /** The pods the ReplicaSets have now: new ones for missing pods, as many ready as each one has available. */
  private podsNow(): PodFacts[] {
    for (const rs of this.replicaSets) {
      const own = [...this.pods.values()].filter((pod) => pod.replicaSet === rs.name).sort((a, b) => a.createdAt - b.createdAt);
      for (const extra of own.slice(rs.replicas)) this.pods.delete(extra.name);
      for (let i = own.length; i < rs.replicas; i++) {
        const name = `${rs.name}-${this.now}-${i}`;
        own.push({ name, replicaSet: rs.name, createdAt: this.now, ready: false, terminating: false });
        this.pods.set(name, own[own.length - 1]!);
      }
      own.slice(0, rs.replicas).forEach((pod, index) => (pod.ready = index < rs.availableReplicas));
    }
    return [...this.pods.values()].filter((pod) => this.replicaSets.some((rs) => rs.name === pod.replicaSet)).map(({ replicaSet: _replicaSet, ...pod }) => ({ ...pod }));
  }

  /** Verdicts by run name, for tests that track several runs; they win over the two phases above. */
  readonly runs = new Map<string, AnalysisRunFacts>();

  private analysisRuns(): AnalysisRunFacts[] {
    const runs: AnalysisRunFacts[] = [];
    const { stepAnalysisRun, backgroundAnalysisRun } = this.status;
    if (stepAnalysisRun !== undefined && this.stepAnalysisPhase !== undefined) {
      runs.push({ name: stepAnalysisRun, phase: this.stepAnalysisPhase, message: this.analysisMessage });
    }
    if (backgroundAnalysisRun !== undefined && this.backgroundAnalysisPhase !== undefined) {
      runs.push({ name: backgroundAnalysisRun, phase: this.backgroundAnalysisPhase, message: this.analysisMessage });
    }
    return [...runs.filter((run) => !this.runs.has(run.name)), ...structuredClone([...this.runs.values()])];
  }

  /** decide() once, assert it is idempotent, and record the plan (not applied). */
  decide(): RolloutPlan {
    const facts = this.facts();
    const plan = decide(facts);
    const again = decide({ ...facts, rollout: { ...facts.rollout, status: plan.status } });
    expect(again.status, 'a second reconcile on the status just written changes nothing').toEqual(plan.status);
    expect(again.events, 'a second reconcile emits no events').toEqual([]);
    expect(again.replicaSets).toEqual(plan.replicaSets);
    expect(again.requeueAfterMs).toEqual(plan.requeueAfterMs);
    this.plans.push(plan);
    this.events.push(...plan.events);
    return plan;
  }

  apply(plan: RolloutPlan): void {
    const replicas = this.rollout.spec.replicas ?? 1;
    if (plan.traffic !== undefined && this.trafficProblem === undefined) {
      const stable = plan.services.find((service) => service.role === 'stable');
      const canary = plan.services.find((service) => service.role === 'canary');
      this.written = {
        canaryWeight: plan.traffic.canaryWeight,
        additionalDestinations: plan.traffic.additionalDestinations.map(({ serviceName, weight }) => ({ serviceName, weight })),
        headerRoutes: plan.traffic.headerRoutes.map((route) => route.name),
        mirrorRoutes: plan.traffic.mirrorRoutes.map((route) => route.name),
        stableSelects: stable !== undefined ? stable.revision : plan.traffic.stableRevision,
        canarySelects: canary !== undefined ? canary.revision : plan.traffic.canaryRevision,
      };
      const weight = plan.traffic.canaryWeight;
      this.writtenRouterWeights = new Map((plan.trafficRouters ?? []).map(({ router, canaryService }) => [router, { canaryService, weight }]));
    }
    if (this.pingPong !== undefined) for (const service of plan.services) this.serviceSelects.set(service.name, service.revision);
    if (this.checkBudgets) {
      const surge = Math.ceil(replicas * 0.25);
      const total = plan.replicaSets.reduce((sum, target) => sum + target.replicas, 0);
      const keptAvailable = plan.replicaSets.reduce((sum, target) => {
        const rs = this.replicaSets.find((candidate) => candidate.revision === target.revision);
        return sum + Math.min(rs?.availableReplicas ?? 0, target.replicas);
      }, 0);
      const availableBefore = this.replicaSets.reduce((sum, rs) => sum + rs.availableReplicas, 0);
      // A router splits traffic by itself: the canary's pods come on top of the stable ones.
      if (!this.hasTrafficRouter) expect(total, 'maxSurge respected').toBeLessThanOrEqual(Math.max(replicas + surge, this.replicaSets.reduce((sum, rs) => sum + rs.replicas, 0)));
      expect(keptAvailable, 'availability never drops below replicas (maxUnavailable 0)').toBeGreaterThanOrEqual(Math.min(replicas, availableBefore));
    }
    for (const target of plan.replicaSets) {
      const exists = this.replicaSets.some((rs) => rs.revision === target.revision);
      const created = plan.replicaSetChanges.some((change) => change.kind === 'create' && change.revision === target.revision);
      expect(exists || created, `ReplicaSet ${target.revision} is created only when the plan says so`).toBe(true);
    }
    // The plan's writes, as the apiserver and the ReplicaSet controller take them: nothing of the shell's rules here.
    for (const change of plan.replicaSetChanges) {
      if (change.kind === 'create') {
        const { metadata, spec } = change.replicaSet;
        this.replicaSets.push({
          name: metadata?.name ?? '',
          revision: change.revision,
          revisionNumber: Number(metadata?.annotations?.[ANNOTATION_REVISION]),
          replicas: spec?.replicas ?? 0,
          readyReplicas: 0,
          availableReplicas: 0,
          createdAt: this.now,
          ...(spec?.minReadySeconds !== undefined && { minReadySeconds: spec.minReadySeconds }),
          ...(spec?.template !== undefined && { template: structuredClone(spec.template) }),
        });
        continue;
      }
      const rs = this.replicaSets.find((candidate) => candidate.name === change.name);
      expect(rs, `ReplicaSet ${change.name} is patched only when it exists`).toBeDefined();
      if (rs === undefined) continue;
      const { spec, metadata } = change.patch;
      if (spec?.replicas !== undefined) rs.replicas = spec.replicas;
      if (spec?.minReadySeconds !== undefined) rs.minReadySeconds = spec.minReadySeconds;
      if (spec?.template !== undefined) rs.template = mergePatch(rs.template ?? {}, spec.template) as ReplicaSetFacts['template'];
      const scaleDownAt = metadata?.annotations[ANNOTATION_SCALE_DOWN_AT];
      if (scaleDownAt === null) delete rs.scaleDownAt;
      else if (scaleDownAt !== undefined) rs.scaleDownAt = Date.parse(scaleDownAt);
      // The reconciler caps observed availability at spec.replicas: scaled-down pods are gone at once.
      rs.availableReplicas = Math.min(rs.availableReplicas, rs.replicas);
      rs.readyReplicas = Math.min(rs.readyReplicas, rs.replicas);
    }
    // A deleted pod is gone at once; its ReplicaSet replaces it with one that is not yet available.
    for (const name of plan.podsToDelete) {
      const pod = this.pods.get(name);
      const rs = this.replicaSets.find((candidate) => candidate.name === pod?.replicaSet);
      expect(pod, `pod ${name} is deleted only when it exists`).toBeDefined();
      this.pods.delete(name);
      if (rs !== undefined && pod?.ready === true) {
        rs.availableReplicas = Math.max(0, rs.availableReplicas - 1);
        rs.readyReplicas = Math.max(0, rs.readyReplicas - 1);
      }
    }
    this.replicaSets = this.replicaSets.filter((rs) => !plan.deleteReplicaSets.includes(rs.name));
    this.applyBaseline(plan);
    this.applyExperiment(plan);
    this.rollout = { ...this.rollout, status: plan.status };
    this.wantedCalls = plan.webhooks;
    for (const key of this.webhookResults.keys()) if (!plan.webhooks.some((call) => call.key === key)) this.webhookResults.delete(key);
  }

  /**
   * The baseline's writes. Whatever the plan, a baseline exists only beside a canary in progress, with the canary's
   * size at that step, and never once the Rollout is stable or aborted.
   */
  private applyBaseline(plan: RolloutPlan): void {
    for (const change of plan.baseline.changes) {
      if (change.kind === 'create') {
        expect(this.baselines.some((rs) => rs.name === change.replicaSet.metadata?.name), 'a baseline is created once').toBe(false);
        this.baselines.push({ name: change.replicaSet.metadata?.name ?? '', revision: change.revision, revisionNumber: 0, replicas: change.replicaSet.spec?.replicas ?? 0, readyReplicas: 0, availableReplicas: 0, createdAt: this.now, template: structuredClone(change.replicaSet.spec?.template) });
        continue;
      }
      const rs = this.baselines.find((candidate) => candidate.name === change.name);
      expect(rs, `baseline ${change.name} is resized only when it exists`).toBeDefined();
      if (rs === undefined || change.patch.spec?.replicas === undefined) continue;
      rs.replicas = change.patch.spec.replicas;
      // Scaled-down pods are gone at once, as for the Rollout's own ReplicaSets.
      rs.availableReplicas = rs.readyReplicas = Math.min(rs.availableReplicas, rs.replicas);
    }
    this.baselines = this.baselines.filter((rs) => !plan.baseline.delete.includes(rs.name));
    this.baselineServices = this.baselineServices.filter((service) => !plan.baseline.services.delete.includes(service.name));
    for (const service of plan.baseline.services.create) {
      expect(this.baselineServices.some((known) => known.name === service.metadata?.name), 'a baseline Service is created once').toBe(false);
      this.baselineServices.push({ name: service.metadata?.name ?? '', revision: service.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '' });
    }
    // Only what the router still reports traffic on may outlive the canary, or keep more pods than it, until it reports none.
    const serving = this.baselineServices.length > 0 ? servingDestinations(this.facts().traffic) : [];
    const served = new Set(this.baselineServices.filter((service) => serving.includes(service.name)).map((service) => service.revision));
    const baselines = this.baselines.filter((rs) => !served.has(rs.revision));
    const services = this.baselineServices.filter((service) => !serving.includes(service.name));
    const { status } = plan;
    const canaryInProgress = status.abort !== true && status.currentRevision !== status.stableRevision;
    if (this.rollout.spec.strategy.canary.baseline === undefined || !canaryInProgress) {
      expect(baselines, 'no baseline without a canary in progress').toEqual([]);
      expect(services, 'no baseline Service without a canary in progress').toEqual([]);
      return;
    }
    expect(baselines.length, 'at most one baseline').toBeLessThanOrEqual(1);
    expect(services.length, 'at most one baseline Service').toBeLessThanOrEqual(1);
    const canary = plan.replicaSets.find((target) => target.revision === status.currentRevision);
    for (const baseline of baselines) expect(baseline.replicas, 'the baseline has the canary’s size').toBe(canary?.replicas ?? 0);
  }

  /**
   * The experiment's writes. Whatever the plan, experiment ReplicaSets and Services exist only while the canary runs
   * an experiment step, and no Service of the Rollout selects their pods.
   */
  private applyExperiment(plan: RolloutPlan): void {
    for (const change of plan.experiment.changes) {
      if (change.kind === 'create') {
        const { metadata, spec } = change.replicaSet;
        expect(this.experimentReplicaSets.some((rs) => rs.name === metadata?.name), 'an experiment ReplicaSet is created once').toBe(false);
        expect(metadata?.labels?.[LABEL_POD_TEMPLATE_HASH], 'an experiment ReplicaSet carries its own hash').toBe(change.revision);
        this.experimentReplicaSets.push({ name: metadata?.name ?? '', revision: change.revision, revisionNumber: 0, replicas: spec?.replicas ?? 0, readyReplicas: 0, availableReplicas: 0, createdAt: this.now, template: structuredClone(spec?.template) });
        continue;
      }
      const rs = this.experimentReplicaSets.find((candidate) => candidate.name === change.name);
      expect(rs, `experiment ReplicaSet ${change.name} is resized only when it exists`).toBeDefined();
      if (rs !== undefined && change.patch.spec?.replicas !== undefined) rs.replicas = change.patch.spec.replicas;
    }
    this.experimentReplicaSets = this.experimentReplicaSets.filter((rs) => !plan.experiment.delete.includes(rs.name));
    this.experimentServices = this.experimentServices.filter((service) => !plan.experiment.services.delete.includes(service.name));
    for (const service of plan.experiment.services.create) {
      expect(this.experimentServices.some((known) => known.name === service.metadata?.name), 'an experiment Service is created once').toBe(false);
      this.experimentServices.push({ name: service.metadata?.name ?? '', revision: service.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '' });
    }
    const hashes = new Set(this.experimentReplicaSets.map((rs) => rs.revision));
    for (const service of plan.services) expect(hashes.has(service.revision ?? ''), `Service ${service.name} never selects experiment pods`).toBe(false);
    const { status } = plan;
    const running = status.experiment !== undefined && status.pauseStartTime === undefined && status.abort !== true;
    if (!running) {
      // Only what the router still reports traffic on may stay, until it reports none.
      const serving = servingDestinations(this.facts().traffic);
      const served = new Set(this.experimentServices.filter((service) => serving.includes(service.name)).map((service) => service.revision));
      expect(this.experimentReplicaSets.filter((rs) => !served.has(rs.revision)), 'no experiment ReplicaSet without an experiment running').toEqual([]);
      expect(this.experimentServices.filter((service) => !serving.includes(service.name)), 'no experiment Service without an experiment running').toEqual([]);
    }
  }

  /**
   * The plan's AnalysisRun writes, as the apiserver takes them; a terminated run that had not finished then says
   * Successful at worst (the run controller's promise).
   */
  applyRuns(plan: RolloutPlan): void {
    const runs = plan.analysisRunChanges;
    for (const { name } of runs.delete) this.runs.delete(name);
    for (const { run } of runs.create) {
      const kind = run.metadata.labels?.[LABEL_ANALYSIS_KIND];
      this.runs.set(run.metadata.name, { name: run.metadata.name, phase: undefined, createdAt: new Date(this.now).toISOString(), ...(kind !== undefined && { kind }) });
    }
    for (const name of runs.terminate) {
      const run = this.runs.get(name);
      if (run !== undefined) this.runs.set(name, { ...run, phase: run.phase === undefined || run.phase === 'Running' ? 'Successful' : run.phase, terminated: true });
    }
  }

  /** The calls the last applied plan wants made. */
  wantedCalls: WebhookCall[] = [];

  /** Every wanted call of `type` answers (a gate's latest poll, a once call's final outcome). */
  answer(type: string, outcome: WebhookResult['outcome'], message = outcome === 'passed' ? 'HTTP 200' : 'HTTP 500'): void {
    for (const call of this.wantedCalls.filter((candidate) => candidate.hook.type === type)) this.webhookResults.set(call.key, { key: call.key, outcome, message });
  }

  /** Every pod becomes ready and available, and the data plane takes up what the router wrote. */
  settle(): void {
    this.takeUpTraffic();
    this.settlePods();
  }

  /** The data plane takes up what the router last wrote (a router that lags behind the pods is one not told to yet). */
  takeUpTraffic(): void {
    if (this.written !== undefined) {
      this.traffic = this.written;
      if (this.writtenRouterWeights !== undefined) this.routerWeights = this.writtenRouterWeights;
    }
    this.written = undefined;
  }

  /** Every pod becomes ready and available; the traffic split stays as it is. */
  settlePods(): void {
    for (const rs of [...this.replicaSets, ...this.baselines, ...this.experimentReplicaSets]) {
      rs.readyReplicas = rs.replicas;
      rs.availableReplicas = rs.replicas;
    }
  }

  /** A person (or a GitOps sync) rewrites the route's weight: it is in effect at once, and nothing Fledge wrote is pending. */
  editTraffic(canaryWeight: number | undefined): void {
    this.traffic = { ...this.traffic, canaryWeight };
    const routers = routerServices(this.rollout.spec.strategy.canary, this.routedWith());
    this.routerWeights = new Map(routers.map(({ router, canaryService }) => [router, { canaryService, weight: canaryWeight }]));
    this.written = undefined;
  }

  /** reconcile → apply → pods become available. */
  tick(): RolloutPlan {
    const plan = this.decide();
    this.apply(plan);
    this.settle();
    return plan;
  }

  /** Ticks until a reconcile changes nothing (or gives up); returns the last plan. */
  converge(maxTicks = 40): RolloutPlan {
    for (let i = 0; i < maxTicks; i++) {
      const before = JSON.stringify([this.status, this.replicaSets]);
      const plan = this.tick();
      if (JSON.stringify([this.status, this.replicaSets]) === before && plan.events.length === 0) return plan;
    }
    throw new Error(`no steady state after ${maxTicks} reconciles: ${JSON.stringify(this.status)}`);
  }

  advance(ms: number): void {
    this.now += ms;
  }

  setImage(image: string): void {
    const generation = (this.rollout.metadata.generation ?? 1) + 1;
    this.rollout = {
      ...this.rollout,
      metadata: { ...this.rollout.metadata, generation },
      spec: { ...this.rollout.spec, template: templateFor(image) },
    };
  }

  setSpec(patch: Partial<Rollout['spec']>): void {
    const generation = (this.rollout.metadata.generation ?? 1) + 1;
    this.rollout = { ...this.rollout, metadata: { ...this.rollout.metadata, generation }, spec: { ...this.rollout.spec, ...patch } };
  }

  /** What a person (or the CLI) does: merge-patch status. */
  patchStatus(patch: Partial<RolloutStatus>): void {
    this.rollout = { ...this.rollout, status: { ...this.status, ...patch } };
  }

  countOf(image: string): { replicas: number; available: number } | undefined {
    const rs = this.replicaSets.find((candidate) => candidate.revision === revisionOf(image));
    return rs === undefined ? undefined : { replicas: rs.replicas, available: rs.availableReplicas };
  }

  reasons(): string[] {
    return this.events.map((event) => event.reason);
  }

  condition(type: string): { status: string; reason: string } | undefined {
    const condition = this.status.conditions?.find((candidate) => candidate.type === type);
    return condition === undefined ? undefined : { status: condition.status, reason: condition.reason };
  }
}

