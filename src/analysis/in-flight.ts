import type { MeasurementProgress } from './providers/provider.js';

/** How many measurements may be in flight to one backend (a Prometheus, a web endpoint), and in all. */
export interface InFlightLimits {
  perBackend: number;
  total: number;
}

/**
 * Four at a time per backend, as a Prometheus tolerates from one client; 256 in all bounds memory. A slow backend
 * fills only its own four slots, so it takes 64 slow backends at once to touch anyone else, and then only until
 * their deadlines.
 */
export const IN_FLIGHT_DEFAULTS: InFlightLimits = { perBackend: 4, total: 256 };

/** What the scheduler reports, per backend, for /metrics. */
export interface InFlightObserver {
  started?(backend: string): void;
  settled?(backend: string, progress: MeasurementProgress): void;
  depth?(backend: string, inFlight: number, queued: number): void;
}

export interface MeasurementJob {
  /** The run (namespace/name) to enqueue again once this measurement has an answer. */
  runKey: string;
  /** Where the call goes: the unit of the per-backend limit. */
  backend: string;
  /** Fairness: queued measurements are taken round-robin across namespaces, then runs. */
  namespace: string;
  call: () => Promise<MeasurementProgress>;
}

/** A finished measurement, with when it started (the slot was taken) and finished, for the run's record. */
export interface Settled {
  progress: MeasurementProgress;
  startedAt: number;
  finishedAt: number;
}

interface Entry extends MeasurementJob {
  id: string;
}

/** Queued entries of one backend: a FIFO per namespace, namespaces taken in turn. */
class FairQueue {
  private readonly byNamespace = new Map<string, Entry[]>();
  private readonly turn: string[] = [];

  get size(): number {
    let size = 0;
    for (const entries of this.byNamespace.values()) size += entries.length;
    return size;
  }

  push(entry: Entry): void {
    const entries = this.byNamespace.get(entry.namespace);
    if (entries !== undefined) entries.push(entry);
    else {
      this.byNamespace.set(entry.namespace, [entry]);
      this.turn.push(entry.namespace);
    }
  }

  shift(): Entry | undefined {
    const namespace = this.turn.shift();
    if (namespace === undefined) return undefined;
    const entries = this.byNamespace.get(namespace) ?? [];
    const entry = entries.shift();
    if (entries.length > 0) this.turn.push(namespace);
    else this.byNamespace.delete(namespace);
    return entry;
  }

  remove(id: string): boolean {
    for (const [namespace, entries] of this.byNamespace) {
      const index = entries.findIndex((entry) => entry.id === id);
      if (index < 0) continue;
      entries.splice(index, 1);
      if (entries.length === 0) {
        this.byNamespace.delete(namespace);
        this.turn.splice(this.turn.indexOf(namespace), 1);
      }
      return true;
    }
    return false;
  }
}

/**
 * Measurements that talk to a third party, started by a reconcile and finished in the background: no reconcile
 * worker ever waits on a backend. A reconcile starts a measurement and returns; the answer (or the provider's
 * deadline) settles it and enqueues its run, whose next reconcile takes the result. Calls beyond a backend's limit
 * wait in that backend's own queue, so a slow backend delays only the runs that measure against it.
 *
 * Nothing here survives a restart, and nothing needs to: a measurement is recorded in the run's status only once
 * it is taken, so after a restart it is simply due again and asked afresh; none is counted twice or lost.
 */
export class MeasurementScheduler {
  private readonly queues = new Map<string, FairQueue>();
  private readonly running = new Map<string, number>();
  private readonly pending = new Map<string, Entry>();
  private readonly settled = new Map<string, Settled>();
  private inFlight = 0;
  /** Backends with queued work, taken in turn when a slot frees. */
  private readonly waiting: string[] = [];

  constructor(
    private readonly onSettled: (runKey: string) => void,
    private readonly limits: InFlightLimits = IN_FLIGHT_DEFAULTS,
    private readonly now: () => number = Date.now,
    private readonly observer: InFlightObserver = {},
  ) {}

