import type * as k8s from '@kubernetes/client-node';
// client-node's index would bring its generated API classes into the bundle (scripts/bundle-controller.ts).
import { V1MicroTime } from '@kubernetes/client-node/dist/types.js';
import type { Logger } from '../observability/logger.js';
import { isConflict, isNotFound } from './patch.js';
import { sleep } from './sleep.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a Lease stays valid without renewal; a follower takes over at most this long (plus one retry) after the leader dies. */
  leaseDurationMs: number;
  /**
   * The leader gives up leadership when it could not renew for this long, counted from the start of its last
   * successful renewal (it must be shorter than leaseDurationMs, so the leader stops before anyone may take over).
   */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  now?: () => number;
}

export const LEADER_ELECTION_DEFAULTS = { leaseDurationMs: 10_000, renewDeadlineMs: 7_000, retryPeriodMs: 2_000 } as const;

/**
 * The request timeout for the Lease client, as controller-runtime sets it: half the renew deadline (at least
 * 1 s), so a renewal that hangs fails in time for another attempt before the deadline.
 */
export function leaseRequestTimeoutMs(renewDeadlineMs: number): number {
  return Math.max(1_000, Math.floor(renewDeadlineMs / 2));
}

type LeaseApi = Pick<k8s.CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

/** client-node reads MicroTime fields back as strings, whatever its types say; normalize for writing. */
function microTime(value: Date | string): k8s.V1MicroTime {
  return new V1MicroTime(new Date(value).getTime());
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: every write carries the
 * Lease's resourceVersion, so two candidates can never both win, and expiry is judged by when this
 * process last saw the Lease change, not by the holder's clock, so clock skew cannot steal leadership.
 * client-node has no elector of its own; this is the small one the controller needs.
 */
export class LeaderElector {
  private readonly now: () => number;
  /** The last Lease seen and when this process saw it change. */
  private observed: { lease: k8s.V1Lease; at: number } | undefined;
  private readonly stopping = new AbortController();
  private leading = false;

  constructor(
    private readonly api: LeaseApi,
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
    const { namespace, name, identity } = this.opts;
    const now = this.now();
    // Lease times are MicroTime: the apiserver rejects the millisecond form a plain Date serializes to.
    const stamp = new V1MicroTime(now);
    let current: k8s.V1Lease;
    try {
      current = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) return this.failed('reading the lease', err);
      return this.write(() =>
        this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.leaseSeconds(), acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
          },
        }),
      );
    }
    if (this.observed?.lease.metadata?.resourceVersion !== current.metadata?.resourceVersion) this.observed = { lease: current, at: now };
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? this.leaseSeconds()) * 1000;
    const expired = holder === '' || (this.observed?.at ?? now) + durationMs <= now;
    if (holder !== identity && !expired) return false;
    const takeover = holder !== identity;
    return this.write(() =>
      this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...current,
          spec: {
            ...spec,
            ...(spec.acquireTime !== undefined && { acquireTime: microTime(spec.acquireTime) }),
            holderIdentity: identity,
            leaseDurationSeconds: this.leaseSeconds(),
            renewTime: stamp,
            ...(takeover && { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          },
        },
      }),
    );
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
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...current,
          spec: {
            ...current.spec,
            ...(current.spec?.acquireTime !== undefined && { acquireTime: microTime(current.spec.acquireTime) }),
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: new V1MicroTime(this.now()),
          },
        },
      });
      this.opts.logger.info('released leadership', { identity });
    } catch (err) {
      this.opts.logger.warn('could not release the lease; it expires on its own', { error: String(err) });
    }
  }

  private leaseSeconds(): number {
    return Math.max(1, Math.round(this.opts.leaseDurationMs / 1000));
  }

  private async write(call: () => Promise<k8s.V1Lease>): Promise<boolean> {
    try {
      const lease = await call();
      this.observed = { lease, at: this.now() };
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
