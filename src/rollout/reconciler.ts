import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Rollout } from '../api/rollout.js';
import { isConflict } from '../kube/patch.js';
import type { WorkResult } from '../kube/work-queue.js';
import type { Logger } from '../observability/logger.js';
import { RouterSet } from '../traffic/router-set.js';
import { routersFor } from '../traffic/routers/index.js';
import { AnalysisRunActuator } from './act/analysis-runs.js';
import { RoleServiceActuator, type ServiceRole } from './act/role-services.js';
import { PodActuator } from './act/pods.js';
import { ReplicaSetActuator } from './act/replica-sets.js';
import { ServiceActuator } from './act/services.js';
import { routeTraffic } from './act/traffic.js';
import { scaleWorkload } from './act/workload.js';
import { ConfigSourceChanged } from './config/copies.js';
import type { ResolvedConfig } from './config/tracking.js';
import type { RolloutReconcilerDeps } from './deps.js';
import type { RolloutFacts } from './decide/facts.js';
import { RolloutObserver } from './observe.js';
import { decide, TRAFFIC_PROBLEM_RECHECK_MS, TRAFFIC_RECHECK_MS, type RolloutPlan } from './decide/plan.js';
import { rolloutRef, type RolloutRef } from './ref.js';
import { RefusedError } from './act/refused.js';
import { RolloutReporter } from './report.js';
import { withTrafficRefused } from './decide/status.js';

export type { RolloutReconcilerDeps } from './deps.js';

/** While the cache has not caught up with our own writes, look again this soon (its watch event usually comes first). */
const CACHE_LAG_RECHECK_MS = 100;
/** A Service the Rollout names but that does not exist is looked for this often (its creation sends no event). */
const MISSING_SERVICE_RECHECK_MS = 10_000;

const EXPERIMENT_SERVICES: ServiceRole = { name: 'experiment', renameWith: "its template's service.name" };
const BASELINE_SERVICES: ServiceRole = { name: 'baseline', renameWith: 'spec.strategy.canary.baseline.service.name' };

/** Observe (caches only) → decide (pure) → act (one actuator per kind of object) → report (status, events). */
export class RolloutReconciler {
  private readonly observer: RolloutObserver;
  private readonly reporter: RolloutReporter;
  private readonly pods: PodActuator;
  private readonly replicaSets: ReplicaSetActuator;
  private readonly services: ServiceActuator;
  private readonly analysisRuns: AnalysisRunActuator;
  private readonly roleServices: RoleServiceActuator;

