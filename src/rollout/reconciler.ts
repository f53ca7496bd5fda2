import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, Rollout, VERSION, type RolloutStatus } from '../api/rollout.js';
import { ScaleExpectations, StatusWrites } from '../kube/cache-expectations.js';
import type { ResilientInformer } from '../kube/informer.js';
import { apiErrorMessage, isAlreadyExists, isConflict, isInvalid, isNotFound, mergePatchOptions, writeStatus } from '../kube/patch.js';
import type { WorkResult } from '../kube/work-queue.js';
import type { EventRecorder } from '../observability/events.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { WebhookNotifier } from '../observability/notifier.js';
import type { Logger } from '../observability/logger.js';
import type { ReplicaSetFacts, RolloutFacts } from './facts.js';
import { decide, type RolloutPlan } from './plan.js';
import { resolveSettings, ROLLOUT_DEFAULTS } from './defaults.js';
import { scalingLimits } from './replicas.js';
import { pendingRestart, planRestart, type PodFacts } from './restart.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_ANALYSIS_KIND, LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue } from './labels.js';
import { buildRunSpec } from '../analysis/templates.js';
import { podMetadataFor, podMetadataPatch, podRole, type PodMetadataPatch, type PodRole } from './role-metadata.js';
import { templateRef } from './analysis-runs.js';
import { isTerminal } from '../analysis/run-machine.js';
import { AnalysisTemplateSpec, type AnalysisPhase } from '../api/analysis.js';

/** An AnalysisRun as the rollout reconciler reads it from the cache. */
type OwnedRun = k8s.KubernetesObject & { spec?: { terminate?: boolean }; status?: { phase?: AnalysisPhase; message?: string } };
import { podTemplateHash } from './revision.js';
import { withWorkloadTemplate, workloadReplicas } from './workload-ref.js';
import { canaryAffinity, removeInjectedAntiAffinity, type AntiAffinityPatch } from './anti-affinity.js';
import { routerFor } from '../traffic/routers/index.js';
import type { RouterContext, TrafficObservation, TrafficRouter } from '../traffic/types.js';
import { TRAFFIC_RECHECK_MS, TRAFFIC_PROBLEM_RECHECK_MS } from './plan.js';
import { statusChange, TRAFFIC_CONDITION, TRAFFIC_ERROR_REASON } from './status.js';
import type { GitWriteBacks } from './write-back.js';
import type { WebhookRunner } from './webhook-runner.js';
import { ConfigSourceChanged, type ConfigCopies } from './config-copies.js';
import { RefusedError } from './refused.js';
import type { ResolvedConfig } from './config-tracking.js';

/** The reason of the condition and Event of a Rollout held because a ConfigMap or Secret it requires does not exist. */
const CONFIG_MISSING_REASON = 'ConfigSourceMissing';

/** Pods are not watched, so a restart in progress checks back this often. */
const RESTART_POLL_MS = 1000;
/** While the cache has not caught up with our own writes, look again this soon (its watch event usually comes first). */
const CACHE_LAG_RECHECK_MS = 100;
/** A ReplicaSet write the cache never shows (someone else scaled it at once) stops delaying its Rollout after this. */
const EXPECTATION_TTL_MS = 30_000;
/** A Service the Rollout names but that does not exist is looked for this often (its creation sends no event). */
const MISSING_SERVICE_RECHECK_MS = 10_000;

export interface RolloutReconcilerDeps {
  rollouts: ResilientInformer<k8s.KubernetesObject>;
  replicaSets: ResilientInformer<k8s.V1ReplicaSet>;
  /** The Deployments a workloadRef names; absent, a Rollout with a workloadRef is invalid. */
  deployments?: ResilientInformer<k8s.V1Deployment>;
  services: ResilientInformer<k8s.V1Service>;
  analysisRuns: ResilientInformer<k8s.KubernetesObject>;
  analysisTemplates: ResilientInformer<k8s.KubernetesObject>;
  /** Absent when the controller may not read cluster-scoped templates (--no-cluster-templates). */
  clusterAnalysisTemplates?: ResilientInformer<k8s.KubernetesObject>;
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  /** For the NGINX router's canary Ingresses. */
  networking: k8s.NetworkingV1Api;
  /** Commits the stable images back to Git after an abort, where opted in; absent, nothing is written to Git. */
  writeBacks?: GitWriteBacks;
  /** Config tracking's copies of the ConfigMaps and Secrets pod templates read; absent, templates are used as written. */
  configCopies?: ConfigCopies;
  /** Makes spec.strategy.canary.webhooks' calls in the background; absent, no hook is called and gates stay closed. */
  webhooks?: WebhookRunner;
  events: EventRecorder;
  metrics?: ControllerMetrics;
  notifier?: WebhookNotifier;
  logger: Logger;
  now: () => number;
  /**
   * Whether the API budget is spent (requests are waiting for the client's limiter). While it is, a status change
   * that only reports counts waits for the next decided change or for takeDeferredStatus(); absent, never.
   */
  apiSaturated?: () => boolean;
}

