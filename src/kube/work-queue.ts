/**
 * A keyed work queue with controller-runtime's contract: a key is processed by at most one worker at a time,
 * adding a key that is already waiting does nothing, a key added while it is being processed runs once more
 * afterwards, and failures (a thrown error, or a `{ retry: true }` result) are retried with per-key
 * exponential backoff capped at `maxBackoffMs`, reset when the key next succeeds.
 */
export interface WorkQueueOptions {
  concurrency: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Injected for tests; defaults to setTimeout. */
  schedule?: (fn: () => void, ms: number) => { cancel: () => void };
}

/**
 * `requeueAfterMs`: run the key again after that long (a pause deadline, a measurement interval).
 * `retry`: the reconcile lost a race it expects to win later (a 409 Conflict); run it again after the key's
 * backoff, as a failure would, without counting as an error.
 */
export type WorkResult = { requeueAfterMs?: number } | { retry: true } | void;

/**
 * The longest a key waits for a timer. Node's setTimeout fires after 1 ms for any delay above
 * 2^31 - 1 ms (24.8 days), which turned an 800 h pause into a hot loop; an hour also bounds how long
 * a lost watch event can leave a key unlooked-at.
 */
export const MAX_REQUEUE_MS = 60 * 60 * 1000;

export class WorkQueue {
  private readonly waiting: string[] = [];
  private readonly waitingSet = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; cancel: () => void }>();
  private readonly addedAt = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: (key: string) => Promise<WorkResult>,
    private readonly options: WorkQueueOptions,
    private readonly hooks: { onLatency?: (ms: number) => void; onDepth?: (depth: number) => void } = {},
  ) {}

  get depth(): number {
    return this.waiting.length;
  }

  /** The keys waiting for a worker, oldest first. */
  waitingKeys(): readonly string[] {
    return this.waiting;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waitingSet.has(key)) return;
    this.waitingSet.add(key);
    this.waiting.push(key);
    this.addedAt.set(key, Date.now());
    this.hooks.onDepth?.(this.waiting.length);
    this.pump();
  }

  /**
   * Adds the key after `ms` (at most MAX_REQUEUE_MS); an earlier pending timer for the same key wins.
   * A capped wake-up simply reconciles early, and the reconcile asks again for what is left.
   */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const delay = Number.isFinite(ms) ? Math.min(ms, MAX_REQUEUE_MS) : MAX_REQUEUE_MS;
    const at = Date.now() + delay;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const schedule = this.options.schedule ?? defaultSchedule;
    const timer = schedule(() => {
      this.timers.delete(key);
      this.add(key);
    }, delay);
    this.timers.set(key, { at, cancel: timer.cancel });
  }

  /**
   * Drops every waiting, scheduled or failed key that `matches`: this process no longer works on them. A key being
   * processed finishes, without the extra run an add made meanwhile would have given it.
   */
  forget(matches: (key: string) => boolean): void {
    for (const [key, timer] of this.timers) {
      if (!matches(key)) continue;
      timer.cancel();
      this.timers.delete(key);
    }
    for (const key of [...this.dirty, ...this.failures.keys()].filter(matches)) {
      this.dirty.delete(key);
      this.failures.delete(key);
    }
    const dropped = this.waiting.filter(matches);
    if (dropped.length === 0) return;
    for (const key of dropped) {
      this.waitingSet.delete(key);
      this.addedAt.delete(key);
    }
    let kept = 0;
    for (const key of this.waiting) if (this.waitingSet.has(key)) this.waiting[kept++] = key;
    this.waiting.length = kept;
    this.hooks.onDepth?.(this.waiting.length);
  }

  /** Stops taking work; resolves once every in-flight handler has finished. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    this.waiting.length = 0;
    this.waitingSet.clear();
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  backoffFor(key: string): number {
    const n = this.failures.get(key) ?? 0;
    const base = this.options.baseBackoffMs ?? 200;
    const max = this.options.maxBackoffMs ?? 10_000;
    return Math.min(max, base * 2 ** Math.max(0, n - 1));
  }

  private retryLater(key: string): void {
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.addAfter(key, this.backoffFor(key));
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency) {
      const index = this.waiting.findIndex((k) => !this.active.has(k));
      if (index < 0) return;
      const [key] = this.waiting.splice(index, 1) as [string];
      this.waitingSet.delete(key);
      this.hooks.onDepth?.(this.waiting.length);
      const added = this.addedAt.get(key);
      if (added !== undefined) this.hooks.onLatency?.(Date.now() - added);
      this.addedAt.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.handler(key);
      if (result && 'retry' in result) {
        this.retryLater(key);
      } else {
        this.failures.delete(key);
        if (result && result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      }
    } catch {
      this.retryLater(key);
    } finally {
      this.active.delete(key);
      this.running--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.running === 0 && this.stopped) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }
}

function defaultSchedule(fn: () => void, ms: number): { cancel: () => void } {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}
