import { fnv1a32 } from './shard-of.js';

/** A Lease as one replica sees it: a replica's membership Lease, or the Lease of one shard. */
export type LeaseView = {
  name: string;
  /** '' once released. */
  holder: string;
  /** The shard count its holder runs with, from the Lease's annotation; undefined when it has none. */
  shards: number | undefined;
  /** When this replica saw the Lease's current version; expiry is counted from then, never from the holder's clock. */
  sightedAt: number;
  /** How long the Lease stays valid from then (its leaseDurationSeconds). */
  validMs: number;
} & ({ role: 'member' } | { role: 'shard'; shard: number });

export interface BalanceInput {
  identity: string;
  shards: number;
  leases: readonly LeaseView[];
  now: number;
}

/** What one replica does with the Leases this round. */
export interface Balance {
  /** The live replicas that run with this shard count, this one included. */
  members: string[];
  /** How many shards this replica should hold: ⌊S/R⌋, or one more for the first S mod R members. */
  quota: number;
  /** Shards this replica holds and keeps. */
  renew: number[];
  /** Shards free (never created, released, or expired) that this replica takes. */
  take: number[];
  /** Shards this replica holds beyond its quota: given up at once, for a replica below its quota. */
  release: number[];
  /** Membership Leases of replicas gone for longer than a lease duration past their expiry: deleted. */
  prune: string[];
  /** A live shard Lease held under another shard count (a rollout of a new --shards): nothing is taken while there is one. */
  blockedBy?: { holder: string; shards: number | undefined };
  /**
   * When the first live Lease another replica holds expires as this replica sees it, if none is renewed before: from
   * then it may take that shard, or count that member gone.
   */
  nextExpiry?: number;
}

const live = (lease: LeaseView, now: number): boolean => lease.holder !== '' && lease.sightedAt + lease.validMs > now;

/**
 * Which shard Leases one replica renews, takes and releases: a pure function of the Leases it sees and the time.
 *
 * Every replica computes the same quotas from the same view: S mod R members get ⌈S/R⌉ shards and the rest ⌊S/R⌋, the
 * larger quotas going to the members that already hold the most (then by identity), so a join or a leave moves only
 * what it must. Which shards a replica prefers is its own rendezvous order (FNV-1a of identity and shard), so replicas
 * taking at once mostly reach for different Leases; when they do collide, the Lease's resourceVersion picks one.
 */
export function balance({ identity, shards, leases, now }: BalanceInput): Balance {
  const shardLeases = new Map<number, LeaseView>();
  for (const lease of leases) if (lease.role === 'shard' && lease.shard < shards) shardLeases.set(lease.shard, lease);
  const members = new Set([identity]);
  for (const lease of leases) if (lease.role === 'member' && lease.shards === shards && live(lease, now)) members.add(lease.holder);

  const mine = [...shardLeases.entries()].filter(([, lease]) => lease.holder === identity).map(([shard]) => shard);
  const holding = (member: string): number =>
    member === identity ? mine.length : [...shardLeases.values()].filter((lease) => lease.holder === member && live(lease, now)).length;
  const ordered = [...members].sort((a, b) => holding(b) - holding(a) || (a < b ? -1 : a > b ? 1 : 0));
  const quota = Math.floor(shards / ordered.length) + (ordered.indexOf(identity) < shards % ordered.length ? 1 : 0);

  const preference = (shard: number): number => fnv1a32(`${identity}/${shard}`);
  const preferred = (a: number, b: number): number => preference(b) - preference(a) || a - b;
  const kept = [...mine].sort(preferred);
  const renew = kept.slice(0, quota);
  const release = kept.slice(quota);

  const foreign = leases.find((lease) => lease.role === 'shard' && lease.holder !== identity && lease.shards !== shards && live(lease, now));
  const free = Array.from({ length: shards }, (_, shard) => shard).filter((shard) => {
    const lease = shardLeases.get(shard);
    return lease === undefined || (lease.holder !== identity && !live(lease, now));
  });
  const take = foreign === undefined ? free.sort(preferred).slice(0, Math.max(0, quota - renew.length)) : [];

  const expiries = leases.filter((lease) => lease.holder !== identity && live(lease, now)).map((lease) => lease.sightedAt + lease.validMs);
  const prune = leases.filter((lease) => lease.role === 'member' && lease.holder !== identity && lease.sightedAt + 2 * lease.validMs <= now).map((lease) => lease.name);
  return {
    members: [...members].sort(),
    quota,
    renew: renew.sort((a, b) => a - b),
    take: take.sort((a, b) => a - b),
    release: release.sort((a, b) => a - b),
    prune,
    ...(foreign !== undefined && { blockedBy: { holder: foreign.holder, shards: foreign.shards } }),
    ...(expiries.length > 0 && { nextExpiry: Math.min(...expiries) }),
  };
}

/**
 * How long a replica waits before its next round: a retry period, unless a Lease another holds expires sooner (a dead
 * replica's shards are then taken as soon as they may be, not up to a retry period later), and a tenth of one after it
 * lost a race for a free shard (the shards it did not get may still be free, and the next list says which; the tenth
 * keeps a list that lags the write it lost to from turning into a burst of requests).
 */
export function nextRoundInMs(round: { plan: Balance | undefined; lostRace: boolean }, now: number, retryPeriodMs: number): number {
  if (round.lostRace) return retryPeriodMs / 10;
  const expiry = round.plan?.nextExpiry;
  return expiry === undefined ? retryPeriodMs : Math.min(retryPeriodMs, Math.max(0, expiry - now));
}
