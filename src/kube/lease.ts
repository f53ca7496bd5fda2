import type * as k8s from '@kubernetes/client-node';
// client-node's index would bring its generated API classes into the bundle (scripts/bundle-controller.ts).
import { V1MicroTime } from '@kubernetes/client-node/dist/types.js';

/**
 * The mechanics of holding a coordination.k8s.io/v1 Lease, as client-go does it, shared by the leader elector and the
 * shard manager: every write carries the Lease's resourceVersion, so two candidates can never both win, and expiry is
 * judged by when this process saw the Lease change, never by the holder's clock, so clock skew cannot steal it.
 */
export interface LeaseTiming {
  /** How long a Lease stays valid without renewal; another process takes over at most this long (plus a retry) after its holder dies. */
  leaseDurationMs: number;
  /**
   * The holder stops acting when it could not renew for this long, counted from the start of its last successful
   * renewal (it must be shorter than leaseDurationMs, so the holder stops before anyone may take over).
   */
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const LEASE_DEFAULTS: LeaseTiming = { leaseDurationMs: 10_000, renewDeadlineMs: 7_000, retryPeriodMs: 2_000 };

/**
 * The request timeout for a Lease client, as controller-runtime sets it: half the renew deadline (at least
 * 1 s), so a renewal that hangs fails in time for another attempt before the deadline.
 */
export function leaseRequestTimeoutMs(renewDeadlineMs: number): number {
  return Math.max(1_000, Math.floor(renewDeadlineMs / 2));
}

/** A Lease's duration field: whole seconds (the flags refuse a duration that is not). */
export function leaseSeconds(leaseDurationMs: number): number {
  return Math.max(1, Math.round(leaseDurationMs / 1000));
}

/** client-node reads MicroTime fields back as strings, whatever its types say; normalize for writing. */
function microTime(value: Date | string): k8s.V1MicroTime {
  return new V1MicroTime(new Date(value).getTime());
}

/** A new Lease held by `identity`. Lease times are MicroTime: the apiserver rejects the millisecond form a plain Date serializes to. */
export function newLease(metadata: k8s.V1ObjectMeta, identity: string, leaseDurationMs: number, now: number): k8s.V1Lease {
  const stamp = new V1MicroTime(now);
  return { metadata, spec: { holderIdentity: identity, leaseDurationSeconds: leaseSeconds(leaseDurationMs), acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 } };
}

/** `current` renewed by `identity`, or taken over when another held it (a new acquireTime, one more transition). */
export function heldLease(current: k8s.V1Lease, identity: string, leaseDurationMs: number, now: number): k8s.V1Lease {
  const spec = current.spec ?? {};
  const stamp = new V1MicroTime(now);
  const takeover = spec.holderIdentity !== identity;
  return {
    ...current,
    spec: {
      ...spec,
      ...(spec.acquireTime !== undefined && { acquireTime: microTime(spec.acquireTime) }),
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds(leaseDurationMs),
      renewTime: stamp,
      ...(takeover && { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    },
  };
}

/** `current` given up: no holder, so the next candidate takes it at once instead of waiting for it to expire. */
export function releasedLease(current: k8s.V1Lease, now: number): k8s.V1Lease {
  return {
    ...current,
    spec: {
      ...current.spec,
      ...(current.spec?.acquireTime !== undefined && { acquireTime: microTime(current.spec.acquireTime) }),
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: new V1MicroTime(now),
    },
  };
}

/** How long a Lease stays valid from when it was seen, by its own duration field (`fallbackMs` without one). */
export function leaseValidityMs(lease: k8s.V1Lease, fallbackMs: number): number {
  const seconds = lease.spec?.leaseDurationSeconds;
  return seconds === undefined ? fallbackMs : seconds * 1000;
}

/** Whether a Lease may be taken: nobody holds it, or it has not changed for its duration since this process saw it change. */
export function leaseFree(lease: k8s.V1Lease, sightedAt: number, now: number, fallbackMs: number): boolean {
  return (lease.spec?.holderIdentity ?? '') === '' || sightedAt + leaseValidityMs(lease, fallbackMs) <= now;
}

/** When this process saw each Lease's current version: the clock expiry is judged by. */
export class LeaseSightings {
  private readonly seen = new Map<string, { version: string | undefined; at: number }>();

  /** When the Lease's current version was first seen here (now, if it is new). */
  sighted(lease: k8s.V1Lease, now: number): number {
    const name = lease.metadata?.name ?? '';
    const version = lease.metadata?.resourceVersion;
    const previous = this.seen.get(name);
    if (previous !== undefined && previous.version === version) return previous.at;
    this.seen.set(name, { version, at: now });
    return now;
  }

  /** Keeps only the Leases still listed, so deleted ones are not remembered for ever. */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.seen.keys()) if (!names.has(name)) this.seen.delete(name);
  }
}
