import type * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION, type Rollout, type RolloutStatus } from '../api/rollout.js';
import { StatusWrites } from '../kube/cache-expectations.js';
import { isConflict, mergePatchOptions, writeStatus } from '../kube/patch.js';
import type { Logger } from '../observability/logger.js';
import type { RolloutReconcilerDeps } from './deps.js';
import type { RolloutPlan } from './decide/plan.js';
import { rolloutRef, type RolloutRef } from './ref.js';
import { COUNTS_STALENESS_MS, statusWriteDue } from './decide/status-writes.js';
import { eventsToRecord } from './decide/recorded-events.js';

type ReportDeps = Pick<RolloutReconcilerDeps, 'custom' | 'events' | 'metrics' | 'notifier' | 'webhooks' | 'now' | 'countsStalenessMs'>;

/** What became of a reconcile's status: written or not, and when to look again for a change held back. */
export interface StatusOutcome {
  written: boolean;
  recheckAfterMs?: number;
}

/** Writes status, Events, notifications and metrics: what people and other tools see of a reconcile. */
export class RolloutReporter {
  readonly statusWrites = new StatusWrites();
  /** Per Rollout, since when a change of counts alone has been held back (statusWriteDue's bound runs from then). */
  private readonly heldSince = new Map<string, number>();

  constructor(private readonly deps: ReportDeps) {}

  /**
   * Writes the plan's status, at most once per reconcile and only if it differs. A change of counts alone waits up
   * to COUNTS_STALENESS_MS for the next decided change, which writes the counts of its moment along with it.
   */
  async status(ref: RolloutRef, rollout: Rollout, plan: RolloutPlan, now: number): Promise<StatusOutcome> {
    const announces = plan.events.length > 0 || plan.notifications.length > 0;
    const due = statusWriteDue({
      written: rollout.status ?? {},
      desired: plan.status,
      announces,
      heldSince: this.heldSince.get(ref.key),
      now,
      stalenessMs: this.deps.countsStalenessMs ?? COUNTS_STALENESS_MS,
    });
    if (due.kind === 'later') {
      if (!this.heldSince.has(ref.key)) {
        this.heldSince.set(ref.key, now);
        this.deps.metrics?.statusWrites.inc({ outcome: 'deferred' });
      }
      return { written: false, recheckAfterMs: due.at - now };
    }
    if (due.kind === 'none') {
      this.heldSince.delete(ref.key);
      return { written: false };
    }
    const written = await writeStatus(this.deps.custom, GROUP, VERSION, 'rollouts', rollout, plan.status);
    // Only once written: a conflict retries the reconcile, and the bound keeps running from the first hold.
    this.heldSince.delete(ref.key);
    if (written) {
      this.statusWrites.wrote(ref.key, rollout.metadata.resourceVersion);
      this.deps.metrics?.statusWrites.inc({ outcome: 'written' });
    }
    return { written };
  }

  /**
   * The plan's Events (one per transition; a canary moving on may be told with its next transition, see
   * eventsToRecord), notifications and abort metrics: only after a successful status write, since a conflict re-runs
   * the transition and it must not be told twice. All handed off, never awaited.
   */
  announce(ref: RolloutRef, rollout: Rollout, plan: RolloutPlan): void {
    this.deps.webhooks?.notify(rollout, plan.notifications);
    for (const event of plan.events) {
      if (event.cause !== undefined) this.deps.metrics?.recordAbort(ref.namespace, ref.name, event.cause);
      this.deps.notifier?.notify({ namespace: ref.namespace, name: ref.name, reason: event.reason, message: event.message });
    }
    for (const event of eventsToRecord(plan.events, plan.movingEventHoldMs)) this.deps.events.record(ref.target, event.type, event.reason, event.message, { holdMs: event.holdMs });
  }

  forget(key: string): void {
    this.statusWrites.forget(key);
    this.heldSince.delete(key);
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
