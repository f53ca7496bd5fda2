import type * as k8s from '@kubernetes/client-node';
import type { LeaseApi } from './api.js';
import type { Logger } from '../observability/logger.js';
import { heldLease, leaseFree, LeaseSightings, newLease, releasedLease, type LeaseTiming } from './lease.js';
import { isConflict, isNotFound } from './patch.js';
import { sleep } from './sleep.js';

export interface LeaderElectionOptions extends LeaseTiming {
  namespace: string;
  name: string;
  identity: string;
  logger: Logger;
  now?: () => number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: every write carries the
 * Lease's resourceVersion, so two candidates can never both win, and expiry is judged by when this
 * process last saw the Lease change, not by the holder's clock, so clock skew cannot steal leadership.
 * client-node has no elector of its own; this is the small one the controller needs.
 */
export class LeaderElector {
  private readonly now: () => number;
  private readonly sightings = new LeaseSightings();
  private readonly stopping = new AbortController();
  private leading = false;

  constructor(
    private readonly api: Pick<LeaseApi, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Resolves once this process holds the Lease; then renews it in the background and calls
   * `onLost` if a renewal deadline passes. Resolves false if stop() was called first.
   */
  async acquire(onLost: () => void): Promise<boolean> {
    const log = this.opts.logger;
    while (!this.stopping.signal.aborted) {
      const startedAt = this.now();
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        log.info('became leader', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
        void this.renewLoop(startedAt, onLost);
        return true;
      }
      await sleep(this.opts.retryPeriodMs, this.stopping.signal);
    }
    return false;
  }

  /**
   * Renews every retry period. The deadline counts from when the last successful renewal *started*: the Lease
   * was written no earlier, so a follower, which waits leaseDurationMs from when it saw that write, can take
   * over only after this process has stopped leading. An attempt still hanging at the deadline (an apiserver
   * that accepts connections but never answers) is not waited for.
   */
  private async renewLoop(renewedAt: number, onLost: () => void): Promise<void> {
    let lastRenewal = renewedAt;
    while (!this.stopping.signal.aborted) {
      const deadline = lastRenewal + this.opts.renewDeadlineMs;
      // The last wait before the deadline is cut short, so leadership ends at the deadline, not a retry later.
      await sleep(Math.min(this.opts.retryPeriodMs, Math.max(0, deadline - this.now())), this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      const startedAt = this.now();
      if (startedAt < deadline && (await this.beforeDeadline(this.tryAcquireOrRenew(), deadline - startedAt))) {
        lastRenewal = startedAt;
      } else if (this.now() >= deadline) {
        this.leading = false;
        this.opts.logger.error('lost leadership: could not renew the lease in time', { identity: this.opts.identity, sinceLastRenewalMs: this.now() - lastRenewal });
        onLost();
        return;
      }
    }
  }

  /** The attempt's answer, or false once `ms` have passed without one. */
  private async beforeDeadline(attempt: Promise<boolean>, ms: number): Promise<boolean> {
    const timer = new AbortController();
    try {
      return await Promise.race([attempt, sleep(Math.max(0, ms), timer.signal).then(() => false)]);
    } finally {
      timer.abort();
    }
  }

  /** One attempt: create the Lease, take it over when expired, or renew it when held. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationMs } = this.opts;
    const now = this.now();
    let current: k8s.V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) return this.failed('reading the lease', err);
      return this.write(() => this.api.createNamespacedLease({ namespace, body: newLease({ name, namespace }, identity, leaseDurationMs, now) }));
    }
    // Seen when the read answered: a write that landed while it was under way is not judged older than it is.
    const seenAt = this.now();
    const sightedAt = this.sightings.sighted(current, seenAt);
    if (current.spec?.holderIdentity !== identity && !leaseFree(current, sightedAt, seenAt, leaseDurationMs)) return false;
    return this.write(() => this.api.replaceNamespacedLease({ name, namespace, body: heldLease(current, identity, leaseDurationMs, now) }));
  }

  /** Stops renewing and, when leading, hands the Lease back so a follower takes over at once. */
  async release(): Promise<void> {
    this.stopping.abort();
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name, identity } = this.opts;
    try {
      const current = await this.api.readNamespacedLease({ name, namespace });
      if (current.spec?.holderIdentity !== identity) return;
      await this.api.replaceNamespacedLease({ name, namespace, body: releasedLease(current, this.now()) });
      this.opts.logger.info('released leadership', { identity });
    } catch (err) {
      this.opts.logger.warn('could not release the lease; it expires on its own', { error: String(err) });
    }
  }

  private async write(call: () => Promise<k8s.V1Lease>): Promise<boolean> {
    try {
      this.sightings.sighted(await call(), this.now());
      return true;
    } catch (err) {
      // 409: another candidate wrote first; the resourceVersion precondition did its job.
      if (isConflict(err)) return false;
      return this.failed('writing the lease', err);
    }
  }

  private failed(what: string, err: unknown): false {
    this.opts.logger.warn(`leader election: ${what} failed`, { error: err instanceof Error ? err.message : String(err) });
    return false;
  }
}
