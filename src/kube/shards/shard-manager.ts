import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../observability/logger.js';
import type { LeaseApi } from '../api.js';
import { heldLease, leaseValidityMs, LeaseSightings, newLease, releasedLease, type LeaseTiming } from '../lease.js';
import { apiErrorMessage, isConflict, isNotFound } from '../patch.js';
import { sleep } from '../sleep.js';
import { balance, nextRoundInMs, type Balance, type LeaseView } from './balance.js';

/** On every Lease of a group, so one list finds them all: the group's name (--leader-election-id). */
export const LABEL_LEASE_GROUP = 'fledge.dev/lease-group';
/** `member` (one per replica) or `shard`. */
export const LABEL_LEASE_ROLE = 'fledge.dev/lease-role';
/** The shard count the holder runs with: a shard's index means something only under one count. */
export const ANNOTATION_SHARDS = 'fledge.dev/shards';

export type ShardLeaseApi = Pick<LeaseApi, 'listNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease' | 'deleteNamespacedLease'>;

export interface ShardManagerOptions extends LeaseTiming {
  namespace: string;
  /** Shard i's Lease is `<group>-shard-<i>`. */
  group: string;
  identity: string;
  /** This replica's membership Lease. */
  memberLease: string;
  shards: number;
  logger: Logger;
  now?: () => number;
}

/** What the controller does when this replica starts or stops acting on a shard. */
export interface ShardListener {
  gained(shard: number): void;
  lost(shard: number): void;
}

/** One round's plan (undefined when the Leases could not be listed), and whether another replica won a shard it reached for. */
export interface Round {
  plan: Balance | undefined;
  lostRace: boolean;
}

/**
 * Holds this replica's share of the shard Leases. Every retry period (sooner when a Lease it may take expires, or
 * after losing a race for one) it lists the group's Leases, asks balance() what
 * to renew, take and release, and writes that; it renews its membership Lease in the same round, so the others count
 * it. It acts on a shard only until its local deadline (the start of its last successful write of that Lease plus the
 * renew deadline): any other replica waits a whole lease duration from when it saw that write, so two replicas never
 * act on one shard at once.
 */
export class ShardManager {
  private readonly now: () => number;
  /** The shards acted on, each with its local deadline. */
  private readonly deadlines = new Map<number, number>();
  private readonly sightings = new LeaseSightings();
  /** The last version of each Lease listed or written, for the writes that need one. */
  private readonly known = new Map<string, k8s.V1Lease>();
  private readonly stopping = new AbortController();
  private listener: ShardListener = { gained: () => {}, lost: () => {} };
  private ticking: Promise<Round> = Promise.resolve({ plan: undefined, lostRace: false });
  private blockedBy: string | undefined;
  private members = '';

