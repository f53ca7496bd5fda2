import { FencedWriteError } from '../kube/shards/write-fence.js';
import { WorkQueue, type WorkResult } from '../kube/work-queue.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { QueueName } from './watches.js';

export type Reconcile = (key: string) => Promise<WorkResult>;

/** With --shards: which keys this replica reconciles now, and the fence every write of their reconciles passes. */
export interface KeyOwnership {
  owns(queue: QueueName, key: string): boolean;
  fenced(queue: QueueName, key: string, reconcile: () => Promise<WorkResult>): Promise<WorkResult>;
}

/**
 * One keyed queue per controller. Nothing is reconciled before every cache has synced and, with leader election,
 * this process leads: until start(), keys are dropped and followers only keep warm caches. With shards, only the keys
 * of held shards are taken, and a key whose shard moved while it waited is dropped when its turn comes.
 */
export class ControllerQueues {
  private queues: Record<QueueName, WorkQueue> | undefined;
  private stopped = false;

  constructor(private readonly options: { concurrency: number; metrics: ControllerMetrics; logger: Logger; ownership?: KeyOwnership }) {}

  readonly enqueue = (queue: QueueName, key: string): void => {
    if (this.options.ownership?.owns(queue, key) !== false) this.queues?.[queue].add(key);
  };

  /** Drops the keys that `matches` from a queue: their shard went to another replica. */
  forget(queue: QueueName, matches: (key: string) => boolean): void {
    this.queues?.[queue].forget(matches);
  }

  /** The keys waiting in a queue. */
  waiting(queue: QueueName): readonly string[] {
    return this.queues?.[queue].waitingKeys() ?? [];
  }

  /** Starts reconciling, with each queue's reconcile; not once shut down. */
  start(reconcile: Record<QueueName, Reconcile>): void {
    if (this.stopped) return;
    this.queues = { rollout: this.queue('rollout', reconcile.rollout), analysisrun: this.queue('analysisrun', reconcile.analysisrun) };
  }

  /** Stops taking keys; resolves once every in-flight reconcile has finished. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all(Object.values(this.queues ?? {}).map((queue) => queue.shutdown()));
  }

  /** A queue with its duration, error and queue metrics. */
  private queue(controller: QueueName, reconcile: Reconcile): WorkQueue {
    const { concurrency, metrics, logger, ownership } = this.options;
    return new WorkQueue(
      async (key) => {
        if (ownership?.owns(controller, key) === false) return;
        const timer = metrics.reconcileDuration.startTimer({ controller });
        try {
          return await (ownership === undefined ? reconcile(key) : ownership.fenced(controller, key, () => reconcile(key)));
        } catch (err) {
          const [namespace, name] = key.split('/');
          if (err instanceof FencedWriteError) {
            // The shard went elsewhere mid-reconcile: the replica that holds it now reconciles the key.
            logger.info('stopped a reconcile whose shard is no longer held', { controller, namespace, name, shard: err.scope });
            return;
          }
          metrics.reconcileErrors.inc({ controller });
          logger.error('reconcile failed', { controller, namespace, name, error: err instanceof Error ? err.message : String(err) });
          throw err;
        } finally {
          timer();
        }
      },
      { concurrency, baseBackoffMs: 200, maxBackoffMs: 10_000 },
      {
        onDepth: (depth) => metrics.queueDepth.set({ controller }, depth),
        onLatency: (ms) => metrics.queueLatency.observe({ controller }, ms / 1000),
      },
    );
  }
}
