import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, Rollout, VERSION, type RolloutStatus } from '../api/rollout.js';
import type { ResilientInformer } from '../kube/informer.js';
import { isConflict, isNotFound, mergePatchOptions, statusDiff } from '../kube/patch.js';
import type { WorkResult } from '../kube/work-queue.js';
import type { EventRecorder } from '../observability/events.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { ReplicaSetFacts, RolloutFacts } from './facts.js';
import { decide, type RolloutPlan } from './plan.js';
import { resolveSettings } from './defaults.js';
import { scalingLimits } from './replicas.js';
import { pendingRestart, planRestart, type PodFacts } from './restart.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT } from './labels.js';
import { podTemplateHash } from './revision.js';

/** Pods are not watched, so a restart in progress checks back this often. */
const RESTART_POLL_MS = 1000;

export interface RolloutReconcilerDeps {
  rollouts: ResilientInformer<k8s.KubernetesObject>;
  replicaSets: ResilientInformer<k8s.V1ReplicaSet>;
  services: ResilientInformer<k8s.V1Service>;
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  events: EventRecorder;
  metrics?: ControllerMetrics;
  logger: Logger;
  now: () => number;
}

/** Observe (caches only) → decide (pure) → act (idempotent writes) → report (status, events). */
export class RolloutReconciler {
  constructor(private readonly deps: RolloutReconcilerDeps) {}

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const log = this.deps.logger.with({ namespace, name });
    const raw = this.deps.rollouts.get(name, namespace);
    if (!raw) return;
    const parsed = Rollout.safeParse(raw);
    if (!parsed.success) {
      await this.reportInvalid(raw, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), log);
      return;
    }
    const rollout = parsed.data;
    const facts = this.observe(rollout);
    const plan = decide(facts);
    try {
      await this.restartPods(rollout, facts, plan, log);
      await this.act(rollout, facts, plan, log);
    } catch (err) {
      if (isConflict(err)) {
        log.debug('conflict; requeueing');
        return { requeueAfterMs: 50 };
      }
      throw err;
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  private ownedReplicaSets(rollout: Rollout): k8s.V1ReplicaSet[] {
    const uid = rollout.metadata.uid;
    return this.deps.replicaSets
      .list(rollout.metadata.namespace)
      .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller));
  }

  private observe(rollout: Rollout): RolloutFacts {
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
      currentRevision: podTemplateHash(rollout.spec.template),
      replicaSets,
      analysisRuns: [],
      hasTrafficRouter: false,
    };
  }

  private async act(rollout: Rollout, facts: RolloutFacts, plan: RolloutPlan, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const owned = this.ownedReplicaSets(rollout);
    for (const desired of plan.replicaSets) {
      const existing = owned.find((rs) => rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === desired.revision);
      if (!existing) {
        if (desired.create) await this.createReplicaSet(rollout, facts, desired.revision, desired.replicas, log);
        continue;
      }
      const patch: { metadata?: { annotations: Record<string, string | null> }; spec?: { replicas: number; minReadySeconds?: number } } = {};
      if ((existing.spec?.replicas ?? 0) !== desired.replicas) patch.spec = { replicas: desired.replicas };
      const minReady = rollout.spec.minReadySeconds ?? 0;
      if ((existing.spec?.minReadySeconds ?? 0) !== minReady) patch.spec = { replicas: desired.replicas, minReadySeconds: minReady };
      const currentAt = existing.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
      if (desired.scaleDownAt === null && currentAt !== undefined) {
        patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: null } };
      } else if (typeof desired.scaleDownAt === 'number') {
        const wanted = new Date(desired.scaleDownAt).toISOString();
        if (currentAt !== wanted) patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: wanted } };
      }
      if (patch.spec || patch.metadata) {
        log.info('updating replicaset', { replicaSet: existing.metadata?.name, replicas: desired.replicas });
        await this.deps.apps.patchNamespacedReplicaSet(
          { name: existing.metadata?.name ?? '', namespace, body: patch },
          mergePatchOptions(),
        );
      }
    }
    await this.syncServices(rollout, facts, plan, log);
    for (const name of plan.deleteReplicaSets) {
      log.info('deleting old replicaset beyond revisionHistoryLimit', { replicaSet: name });
      await this.deps.apps.deleteNamespacedReplicaSet({ name, namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    const statusChanged = await this.writeStatus(rollout, plan.status);
    this.deps.metrics?.observeRollout(namespace, rollout.metadata.name ?? '', plan.status.phase, plan.status.actualWeight);
    // Events follow a successful status write: a conflict re-runs the transition, and it must not be told twice.
    if (statusChanged) {
      for (const event of plan.events) {
        if (event.reason === 'RolloutAborted') this.deps.metrics?.aborts.inc({ namespace, name: rollout.metadata.name ?? '', reason: abortCause(event.message) });
        await this.deps.events.record(
          { apiVersion: API_VERSION, kind: 'Rollout', name: rollout.metadata.name ?? '', namespace, uid: rollout.metadata.uid },
          event.type,
          event.reason,
          event.message,
        );
      }
    }
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

  private async createReplicaSet(rollout: Rollout, facts: RolloutFacts, revision: string, replicas: number, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const name = rollout.metadata.name ?? '';
    const template = rollout.spec.template;
    const podLabels = { ...(template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision };
    const revisionNumber = Math.max(0, ...facts.replicaSets.map((rs) => rs.revisionNumber)) + 1;
    const body: k8s.V1ReplicaSet = {
      metadata: {
        name: `${name}-${revision}`,
        namespace,
        labels: { ...podLabels, [LABEL_ROLLOUT]: name },
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
        template: { ...template, metadata: { ...(template.metadata ?? {}), labels: podLabels } } as unknown as k8s.V1PodTemplateSpec,
      },
    };
    log.info('creating replicaset', { replicaSet: body.metadata?.name, revision, replicas });
    await this.deps.apps.createNamespacedReplicaSet({ namespace, body });
  }

  /** Keeps the stable and canary Services' selectors pinned to their revisions' pod-template hash. */
  private async syncServices(rollout: Rollout, facts: RolloutFacts, plan: RolloutPlan, log: Logger): Promise<void> {
    const namespace = rollout.metadata.namespace ?? 'default';
    const canary = rollout.spec.strategy.canary;
    const stable = plan.status.stableRevision;
    const targets: Array<[string | undefined, string | undefined]> = [
      [canary.stableService, stable],
      // Outside a canary (Healthy, or aborted) the canary Service points at stable, so it never routes to an aborted version.
      [canary.canaryService, plan.status.abort || facts.currentRevision === stable ? stable : facts.currentRevision],
    ];
    for (const [serviceName, revision] of targets) {
      if (!serviceName || !revision) continue;
      const service = this.deps.services.get(serviceName, namespace);
      if (!service) {
        log.warn('service named by the rollout does not exist', { service: serviceName });
        continue;
      }
      if (service.spec?.selector?.[LABEL_POD_TEMPLATE_HASH] === revision) continue;
      log.info('pointing service at revision', { service: serviceName, revision });
      await this.deps.core.patchNamespacedService(
        { name: serviceName, namespace, body: { spec: { selector: { [LABEL_POD_TEMPLATE_HASH]: revision } } } },
        mergePatchOptions(),
      );
    }
  }

  /** Merge-patches status with the Rollout's resourceVersion as a precondition; returns whether anything changed. */
  private async writeStatus(rollout: Rollout, desired: RolloutStatus): Promise<boolean> {
    const diff = statusDiff(rollout.status ?? {}, desired);
    if (!diff) return false;
    await this.deps.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: rollout.metadata.namespace ?? 'default',
        plural: 'rollouts',
        name: rollout.metadata.name ?? '',
        body: { metadata: { resourceVersion: rollout.metadata.resourceVersion }, status: diff },
      },
      mergePatchOptions(),
    );
    return true;
  }

  /** A Rollout the schema let through but the controller cannot use: say so in status and an Event, touch nothing else. */
  private async reportInvalid(raw: k8s.KubernetesObject, problem: string, log: Logger): Promise<void> {
    const status = (raw as { status?: RolloutStatus }).status ?? {};
    const message = `invalid Rollout: ${problem}`;
    if (status.message === message) return;
    log.warn('invalid rollout', { problem });
    const generation = raw.metadata?.generation;
    const now = new Date(this.deps.now()).toISOString();
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'InvalidSpec');
    conditions.push({ type: 'InvalidSpec', status: 'True', reason: 'InvalidSpec', message, lastTransitionTime: now, ...(generation ? { observedGeneration: generation } : {}) });
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
    await this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'Rollout', name: raw.metadata?.name ?? '', namespace: raw.metadata?.namespace ?? 'default', uid: raw.metadata?.uid },
      'Warning',
      'InvalidSpec',
      message,
    );
  }
}

/** A bounded label for what aborted a rollout, from the abort message the machine wrote. */
function abortCause(message: string): string {
  if (message.startsWith('background analysis')) return 'BackgroundAnalysis';
  if (message.startsWith('analysis')) return 'Analysis';
  if (message.startsWith('progress deadline')) return 'ProgressDeadline';
  return 'Manual';
}
