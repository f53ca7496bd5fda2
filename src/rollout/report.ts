import type * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, type Rollout, type RolloutStatus } from '../api/rollout.js';
import { StatusWrites } from '../kube/cache-expectations.js';
import { isConflict, mergePatchOptions, writeStatus } from '../kube/patch.js';
import type { Logger } from '../observability/logger.js';
import type { RolloutReconcilerDeps } from './deps.js';
import type { RolloutPlan } from './decide/plan.js';
import { rolloutRef, type RolloutRef } from './ref.js';
import { statusChange } from './decide/status.js';

type ReportDeps = Pick<RolloutReconcilerDeps, 'custom' | 'events' | 'metrics' | 'notifier' | 'webhooks' | 'apiSaturated' | 'now'>;

/** Writes status, Events, notifications and metrics: what people and other tools see of a reconcile. */
export class RolloutReporter {
  readonly statusWrites = new StatusWrites();
  /** Rollouts whose observed-only status change waited for API budget. */
  private readonly deferred = new Set<string>();

  constructor(private readonly deps: ReportDeps) {}

  /**
   * Writes the plan's status, at most once per reconcile and only if it differs. A change that only reports counts
   * and carries no Event waits while the API budget is spent: at 40 QPS those writes were half of every update's
   * requests, and the next decided change (or takeDeferred) writes the counts of that moment anyway.
   */
  async status(ref: RolloutRef, rollout: Rollout, plan: RolloutPlan): Promise<boolean> {
    const announces = plan.events.length > 0 || plan.notifications.length > 0;
    if (!announces && this.deps.apiSaturated?.() === true && statusChange(rollout.status ?? {}, plan.status) === 'observed') {
      this.deferred.add(ref.key);
      this.deps.metrics?.statusWrites.inc({ outcome: 'deferred' });
      return false;
    }
    const written = await writeStatus(this.deps.custom, GROUP, VERSION, 'rollouts', rollout, plan.status);
    if (written) {
      this.statusWrites.wrote(ref.key, rollout.metadata.resourceVersion);
      this.deferred.delete(ref.key);
      this.deps.metrics?.statusWrites.inc({ outcome: 'written' });
    }
    return written;
  }

  /**
   * The plan's Events, notifications and abort metrics: only after a successful status write, since a conflict re-runs
   * the transition and it must not be told twice. All handed off, never awaited.
   */
  announce(ref: RolloutRef, rollout: Rollout, plan: RolloutPlan): void {
    this.deps.webhooks?.notify(rollout, plan.notifications);
    for (const event of plan.events) {
      if (event.cause !== undefined) this.deps.metrics?.recordAbort(ref.namespace, ref.name, event.cause);
      this.deps.notifier?.notify({ namespace: ref.namespace, name: ref.name, reason: event.reason, message: event.message });
      this.deps.events.record(ref.target, event.type, event.reason, event.message);
    }
  }

  /** The Rollouts whose status waited for API budget, to be reconciled again now that there is some. */
  takeDeferred(): string[] {
    const keys = [...this.deferred];
    this.deferred.clear();
    return keys;
  }

  forget(key: string): void {
    this.statusWrites.forget(key);
    this.deferred.delete(key);
  }

  /** A Rollout the controller cannot use: say so in status and an Event, touch nothing else. */
  async invalid(raw: k8s.KubernetesObject, problem: string, log: Logger, reason = 'InvalidSpec'): Promise<void> {
    const status = (raw as { status?: RolloutStatus }).status ?? {};
    const message = reason === 'InvalidSpec' ? `invalid Rollout: ${problem}` : problem;
    if (status.message === message) return;
    log.warn('invalid rollout', { problem });
    const ref = rolloutRef(raw.metadata);
    const generation = raw.metadata?.generation;
    const now = new Date(this.deps.now()).toISOString();
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'InvalidSpec');
    conditions.push({ type: 'InvalidSpec', status: 'True', reason, message, lastTransitionTime: now, ...(generation ? { observedGeneration: generation } : {}) });
    try {
      await this.deps.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: ref.namespace,
          plural: 'rollouts',
          name: ref.name,
          body: { status: { phase: 'Degraded', message, conditions, ...(generation ? { observedGeneration: generation } : {}) } },
        },
        mergePatchOptions(),
      );
    } catch (err) {
      if (!isConflict(err)) throw err;
      return;
    }
    this.deps.events.record(ref.target, 'Warning', reason, message);
  }
}