  constructor(
    private readonly api: ShardLeaseApi,
    private readonly opts: ShardManagerOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether this replica may act on the shard now: it holds its Lease and the local deadline has not passed. */
  holds(shard: number): boolean {
    const deadline = this.deadlines.get(shard);
    return deadline !== undefined && this.now() < deadline;
  }

  /** The shards this replica acts on now. */
  held(): number[] {
    return [...this.deadlines.keys()].filter((shard) => this.holds(shard)).sort((a, b) => a - b);
  }

  /** Tells `listener` what this replica gains and loses from now on. */
  follow(listener: ShardListener): this {
    this.listener = listener;
    return this;
  }

  /** Takes and keeps shards every retry period until release(), telling `listener` what it gains and loses. */
  async run(listener: ShardListener): Promise<void> {
    this.follow(listener);
    while (!this.stopping.signal.aborted) {
      this.ticking = this.tick();
      await sleep(nextRoundInMs(await this.ticking, this.now(), this.opts.retryPeriodMs), this.stopping.signal);
    }
  }

  /** One round: list the Leases, decide, write. */
  async tick(): Promise<Round> {
    const { namespace, group, identity, shards } = this.opts;
    this.dropLapsed();
    let listed: k8s.V1Lease[];
    try {
      listed = (await this.api.listNamespacedLease({ namespace, labelSelector: `${LABEL_LEASE_GROUP}=${group}` })).items;
    } catch (err) {
      this.opts.logger.warn('shards: listing the leases failed', { error: apiErrorMessage(err) });
      return { plan: undefined, lostRace: false };
    }
    // Seen when the list answered: a write that landed while it was under way is not judged older than it is.
    const now = this.now();
    this.known.clear();
    for (const lease of listed) this.known.set(lease.metadata?.name ?? '', lease);
    this.sightings.retain(new Set(this.known.keys()));
    const plan = balance({ identity, shards, leases: listed.flatMap((lease) => this.view(lease, now)), now });
    this.report(plan);
    // Stop acting before giving anything up, and on whatever another replica now holds.
    for (const shard of plan.release) this.lose(shard, 'released to balance the shards');
    for (const shard of [...this.deadlines.keys()]) if (!plan.renew.includes(shard)) this.lose(shard, 'its lease names another holder');
    const [, , taken] = await Promise.all([
      this.write(this.opts.memberLease, 'member'),
      Promise.all(plan.renew.map((shard) => this.hold(shard))),
      Promise.all(plan.take.map((shard) => this.hold(shard))),
      ...plan.release.map((shard) => this.giveUp(this.shardLease(shard))),
      ...plan.prune.map((name) => this.prune(name)),
    ]);
    return { plan, lostRace: taken.includes('conflict') };
  }

  /** Stops taking and renewing, stops acting on every shard, and gives their Leases up so the others take them at once. */
  async release(): Promise<void> {
    this.stopping.abort();
    // A round under way could take a shard again after it was given up.
    await this.ticking;
    const held = [...this.deadlines.keys()];
    for (const shard of held) this.lose(shard, 'stopping');
    await Promise.all([...held.map((shard) => this.giveUp(this.shardLease(shard))), this.prune(this.opts.memberLease)]);
  }

  private shardLease(shard: number): string {
    return `${this.opts.group}-shard-${shard}`;
  }

  private view(lease: k8s.V1Lease, now: number): LeaseView[] {
    const name = lease.metadata?.name ?? '';
    const shards = Number(lease.metadata?.annotations?.[ANNOTATION_SHARDS]);
    const common = {
      name,
      holder: lease.spec?.holderIdentity ?? '',
      shards: Number.isInteger(shards) ? shards : undefined,
      sightedAt: this.sightings.sighted(lease, now),
      validMs: leaseValidityMs(lease, this.opts.leaseDurationMs),
    };
    const role = lease.metadata?.labels?.[LABEL_LEASE_ROLE];
    if (role === 'member') return [{ ...common, role }];
    const shard = Number(name.slice(`${this.opts.group}-shard-`.length));
    return role === 'shard' && name.startsWith(`${this.opts.group}-shard-`) && Number.isInteger(shard) ? [{ ...common, role, shard }] : [];
  }

  /** Creates or renews a Lease, taking it over when another held it, as this replica, labelled for its group. */
  private async write(name: string, role: 'member' | 'shard'): Promise<{ lease: k8s.V1Lease; startedAt: number } | 'conflict' | undefined> {
    const { namespace, group, identity, shards, leaseDurationMs } = this.opts;
    const current = this.known.get(name);
    const metadata = {
      ...current?.metadata,
      name,
      namespace,
      labels: { ...current?.metadata?.labels, [LABEL_LEASE_GROUP]: group, [LABEL_LEASE_ROLE]: role },
      annotations: { ...current?.metadata?.annotations, [ANNOTATION_SHARDS]: String(shards) },
    };
    const startedAt = this.now();
    try {
      const lease =
        current === undefined
          ? await this.api.createNamespacedLease({ namespace, body: newLease(metadata, identity, leaseDurationMs, startedAt) })
          : await this.api.replaceNamespacedLease({ name, namespace, body: { ...heldLease(current, identity, leaseDurationMs, startedAt), metadata } });
      this.sightings.sighted(lease, this.now());
      this.known.set(name, lease);
      return { lease, startedAt };
    } catch (err) {
      // 409: another replica wrote first, and the resourceVersion precondition did its job.
      if (isConflict(err)) return 'conflict';
      this.opts.logger.warn('shards: writing a lease failed', { lease: name, error: apiErrorMessage(err) });
      return undefined;
    }
  }

  /** Renews or takes a shard's Lease; 'conflict' when another replica wrote it first. */
  private async hold(shard: number): Promise<'conflict' | undefined> {
    const written = await this.write(this.shardLease(shard), 'shard');
    if (written === undefined || written === 'conflict') return written;
    const previous = this.deadlines.get(shard);
    const now = this.now();
    // A deadline that passed before this renewal answered: whatever was dropped meanwhile is taken up again below.
    if (previous !== undefined && now >= previous) this.lose(shard, 'its renew deadline passed');
    const deadline = written.startedAt + this.opts.renewDeadlineMs;
    if (now >= deadline) return undefined;
    const gained = !this.deadlines.has(shard);
    this.deadlines.set(shard, deadline);
    if (gained) {
      this.opts.logger.info('acting on shard', { shard, lease: this.shardLease(shard), identity: this.opts.identity });
      this.listener.gained(shard);
    }
    return undefined;
  }

  private dropLapsed(): void {
    for (const shard of [...this.deadlines.keys()]) if (!this.holds(shard)) this.lose(shard, 'its renew deadline passed');
  }

  private lose(shard: number, why: string): void {
    if (!this.deadlines.delete(shard)) return;
    this.opts.logger.info('stopped acting on shard', { shard, why, identity: this.opts.identity });
    this.listener.lost(shard);
  }

  private async giveUp(name: string): Promise<void> {
    const current = this.known.get(name);
    if (current === undefined || current.spec?.holderIdentity !== this.opts.identity) return;
    try {
      this.known.set(name, await this.api.replaceNamespacedLease({ name, namespace: this.opts.namespace, body: releasedLease(current, this.now()) }));
    } catch (err) {
      this.opts.logger.warn('shards: could not release a lease; it expires on its own', { lease: name, error: apiErrorMessage(err) });
    }
  }

  /** Deletes a membership Lease, only in the version this replica saw (a replica that came back has renewed it since). */
  private async prune(name: string): Promise<void> {
    const resourceVersion = this.known.get(name)?.metadata?.resourceVersion;
    if (resourceVersion === undefined) return;
    try {
      await this.api.deleteNamespacedLease({ name, namespace: this.opts.namespace, body: { preconditions: { resourceVersion } } });
      this.known.delete(name);
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) this.opts.logger.warn('shards: could not delete a membership lease', { lease: name, error: apiErrorMessage(err) });
    }
  }

  private report(plan: Balance): void {
    const members = plan.members.join(',');
    if (members !== this.members) this.opts.logger.info('shards: replicas changed', { members: plan.members, quota: plan.quota, identity: this.opts.identity });
    this.members = members;
    const blocker = plan.blockedBy === undefined ? undefined : `${plan.blockedBy.holder} (${plan.blockedBy.shards ?? 'unknown'} shards)`;
    if (blocker !== undefined && blocker !== this.blockedBy) {
      this.opts.logger.warn('shards: another replica holds a shard under a different --shards; taking none until it is gone', { holder: blocker, shards: this.opts.shards });
    }
    this.blockedBy = blocker;
  }
}