/** Observe (caches only) → decide (pure) → act (idempotent writes) → report (status, events). */
export class RolloutReconciler {
  private readonly statusWrites = new StatusWrites();
  /** Rollouts whose observed-only status change waited for API budget. */
  private readonly deferredStatus = new Set<string>();
  private readonly expectations: ScaleExpectations;

  constructor(private readonly deps: RolloutReconcilerDeps) {
    this.expectations = new ScaleExpectations(EXPECTATION_TTL_MS, deps.now);
  }

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split('/') as [string, string];
    // A reconcile id ties together every log line of one pass.
    const log = this.deps.logger.with({ namespace, name, reconcileId: randomBytes(4).toString('hex') });
    const raw = this.deps.rollouts.get(name, namespace);
    if (!raw) {
      // Deleted: nothing of it may stay in memory (a metric series per Rollout, our write records), and no
      // Service may keep selecting a pod-template hash whose pods are going away.
      this.statusWrites.forget(key);
      this.deferredStatus.delete(key);
      this.expectations.forget(key);
      this.deps.metrics?.forgetRollout(namespace, name);
      this.deps.webhooks?.forget(key);
      await this.releaseServices(namespace, name, log);
      return;
    }
    if (raw.metadata?.deletionTimestamp !== undefined) {
      // Being deleted (Argo CD's foreground prune): recreate nothing the garbage collector is removing.
      await this.releaseServices(namespace, name, log);
      return;
    }
    if (this.cacheLags(key, raw)) {
      log.debug('the cache is older than our last write; waiting for it');
      return { requeueAfterMs: CACHE_LAG_RECHECK_MS };
    }
    const resolved = withWorkloadTemplate(raw, (deployment) => this.deps.deployments?.get(deployment, namespace));
    if ('problem' in resolved) {
      // The Deployment's events enqueue this Rollout again: nothing to retry until one arrives.
      this.deps.webhooks?.forget(key);
      await this.reportInvalid(raw, resolved.problem, log);
      return;
    }
    const parsed = Rollout.safeParse(resolved.rollout);
    if (!parsed.success) {
      // Nothing is decided for an invalid Rollout, so nothing it asked of its webhooks is wanted any longer.
      this.deps.webhooks?.forget(key);
      await this.reportInvalid(raw, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), log);
      return;
    }
    const rollout = parsed.data;
    const config = (await this.deps.configCopies?.resolve(rollout, this.ownedReplicaSets(rollout).map((rs) => rs.spec?.template ?? {}))) ?? {
      template: rollout.spec.template,
      copies: [],
      missing: [],
    };
    if (config.missing.length > 0) {
      // No ReplicaSet can start from a template whose config does not exist: hold, and say what is missing.
      await this.reportInvalid(
        raw,
        `${config.missing.join(', ')} not found: the pod template reads it; no new ReplicaSet is created until it exists (the running pods keep their copies)`,
        log,
        CONFIG_MISSING_REASON,
      );
      return;
    }
    const router = rollout.spec.strategy.canary.trafficRouting && routerFor(rollout.spec.strategy.canary.trafficRouting, this.deps);
    const facts = this.observe(rollout, config);
    if (router !== undefined) facts.traffic = await this.observeTraffic(rollout, router);
    facts.webhooks = this.deps.webhooks?.results(key) ?? [];
    const plan = decide(facts);
    try {
      this.refuseClaimedServices(rollout);
      await this.restartPods(rollout, facts, plan, log);
      await this.act(rollout, facts, plan, log, router, config);
      await this.scaleDownWorkload(rollout, plan, log);
    } catch (err) {
      if (err instanceof ConfigSourceChanged) {
        log.info('config changed while being copied; deciding again');
        return { retry: true };
      }
      if (err instanceof RefusedError) {
        // Retrying the same object cannot succeed: say why where people look, and try again only after a back-off.
        await this.reportInvalid(raw, err.message, log, err.reason);
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
    const retryWriteBack = this.deps.writeBacks?.consider(rollout, plan.status, this.replicaSetTemplate(rollout, plan.status.stableRevision));
    if (retryWriteBack !== undefined) plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, retryWriteBack);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  /** The pod template of the owned ReplicaSet of `revision`: the stable images a write-back restores. */
  private replicaSetTemplate(rollout: Rollout, revision: string | undefined): k8s.V1PodTemplateSpec | undefined {
    return this.ownedReplicaSets(rollout).find((rs) => rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === revision)?.spec?.template;
  }

  /** Two Rollouts steering one Service would repoint it on every reconcile: the second one to come is refused. */
  private refuseClaimedServices(rollout: Rollout): void {
    const owner = rolloutLabelValue(rollout.metadata.name ?? '');
    const canary = rollout.spec.strategy.canary;
    for (const serviceName of [canary.stableService, canary.canaryService]) {
      if (serviceName === undefined) continue;
      const claimedBy = this.deps.services.get(serviceName, rollout.metadata.namespace)?.metadata?.labels?.[LABEL_ROLLOUT];
      if (claimedBy !== undefined && claimedBy !== owner) {
        throw new RefusedError('ResourceConflict', `Service ${serviceName} is already steered by Rollout ${claimedBy}; a Service can serve one Rollout only`);
      }
    }
  }

  /** Services this Rollout labelled as its own stop selecting by pod-template hash, and lose the label. */
  private async releaseServices(namespace: string, name: string, log: Logger): Promise<void> {
    const owner = rolloutLabelValue(name);
    for (const service of this.deps.services.list(namespace)) {
      if (service.metadata?.labels?.[LABEL_ROLLOUT] !== owner) continue;
      log.info('releasing service of a deleted rollout', { service: service.metadata.name });
      await this.deps.core
        .patchNamespacedService(
          { name: service.metadata.name ?? '', namespace, body: { metadata: { labels: { [LABEL_ROLLOUT]: null } }, spec: { selector: { [LABEL_POD_TEMPLATE_HASH]: null } } } },
          mergePatchOptions(),
        )
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
  }

  /**
   * Deciding on a Rollout older than our last status write, or on ReplicaSets older than our last create or
   * scale, would undo that write (a canary just raised from 1 to 2, decided again at the old step, goes back to 1).
   */
  private cacheLags(key: string, raw: k8s.KubernetesObject): boolean {
    if (this.statusWrites.isStale(key, raw.metadata?.resourceVersion)) return true;
    const unmet = this.expectations.unmet(key, (name) => {
      const rs = this.deps.replicaSets.get(name, raw.metadata?.namespace);
      return rs && { resourceVersion: rs.metadata?.resourceVersion, replicas: rs.spec?.replicas ?? 0 };
    });
    return unmet.length > 0;
  }

  private ownedReplicaSets(rollout: Rollout): ReadonlyArray<k8s.V1ReplicaSet> {
    return rollout.metadata.uid === undefined ? [] : this.deps.replicaSets.listOwnedBy(rollout.metadata.uid);
  }

  private ownedAnalysisRuns(rollout: Rollout): OwnedRun[] {
    return rollout.metadata.uid === undefined ? [] : (this.deps.analysisRuns.listOwnedBy(rollout.metadata.uid) as OwnedRun[]);
  }

  private observe(rollout: Rollout, config: ResolvedConfig): RolloutFacts {
    const replicaSets: ReplicaSetFacts[] = this.ownedReplicaSets(rollout).map((rs) => {
      const specReplicas = rs.spec?.replicas ?? 0;
      const scaleDownAt = rs.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
      return {
        name: rs.metadata?.name ?? '',
        revision: rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '',
        revisionNumber: Number(rs.metadata?.annotations?.[ANNOTATION_REVISION] ?? 0),
        replicas: specReplicas,
        // A status not yet caught up with a scale-down still counts the Pods being removed; cap it.
        readyReplicas: Math.min(rs.status?.readyReplicas ?? 0, specReplicas),
        availableReplicas: Math.min(rs.status?.availableReplicas ?? 0, specReplicas),
        createdAt: new Date(rs.metadata?.creationTimestamp ?? 0).getTime(),
        ...(scaleDownAt ? { scaleDownAt: new Date(scaleDownAt).getTime() } : {}),
      };
    });
    return {
      now: this.deps.now(),
      rollout,
      // The template with its config copies: new content is a new revision, the same content the same one.
      currentRevision: podTemplateHash(config.template),
      replicaSets,
      analysisRuns: this.ownedAnalysisRuns(rollout).map((run) => ({
        name: run.metadata?.name ?? '',
        phase: run.status?.phase,
        ...(run.status?.message !== undefined && { message: run.status.message }),
        ...(run.spec?.terminate === true && { terminated: true }),
      })),
      missingTemplates: this.missingTemplates(rollout),
      hasTrafficRouter: rollout.spec.strategy.canary.trafficRouting !== undefined,
    };
  }

  private routerContext(rollout: Rollout): RouterContext {
    const canary = rollout.spec.strategy.canary;
    return {
      namespace: rollout.metadata.namespace ?? 'default',
      rolloutName: rollout.metadata.name ?? '',
      rolloutUid: rollout.metadata.uid,
      stableService: canary.stableService,
      canaryService: canary.canaryService,
    };
  }

  /**
   * What the router reports in effect, read from the API (not a cache): a step completes on it, and an aborted
   * canary's pods go only once it says the traffic is gone. A read that fails is a problem, never a weight.
   */
  private async observeTraffic(rollout: Rollout, router: TrafficRouter): Promise<TrafficObservation> {
    let observed: TrafficObservation;
    try {
      observed = await router.observe(this.routerContext(rollout));
    } catch (err) {
      observed = { canaryWeight: undefined, headerRoutes: [], mirrorRoutes: [], problem: `${router.kind}: ${apiErrorMessage(err)}` };
    }
    const selects = (serviceName: string | undefined): string | null | undefined => {
      if (serviceName === undefined) return undefined;
      const service = this.deps.services.get(serviceName, rollout.metadata.namespace);
      const owned = service?.metadata?.labels?.[LABEL_ROLLOUT] === rolloutLabelValue(rollout.metadata.name ?? '');
      return owned ? (service?.spec?.selector?.[LABEL_POD_TEMPLATE_HASH] ?? null) : undefined;
    };
    const { stableService, canaryService } = rollout.spec.strategy.canary;
    if (stableService !== undefined) observed.stableSelects = selects(stableService);
    if (canaryService !== undefined) observed.canarySelects = selects(canaryService);
    return observed;
  }

  /**
   * Makes the router say what the plan asks. A refusal does not stop the reconcile: every pod move that depends on
   * traffic waits for the router to report it in effect, so the failure shows in the TrafficRouting condition instead.
   */
  private async routeTraffic(rollout: Rollout, plan: RolloutPlan, router: TrafficRouter, log: Logger): Promise<void> {
    if (plan.traffic === undefined) return;
    try {
      if (await router.apply(this.routerContext(rollout), plan.traffic)) {
        log.info('traffic routed', { router: router.kind, canaryWeight: plan.traffic.canaryWeight, headerRoutes: plan.traffic.headerRoutes.length, mirrorRoutes: plan.traffic.mirrorRoutes.length });
        plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, TRAFFIC_RECHECK_MS);
      }
    } catch (err) {
      if (isConflict(err)) throw err;
      const message = `${router.kind}: ${apiErrorMessage(err)}`;
      log.warn('routing traffic failed', { router: router.kind, error: message });
      const now = new Date(this.deps.now()).toISOString();
      const conditions = (plan.status.conditions ?? []).filter((condition) => condition.type !== TRAFFIC_CONDITION);
      // decide()'s condition already moved lastTransitionTime if the status flipped; a False one keeps it, or every retry rewrites status.
      const previous = plan.status.conditions?.find((condition) => condition.type === TRAFFIC_CONDITION);
      conditions.push({ type: TRAFFIC_CONDITION, status: 'False', reason: TRAFFIC_ERROR_REASON, message, lastTransitionTime: previous?.status === 'False' ? previous.lastTransitionTime : now });
      plan.status.conditions = conditions;
      plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, TRAFFIC_PROBLEM_RECHECK_MS);
    }
  }

  /** The templates the Rollout's analysis names that are not in the caches (decide() waits for them). */
  private missingTemplates(rollout: Rollout): string[] {
    const canary = rollout.spec.strategy.canary;
    const analyses = [...(canary.steps ?? []).flatMap((step) => ('analysis' in step ? [step.analysis] : [])), ...(canary.analysis ? [canary.analysis] : [])];
    const refs = analyses.flatMap((analysis) => analysis.templates);
    const missing = refs.filter((ref) =>
      ref.clusterScope === true
        ? this.deps.clusterAnalysisTemplates?.get(ref.templateName) === undefined
        : this.deps.analysisTemplates.get(ref.templateName, rollout.metadata.namespace) === undefined,
    );
    return [...new Set(missing.map(templateRef))];
  }

  private async act(rollout: Rollout, facts: RolloutFacts, plan: RolloutPlan, log: Logger, router: TrafficRouter | undefined, config: ResolvedConfig): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const key = `${namespace}/${rollout.metadata.name ?? ''}`;
    // Services and traffic before pods: an abort takes the traffic off the canary before anything is scaled.
    await this.syncServices(rollout, plan, log);
    if (router !== undefined) await this.routeTraffic(rollout, plan, router, log);
    const owned = this.ownedReplicaSets(rollout);
    // Before any ReplicaSet that reads them; every pass, so a copy someone deleted comes back (a cache lookup when present).
    await this.deps.configCopies?.ensure(rollout, config.copies, log);
    const canary = rollout.spec.strategy.canary;
    const roleOf = (revision: string): PodRole | undefined => podRole(revision, plan.status.stableRevision, plan.status.currentRevision);
    for (const desired of plan.replicaSets) {
      const existing = owned.find((rs) => rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === desired.revision);
      if (!existing) {
        if (desired.create) {
          const created = await this.createReplicaSet(rollout, config.template, facts, desired.revision, desired.replicas, roleOf(desired.revision), plan.status.stableRevision, log);
          this.expect(key, created, { created: true });
        }
        continue;
      }
      const patch: {
        metadata?: { annotations: Record<string, string | null> };
        spec?: { replicas?: number; minReadySeconds?: number; template?: { metadata?: PodMetadataPatch; spec?: { affinity: { podAntiAffinity: AntiAffinityPatch } } } };
      } = {};
      if ((existing.spec?.replicas ?? 0) !== desired.replicas) patch.spec = { replicas: desired.replicas };
      const minReady = rollout.spec.minReadySeconds ?? 0;
      if ((existing.spec?.minReadySeconds ?? 0) !== minReady) patch.spec = { replicas: desired.replicas, minReadySeconds: minReady };
      // canaryMetadata / stableMetadata follow the revision's role (a promoted canary's new pods get stableMetadata).
      const role = roleOf(desired.revision);
      const roleMetadata = role === undefined ? undefined : podMetadataPatch(existing.spec?.template?.metadata, podMetadataFor(rollout.spec.template, canary, desired.revision, role), canary);
      // Pods already running take their new role's metadata in place, as in Argo (a Service may select by it). The
      // pods go first: should one patch fail, the template is still unpatched and the next reconcile tries again.
      if (roleMetadata !== undefined) await this.patchPodMetadata(namespace, existing, roleMetadata, log);
      // A canary that became stable has no other revision to keep away from: Argo's antiAffinity terms go.
      const antiAffinity = role === 'stable' ? removeInjectedAntiAffinity(existing.spec?.template?.spec?.affinity) : undefined;
      if (roleMetadata !== undefined || antiAffinity !== undefined) {
        patch.spec = {
          ...patch.spec,
          template: { ...(roleMetadata && { metadata: roleMetadata }), ...(antiAffinity && { spec: { affinity: { podAntiAffinity: antiAffinity } } }) },
        };
      }
      const currentAt = existing.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
      if (desired.scaleDownAt === null && currentAt !== undefined) {
        patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: null } };
      } else if (typeof desired.scaleDownAt === 'number') {
        const wanted = new Date(desired.scaleDownAt).toISOString();
        if (currentAt !== wanted) patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: wanted } };
      }
      if (patch.spec || patch.metadata) {
        log.info('updating replicaset', { replicaSet: existing.metadata?.name, replicas: desired.replicas, role });
        const patched = await this.deps.apps.patchNamespacedReplicaSet(
          { name: existing.metadata?.name ?? '', namespace, body: patch },
          mergePatchOptions(),
        );
        if (patch.spec?.replicas !== undefined || patch.spec?.minReadySeconds !== undefined) this.expect(key, patched, { created: false });
      }
    }
    await this.syncAnalysisRuns(rollout, plan, log);
    for (const name of plan.deleteReplicaSets) {
      log.info('deleting old replicaset beyond revisionHistoryLimit', { replicaSet: name });
      await this.deps.apps.deleteNamespacedReplicaSet({ name, namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    if (this.deps.configCopies !== undefined) {
      const deleted = new Set(plan.deleteReplicaSets);
      const inUse = [config.template, ...owned.filter((rs) => !deleted.has(rs.metadata?.name ?? '')).map((rs) => rs.spec?.template ?? {})];
      await this.deps.configCopies.collect(rollout, inUse, log);
    }
    const statusChanged = await this.reportStatus(key, rollout, plan);
    this.deps.metrics?.observeRollout(namespace, rollout.metadata.name ?? '', plan.status.phase, plan.status.actualWeight);
    // Events follow a successful status write: a conflict re-runs the transition, and it must not be told twice.
    // Both are handed off, never awaited: a slow webhook or a burst of Events does not hold the reconcile.
    if (statusChanged) {
      this.deps.webhooks?.notify(rollout, plan.notifications);
      for (const event of plan.events) {
        if (event.reason === 'RolloutAborted') this.deps.metrics?.recordAbort(namespace, rollout.metadata.name ?? '', abortCause(event.message));
        this.deps.notifier?.notify({ namespace, name: rollout.metadata.name ?? '', reason: event.reason, message: event.message });
        this.deps.events.record(
          { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', namespace, uid: rollout.metadata.uid },
          event.type,
          event.reason,
          event.message,
        );
      }
    }
  }

  /**
   * Writes the plan's status, at most once per reconcile and only if it differs. A change that only reports counts
   * and carries no Event waits while the API budget is spent: at 40 QPS those writes were half of every update's
   * requests, and the next decided change (or takeDeferredStatus) writes the counts of that moment anyway.
   */
  private async reportStatus(key: string, rollout: Rollout, plan: RolloutPlan): Promise<boolean> {
    const announces = plan.events.length > 0 || plan.notifications.length > 0;
    if (!announces && this.deps.apiSaturated?.() === true && statusChange(rollout.status ?? {}, plan.status) === 'observed') {
      this.deferredStatus.add(key);
      this.deps.metrics?.statusWrites.inc({ outcome: 'deferred' });
      return false;
    }
    const written = await writeStatus(this.deps.custom, GROUP, VERSION, 'rollouts', rollout, plan.status);
    if (written) {
      this.statusWrites.wrote(key, rollout.metadata.resourceVersion);
      this.deferredStatus.delete(key);
      this.deps.metrics?.statusWrites.inc({ outcome: 'written' });
    }
    return written;
  }

  /** The Rollouts whose status waited for API budget, to be reconciled again now that there is some. */
  takeDeferredStatus(): string[] {
    const keys = [...this.deferredStatus];
    this.deferredStatus.clear();
    return keys;
  }

  /**
   * spec.restartAt: deletes Pods older than it within maxUnavailable, and records status.restartedAt
   * once all are replaced. Pods are listed only while a restart is pending, by each owned ReplicaSet's
   * selector, so the controller never caches Pods.
   */
  private async restartPods(rollout: Rollout, facts: RolloutFacts, plan: RolloutPlan, log: Logger): Promise<void> {
    const restartAt = rollout.spec.restartAt;
    const at = pendingRestart(restartAt, rollout.status?.restartedAt);
    if (restartAt === undefined || at === undefined) return;
    if (at > facts.now) {
      plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, at - facts.now);
      return;
    }
    const namespace = rollout.metadata.namespace ?? 'default';
    const pods: PodFacts[] = [];
    for (const rs of this.ownedReplicaSets(rollout)) {
      if ((rs.spec?.replicas ?? 0) === 0) continue;
      const labelSelector = Object.entries(rs.spec?.selector.matchLabels ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join(',');
      const list = await this.deps.core.listNamespacedPod({ namespace, labelSelector });
      for (const pod of list.items) {
        pods.push({
          name: pod.metadata?.name ?? '',
          createdAt: new Date(pod.metadata?.creationTimestamp ?? 0).getTime(),
          ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
          terminating: pod.metadata?.deletionTimestamp !== undefined,
        });
      }
    }
    const settings = resolveSettings(rollout.spec);
    const limits = scalingLimits(settings.replicas, settings.maxSurge, settings.maxUnavailable);
    const restart = planRestart(at, pods, limits.maxUnavailable);
    for (const pod of restart.deletePods) {
      log.info('restarting pod', { pod, restartAt });
      await this.deps.core.deleteNamespacedPod({ name: pod, namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    if (restart.done) {
      plan.status.restartedAt = restartAt;
      plan.events.push({ type: 'Normal', reason: 'RolloutRestarted', message: `every pod created before ${restartAt} was recreated` });
    } else {
      plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, RESTART_POLL_MS);
    }
  }

  /** The role metadata patch on every pod of a ReplicaSet (its selector, as the ReplicaSet controller counts them). */
  private async patchPodMetadata(namespace: string, rs: k8s.V1ReplicaSet, metadata: PodMetadataPatch, log: Logger): Promise<void> {
    const labelSelector = Object.entries(rs.spec?.selector.matchLabels ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    const pods = (await this.deps.core.listNamespacedPod({ namespace, labelSelector })).items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
    log.info('updating the role metadata of running pods', { replicaSet: rs.metadata?.name, pods: pods.length });
    for (const pod of pods) {
      await this.deps.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace, body: { metadata } }, mergePatchOptions()).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  /** A workloadRef's Deployment gives way to the Rollout's pods as its `scaleDown` says. */
  private async scaleDownWorkload(rollout: Rollout, plan: RolloutPlan, log: Logger): Promise<void> {
    const ref = rollout.spec.workloadRef;
    if (ref === undefined) return;
    const namespace = rollout.metadata.namespace ?? 'default';
    const current = this.deps.deployments?.get(ref.name, namespace)?.spec?.replicas ?? 1;
    const replicas = workloadReplicas(ref.scaleDown, current, {
      desired: rollout.spec.replicas ?? 1,
      available: plan.status.availableReplicas ?? 0,
      fullyRolledOut: plan.status.phase === 'Healthy' && plan.status.stableRevision === plan.status.currentRevision,
    });
    if (replicas === undefined) return;
    log.info('scaling down the workloadRef deployment', { deployment: ref.name, from: current, to: replicas, scaleDown: ref.scaleDown });
    await this.deps.apps.patchNamespacedDeployment({ name: ref.name, namespace, body: { spec: { replicas } } }, mergePatchOptions());
    this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', namespace, uid: rollout.metadata.uid },
      'Normal',
      'WorkloadScaledDown',
      `Deployment ${ref.name} scaled from ${current} to ${replicas} (scaleDown: ${ref.scaleDown})`,
    );
  }

  private expect(key: string, written: k8s.V1ReplicaSet, how: { created: boolean }): void {
    this.expectations.expect(key, written.metadata?.name ?? '', { resourceVersion: written.metadata?.resourceVersion, replicas: written.spec?.replicas ?? 0 }, how);
  }

  private async createReplicaSet(
    rollout: Rollout,
    template: Rollout['spec']['template'],
    facts: RolloutFacts,
    revision: string,
    replicas: number,
    role: PodRole | undefined,
    stableRevision: string | undefined,
    log: Logger,
  ): Promise<k8s.V1ReplicaSet> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const podLabels = { ...(template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision };
    const podMetadata = podMetadataFor(template, rollout.spec.strategy.canary, revision, role);
    const revisionNumber = Math.max(0, ...facts.replicaSets.map((rs) => rs.revisionNumber)) + 1;
    const antiAffinity = rollout.spec.strategy.canary.antiAffinity;
    const avoidStable = role === 'canary' && antiAffinity !== undefined && stableRevision !== undefined && stableRevision !== revision;
    const podSpec = avoidStable ? { ...template.spec, affinity: canaryAffinity(template.spec.affinity as k8s.V1Affinity | undefined, antiAffinity, stableRevision) } : template.spec;
    const body: k8s.V1ReplicaSet = {
      metadata: {
        name: ownedObjectName(name, revision),
        namespace,
        labels: { ...podLabels, [LABEL_ROLLOUT]: rolloutLabelValue(name) },
        annotations: { [ANNOTATION_REVISION]: String(revisionNumber) },
        ownerReferences: [
          { apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: {
        replicas,
        minReadySeconds: rollout.spec.minReadySeconds ?? 0,
        selector: {
          matchLabels: { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision },
          ...(rollout.spec.selector.matchExpressions ? { matchExpressions: rollout.spec.selector.matchExpressions } : {}),
        },
        template: {
          ...template,
          spec: podSpec,
          metadata: {
            ...(template.metadata ?? {}),
            labels: podMetadata.labels,
            ...(Object.keys(podMetadata.annotations).length > 0 && { annotations: podMetadata.annotations }),
          },
        } as unknown as k8s.V1PodTemplateSpec,
      },
    };
    log.info('creating replicaset', { replicaSet: body.metadata?.name, revision, replicas });
    try {
      return await this.deps.apps.createNamespacedReplicaSet({ namespace, body });
    } catch (err) {
      if (isInvalid(err)) throw new RefusedError('InvalidSpec', `the apiserver refuses the pod template: ${apiErrorMessage(err)}`);
      if (!isAlreadyExists(err)) throw err;
      return this.adoptReplicaSet(rollout, body, log);
    }
  }

  /**
   * A ReplicaSet with our name that we do not own (left by `--cascade=orphan`, or an earlier install): adopted
   * when it is an orphan of this revision, as the Deployment controller does; otherwise refused, never fought over.
   */
  private async adoptReplicaSet(rollout: Rollout, wanted: k8s.V1ReplicaSet, log: Logger): Promise<k8s.V1ReplicaSet> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = wanted.metadata?.name ?? '';
    const found = await this.deps.apps.readNamespacedReplicaSet({ name, namespace });
    const controller = found.metadata?.ownerReferences?.find((ref) => ref.controller === true);
    if (controller?.uid === rollout.metadata.uid) return found;
    const revision = wanted.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH];
    const sameRevision = found.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === revision && found.spec?.selector.matchLabels?.[LABEL_POD_TEMPLATE_HASH] === revision;
    const selects = Object.entries(rollout.spec.selector.matchLabels ?? {}).every(([key, value]) => found.spec?.selector.matchLabels?.[key] === value);
    if (controller !== undefined || !sameRevision || !selects) {
      const why = controller !== undefined ? `it is controlled by ${controller.kind} ${controller.name}` : 'it is not an orphan of this revision';
      throw new RefusedError('ResourceConflict', `ReplicaSet ${name} exists and cannot be adopted: ${why}`);
    }
    log.info('adopting an orphaned replicaset', { replicaSet: name, revision });
    return this.deps.apps.patchNamespacedReplicaSet(
      {
        name,
        namespace,
        body: {
          metadata: {
            labels: { [LABEL_ROLLOUT]: rolloutLabelValue(rollout.metadata.name ?? '') },
            ownerReferences: [...(found.metadata?.ownerReferences ?? []), ...(wanted.metadata?.ownerReferences ?? [])],
            resourceVersion: found.metadata?.resourceVersion,
          },
        },
      },
      mergePatchOptions(),
    );
  }

  /**
   * Creates the AnalysisRuns the plan wants, terminates the ones it no longer wants (their verdict
   * stands), and deletes finished runs beyond analysisRunHistoryLimit.
   */
  private async syncAnalysisRuns(rollout: Rollout, plan: RolloutPlan, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const owned = this.ownedAnalysisRuns(rollout);
    const wanted = new Set(plan.analysisRuns.map((run) => run.name));
    for (const desired of plan.analysisRuns) {
      const existing = owned.find((run) => run.metadata?.name === desired.name);
      if (existing?.spec?.terminate === true) {
        // Its verdict judged an earlier visit to this step (possible only if status was lost): measure again.
        log.info('deleting a terminated analysis run the rollout needs afresh', { analysisRun: desired.name });
        await this.deps.custom
          .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'analysisruns', name: desired.name })
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
        continue;
      }
      if (existing !== undefined) continue;
      const spec = buildRunSpec(desired.analysis, (template, clusterScope) => this.templateSpec(template, clusterScope, namespace), {
        rollout,
        stableHash: plan.status.stableRevision,
        canaryHash: desired.revision,
      });
      log.info('creating analysis run', { analysisRun: desired.name, kind: desired.kind, invalid: spec.invalidReason });
      await this.deps.custom
        .createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: 'analysisruns',
          body: {
            apiVersion: API_VERSION,
            kind: 'AnalysisRun',
            metadata: {
              name: desired.name,
              namespace,
              labels: { [LABEL_ROLLOUT]: rolloutLabelValue(name), [LABEL_POD_TEMPLATE_HASH]: desired.revision, [LABEL_ANALYSIS_KIND]: desired.kind },
              ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
            },
            spec,
          },
        })
        .catch(async (err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
          await this.adoptAnalysisRun(rollout, desired.name, log);
        });
    }
    for (const run of owned) {
      const runName = run.metadata?.name ?? '';
      if (wanted.has(runName) || run.spec?.terminate === true || isTerminal(run.status?.phase ?? 'Pending')) continue;
      log.info('terminating analysis run the rollout no longer needs', { analysisRun: runName });
      await this.deps.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'analysisruns', name: runName, body: { spec: { terminate: true } } },
        mergePatchOptions(),
      );
    }
    const finished = owned
      .filter((run) => !wanted.has(run.metadata?.name ?? '') && isTerminal(run.status?.phase ?? 'Pending'))
      .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
    const limit = rollout.spec.strategy.canary.analysisRunHistoryLimit ?? ROLLOUT_DEFAULTS.analysisRunHistoryLimit;
    for (const run of finished.slice(limit)) {
      log.info('deleting analysis run beyond analysisRunHistoryLimit', { analysisRun: run.metadata?.name });
      await this.deps.custom
        .deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'analysisruns', name: run.metadata?.name ?? '' })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
  }

  /** An AnalysisRun with the name we give ours: ours (a cache behind), an orphan of this Rollout to adopt, or someone else's. */
  private async adoptAnalysisRun(rollout: Rollout, name: string, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const found = (await this.deps.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'analysisruns', name })) as OwnedRun;
    const controller = found.metadata?.ownerReferences?.find((ref) => ref.controller === true);
    if (controller?.uid === rollout.metadata.uid) return;
    if (controller !== undefined || found.metadata?.labels?.[LABEL_ROLLOUT] !== rolloutLabelValue(rollout.metadata.name ?? '')) {
      throw new RefusedError('ResourceConflict', `AnalysisRun ${name} exists and cannot be adopted: ${controller ? `it is controlled by ${controller.kind} ${controller.name}` : 'it was not made for this Rollout'}`);
    }
    log.info('adopting an orphaned analysis run', { analysisRun: name });
    const ownerReferences = [
      ...(found.metadata?.ownerReferences ?? []),
      { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true },
    ];
    await this.deps.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace, plural: 'analysisruns', name, body: { metadata: { ownerReferences, resourceVersion: found.metadata?.resourceVersion } } },
      mergePatchOptions(),
    );
  }

  private templateSpec(name: string, clusterScope: boolean, namespace: string): AnalysisTemplateSpec | undefined {
    const raw = clusterScope ? this.deps.clusterAnalysisTemplates?.get(name) : this.deps.analysisTemplates.get(name, namespace);
    if (raw === undefined) return undefined;
    const parsed = AnalysisTemplateSpec.safeParse((raw as { spec?: unknown }).spec);
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Makes the stable and canary Services select what the plan says: one revision's pods, or every pod of the
   * Rollout. The Services cache holds only Services labelled fledge.dev/rollout, so one it does not hold yet is
   * read from the API once and labelled together with its next selector change.
   */
  private async syncServices(rollout: Rollout, plan: RolloutPlan, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const owner = rolloutLabelValue(rollout.metadata.name ?? '');
    for (const target of plan.services) {
      const service =
        this.deps.services.get(target.name, namespace) ??
        (await this.deps.core.readNamespacedService({ name: target.name, namespace }).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }));
      if (!service) {
        log.warn('service named by the rollout does not exist', { service: target.name });
        plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, MISSING_SERVICE_RECHECK_MS);
        continue;
      }
      const selected = service.spec?.selector?.[LABEL_POD_TEMPLATE_HASH];
      if ((selected ?? null) === target.revision && service.metadata?.labels?.[LABEL_ROLLOUT] === owner) continue;
      // Every pod of the Rollout: its own labels stay in the selector, so nothing else is ever selected.
      const selector = target.revision === null ? { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: null } : { [LABEL_POD_TEMPLATE_HASH]: target.revision };
      log.info('pointing service at revision', { service: target.name, role: target.role, revision: target.revision ?? 'all' });
      await this.deps.core.patchNamespacedService(
        { name: target.name, namespace, body: { metadata: { labels: { [LABEL_ROLLOUT]: owner } }, spec: { selector } } },
        mergePatchOptions(),
      );
    }
  }

  /** A Rollout the schema let through but the controller cannot use: say so in status and an Event, touch nothing else. */
  private async reportInvalid(raw: k8s.KubernetesObject, problem: string, log: Logger, reason = 'InvalidSpec'): Promise<void> {
    const status = (raw as { status?: RolloutStatus }).status ?? {};
    const message = reason === 'InvalidSpec' ? `invalid Rollout: ${problem}` : problem;
    if (status.message === message) return;
    log.warn('invalid rollout', { problem });
    const generation = raw.metadata?.generation;
    const now = new Date(this.deps.now()).toISOString();
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'InvalidSpec');
    conditions.push({ type: 'InvalidSpec', status: 'True', reason, message, lastTransitionTime: now, ...(generation ? { observedGeneration: generation } : {}) });
    try {
      await this.deps.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: raw.metadata?.namespace ?? 'default',
          plural: 'rollouts',
          name: raw.metadata?.name ?? '',
          body: { status: { phase: 'Degraded', message, conditions, ...(generation ? { observedGeneration: generation } : {}) } },
        },
        mergePatchOptions(),
      );
    } catch (err) {
      if (!isConflict(err)) throw err;
      return;
    }
    this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'Rollout', name: raw.metadata?.name ?? '', namespace: raw.metadata?.namespace ?? 'default', uid: raw.metadata?.uid },
      'Warning',
      reason,
      message,
    );
  }
}

/** A bounded label for what aborted a rollout, from the abort message the machine wrote. */
function abortCause(message: string): string {
  if (message.startsWith('background analysis')) return 'BackgroundAnalysis';
  if (message.startsWith('analysis')) return 'Analysis';
  if (message.startsWith('progress deadline')) return 'ProgressDeadline';
  if (message.startsWith('webhook')) return 'Webhook';
  return 'Manual';
}
