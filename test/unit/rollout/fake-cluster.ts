import { expect } from 'vitest';
import { API_VERSION, type CanaryStep, type CanaryStrategy, type Rollout, type RolloutStatus } from '../../../src/api/rollout.js';
import type { AnalysisPhase, AnalysisRunFacts, ReplicaSetFacts, RolloutFacts } from '../../../src/rollout/facts.js';
import type { Announcement } from '../../../src/rollout/machine.js';
import { decide, type RolloutPlan } from '../../../src/rollout/plan.js';
import { podTemplateHash } from '../../../src/rollout/revision.js';
import type { TrafficObservation } from '../../../src/traffic/types.js';
import type { WebhookCall, WebhookResult } from '../../../src/rollout/hooks.js';

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
  return { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image }] } };
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
  /** When set, the router reports this problem instead of taking anything up. */
  trafficProblem: string | undefined;
  /** What the webhook runner last heard, by call key; the shell drops the results of calls a plan no longer wants. */
  readonly webhookResults = new Map<string, WebhookResult>();
  /** Templates that do not exist, as `AnalysisTemplate NAME`. */
  missingTemplates: string[] = [];
  readonly events: Announcement[] = [];
  readonly plans: RolloutPlan[] = [];
  /** Checked on every applied plan unless an abort is expected to drop pods on purpose. */
  checkBudgets = true;

  constructor(public rollout: Rollout) {}

  get status(): RolloutStatus {
    return this.rollout.status ?? {};
  }

  facts(): RolloutFacts {
    return {
      now: this.now,
      rollout: structuredClone(this.rollout),
      currentRevision: podTemplateHash(this.rollout.spec.template),
      replicaSets: structuredClone(this.replicaSets),
      analysisRuns: this.analysisRuns(),
      missingTemplates: [...this.missingTemplates],
      hasTrafficRouter: this.hasTrafficRouter,
      webhooks: structuredClone([...this.webhookResults.values()]),
      ...(this.hasTrafficRouter && {
        traffic: this.trafficProblem !== undefined ? { ...structuredClone(this.traffic), problem: this.trafficProblem } : structuredClone(this.traffic),
      }),
    };
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
        headerRoutes: plan.traffic.headerRoutes.map((route) => route.name),
        mirrorRoutes: plan.traffic.mirrorRoutes.map((route) => route.name),
        stableSelects: stable !== undefined ? stable.revision : plan.traffic.stableRevision,
        canarySelects: canary !== undefined ? canary.revision : plan.traffic.canaryRevision,
      };
    }
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
      let rs = this.replicaSets.find((candidate) => candidate.revision === target.revision);
      if (rs === undefined) {
        expect(target.create, `ReplicaSet ${target.revision} is created only when the plan says so`).toBe(true);
        rs = {
          name: `api-${target.revision}`,
          revision: target.revision,
          revisionNumber: Math.max(0, ...this.replicaSets.map((candidate) => candidate.revisionNumber)) + 1,
          replicas: 0,
          readyReplicas: 0,
          availableReplicas: 0,
          createdAt: this.now,
        };
        this.replicaSets.push(rs);
      }
      rs.replicas = target.replicas;
      // The reconciler caps observed availability at spec.replicas: scaled-down pods are gone at once.
      rs.availableReplicas = Math.min(rs.availableReplicas, rs.replicas);
      rs.readyReplicas = Math.min(rs.readyReplicas, rs.replicas);
      if (target.scaleDownAt === null) delete rs.scaleDownAt;
      else if (target.scaleDownAt !== undefined) rs.scaleDownAt = target.scaleDownAt;
    }
    this.replicaSets = this.replicaSets.filter((rs) => !plan.deleteReplicaSets.includes(rs.name));
    this.rollout = { ...this.rollout, status: plan.status };
    this.wantedCalls = plan.webhooks;
    for (const key of this.webhookResults.keys()) if (!plan.webhooks.some((call) => call.key === key)) this.webhookResults.delete(key);
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
    if (this.written !== undefined) this.traffic = this.written;
    this.written = undefined;
  }

  /** Every pod becomes ready and available; the traffic split stays as it is. */
  settlePods(): void {
    for (const rs of this.replicaSets) {
      rs.readyReplicas = rs.replicas;
      rs.availableReplicas = rs.replicas;
    }
  }

  /** A person (or a GitOps sync) rewrites the route's weight: it is in effect at once, and nothing Fledge wrote is pending. */
  editTraffic(canaryWeight: number | undefined): void {
    this.traffic = { ...this.traffic, canaryWeight };
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