  /** The settled result of `id` (taken: a second call says undefined), 'pending' while queued or in flight, or undefined if unknown. */
  take(id: string): Settled | 'pending' | undefined {
    const done = this.settled.get(id);
    if (done !== undefined) {
      this.settled.delete(id);
      return done;
    }
    return this.pending.has(id) ? 'pending' : undefined;
  }

  /** Starts `job` as measurement `id` (run, metric and index), at once if its backend and the total have room. */
  start(id: string, job: MeasurementJob): void {
    if (this.pending.has(id) || this.settled.has(id)) return;
    const entry = { ...job, id };
    this.pending.set(id, entry);
    if (this.hasRoom(job.backend)) this.launch(entry);
    else this.enqueue(entry);
    this.report(job.backend);
  }

  /** Forgets every measurement of a run that no longer needs them (deleted, or finished); one in flight runs out its deadline. */
  forget(runKey: string): void {
    for (const [id, entry] of this.pending) {
      if (entry.runKey !== runKey) continue;
      this.pending.delete(id);
      this.queues.get(entry.backend)?.remove(id);
      this.report(entry.backend);
    }
    for (const id of [...this.settled.keys()]) if (id.startsWith(`${runKey}/`)) this.settled.delete(id);
  }

  /** Measurements started whose answer no reconcile has taken yet, queued ones included. */
  get outstanding(): number {
    return this.pending.size + this.settled.size;
  }

  inFlightTo(backend: string): number {
    return this.running.get(backend) ?? 0;
  }

  queuedFor(backend: string): number {
    return this.queues.get(backend)?.size ?? 0;
  }

  private hasRoom(backend: string): boolean {
    return this.inFlight < this.limits.total && this.inFlightTo(backend) < this.limits.perBackend;
  }

  private enqueue(entry: Entry): void {
    let queue = this.queues.get(entry.backend);
    if (queue === undefined) {
      queue = new FairQueue();
      this.queues.set(entry.backend, queue);
    }
    queue.push(entry);
    if (!this.waiting.includes(entry.backend)) this.waiting.push(entry.backend);
  }

  private launch(entry: Entry): void {
    this.inFlight++;
    this.running.set(entry.backend, this.inFlightTo(entry.backend) + 1);
    this.observer.started?.(entry.backend);
    const startedAt = this.now();
    const finish = (progress: MeasurementProgress): void => {
      this.inFlight--;
      this.running.set(entry.backend, this.inFlightTo(entry.backend) - 1);
      this.observer.settled?.(entry.backend, progress);
      // A run forgotten meanwhile (deleted, finished) gets no result and no wake-up.
      if (this.pending.get(entry.id) === entry) {
        this.pending.delete(entry.id);
        this.settled.set(entry.id, { progress, startedAt, finishedAt: this.now() });
        this.onSettled(entry.runKey);
      }
      this.dispatch();
      this.report(entry.backend);
    };
    entry.call().then(finish, (err: unknown) => finish({ phase: 'Done', verdict: { phase: 'Error', message: err instanceof Error ? err.message : String(err) } }));
  }

  /** Fills free slots from the waiting backends, one entry per backend in turn. */
  private dispatch(): void {
    let stalled = 0;
    while (this.waiting.length > 0 && this.inFlight < this.limits.total && stalled < this.waiting.length) {
      const backend = this.waiting.shift() as string;
      const queue = this.queues.get(backend);
      if (queue === undefined || queue.size === 0) {
        this.queues.delete(backend);
        stalled = 0;
        continue;
      }
      if (this.inFlightTo(backend) >= this.limits.perBackend) {
        this.waiting.push(backend);
        stalled++;
        continue;
      }
      stalled = 0;
      const entry = queue.shift() as Entry;
      if (queue.size > 0) this.waiting.push(backend);
      else this.queues.delete(backend);
      this.launch(entry);
      this.report(backend);
    }
  }

  private report(backend: string): void {
    this.observer.depth?.(backend, this.inFlightTo(backend), this.queuedFor(backend));
  }
}