  constructor(private readonly deps: RolloutReconcilerDeps) {
    this.observer = new RolloutObserver(deps);
    this.reporter = new RolloutReporter(deps);
    this.pods = new PodActuator(deps.core);
    this.replicaSets = new ReplicaSetActuator(deps.apps, deps.replicaSets, this.pods, deps.now);
    this.services = new ServiceActuator(deps.core, deps.services);
    this.analysisRuns = new AnalysisRunActuator(deps.custom);
    this.roleServices = new RoleServiceActuator(deps.core);
  }

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split('/') as [string, string];
    // A reconcile id ties together every log line of one pass.
    const log = this.deps.logger.with({ namespace, name, reconcileId: randomBytes(4).toString('hex') });
    const raw = this.deps.rollouts.get(name, namespace);
    const ref = rolloutRef(raw?.metadata ?? { namespace, name });
    if (!raw || raw.metadata?.deletionTimestamp !== undefined) {
      // Deleted, or being deleted (Argo CD's foreground prune): recreate nothing the garbage collector is removing,
      // keep nothing of it in memory, and let no Service keep selecting a pod-template hash whose pods are going away.
      if (!raw) this.forget(ref.key);
      await this.services.release(ref, log);
      return;
    }
    if (this.cacheLags(ref, raw)) {
      log.debug('the cache is older than our last write; waiting for it');
      return { requeueAfterMs: CACHE_LAG_RECHECK_MS };
    }
    const input = await this.observer.input(ref, raw);
    if ('problem' in input) {
      // Nothing is decided for a Rollout that cannot be used, so nothing it asked of its webhooks is wanted any longer.
      // Whatever it waits for (its workloadRef's Deployment, a ConfigMap) enqueues it again when it comes.
      if (input.reason === 'InvalidSpec') this.deps.webhooks?.forget(ref.key);
      await this.reporter.invalid(raw, input.problem, log, input.reason);
      return;
    }
    const { rollout, config } = input;
    const routing = rollout.spec.strategy.canary.trafficRouting;
    const routers = routing && new RouterSet(routersFor(routing, this.deps));
    const facts = await this.observer.observe(ref, rollout, config, routers);
    const plan = decide(facts);
    let requeueAfterMs = plan.requeueAfterMs;
    try {
      if (plan.refusal !== undefined) throw new RefusedError(plan.refusal.reason, plan.refusal.message);
      const wakeAfter = await this.act(ref, rollout, facts, plan, routers, config, log);
      if (wakeAfter !== undefined) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, wakeAfter);
    } catch (err) {
      if (err instanceof ConfigSourceChanged) {
        log.info('config changed while being copied; deciding again');
        return { retry: true };
      }
      if (err instanceof RefusedError) {
        // Retrying the same object cannot succeed: say why where people look, and try again only after a back-off.
        await this.reporter.invalid(raw, err.message, log, err.reason);
        return { retry: true };
      }
      if (isConflict(err)) {
        log.debug('conflict; retrying after backoff');
        return { retry: true };
      }
      throw err;
    }
    // Only once status says where the canary is: a lost write must not let a pre-rollout result go.
    this.deps.webhooks?.sync(rollout, plan.webhooks);
    if (plan.writeBack !== undefined) {
      const stable = facts.replicaSets.find((rs) => rs.revision === plan.status.stableRevision)?.template;
      this.deps.writeBacks?.start(rollout, plan.status, plan.writeBack.revision, stable);
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  /** Keeps nothing about a Rollout (its metrics included): deleted, or now reconciled by another replica. */
  forget(key: string): void {
    const [namespace, name] = key.split('/') as [string, string];
    this.reporter.forget(key);
    this.replicaSets.forget(key);
    this.deps.metrics?.forgetRollout(namespace, name);
    this.deps.webhooks?.forget(key);
  }

  /**
   * Deciding on a Rollout older than our last status write, or on ReplicaSets older than our last create or
   * scale, would undo that write (a canary just raised from 1 to 2, decided again at the old step, goes back to 1).
   */
  private cacheLags(ref: RolloutRef, raw: k8s.KubernetesObject): boolean {
    return this.reporter.statusWrites.isStale(ref.key, raw.metadata?.resourceVersion) || this.replicaSets.unseen(ref);
  }

  /** Makes the plan so, in the order that keeps traffic safe; returns how soon to look again for what is not yet in effect. */
  private async act(ref: RolloutRef, rollout: Rollout, facts: RolloutFacts, plan: RolloutPlan, routers: RouterSet | undefined, config: ResolvedConfig, log: Logger): Promise<number | undefined> {
    const wakeups: number[] = [];
    await this.pods.delete(ref, plan.podsToDelete, rollout.spec.restartAt, log);
    // Services and traffic before pods: an abort takes the traffic off the canary before anything is scaled.
    if ((await this.services.apply(ref, plan.services, log)).length > 0) wakeups.push(MISSING_SERVICE_RECHECK_MS);
    if (routers !== undefined && plan.traffic !== undefined) {
      const routed = await routeTraffic(ref, routers, plan.trafficRouters ?? [], plan.traffic, log);
      if (routed.kind === 'written') wakeups.push(TRAFFIC_RECHECK_MS);
      if (routed.kind === 'refused') {
        plan.status = withTrafficRefused(plan.status, routed.problem, facts.now);
        wakeups.push(TRAFFIC_PROBLEM_RECHECK_MS);
      }
    }
    const owned = this.observer.ownedReplicaSets(ref);
    // Before any ReplicaSet that reads them; every pass, so a copy someone deleted comes back (a cache lookup when present).
    await this.deps.configCopies?.ensure(rollout, config.copies, log);
    await this.replicaSets.apply(ref, rollout, owned, [...plan.replicaSetChanges, ...plan.baseline.changes, ...plan.experiment.changes], log);
    await this.roleServices.apply(ref, plan.experiment.services, EXPERIMENT_SERVICES, log);
    await this.roleServices.apply(ref, plan.baseline.services, BASELINE_SERVICES, log);
    await this.analysisRuns.apply(ref, plan.analysisRunChanges, log);
    await this.replicaSets.delete(ref, plan.deleteReplicaSets, 'beyond revisionHistoryLimit', log);
    await this.replicaSets.delete(ref, plan.baseline.delete, 'a baseline with no canary beside it', log);
    await this.replicaSets.delete(ref, plan.experiment.delete, 'an experiment whose step is over', log);
    await this.deps.configCopies?.collect(rollout, plan.templatesInUse, log);
    const reported = await this.reporter.status(ref, rollout, plan, facts.now);
    if (reported.recheckAfterMs !== undefined) wakeups.push(reported.recheckAfterMs);
    this.deps.metrics?.observeRollout(ref.namespace, ref.name, plan.status.phase, plan.status.actualWeight);
    if (reported.written) this.reporter.announce(ref, rollout, plan);
    if (plan.workload !== undefined) await scaleWorkload(this.deps.apps, this.deps.events, ref, plan.workload, log);
    return wakeups.length > 0 ? Math.min(...wakeups) : undefined;
  }
}
