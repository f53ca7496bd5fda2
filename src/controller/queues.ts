import { WorkQueue, type WorkResult } from '../kube/work-queue.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { QueueName } from './watches.js';

export type Reconcile = (key: string) => Promise<WorkResult>;

/**
 * One keyed queue per controller. Nothing is reconciled before every cache has synced and, with leader election,
 * this process leads: until start(), keys are dropped and followers only keep warm caches.
 */
export class ControllerQueues {
  private queues: Record<QueueName, WorkQueue> | undefined;
  private stopped = false;

  constructor(private readonly options: { concurrency: number; metrics: ControllerMetrics; logger: Logger }) {}

  readonly enqueue = (queue: QueueName, key: string): void => this.queues?.[queue].add(key);

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
    const { concurrency, metrics, logger } = this.options;
    return new WorkQueue(
      async (key) => {
        const timer = metrics.reconcileDuration.startTimer({ controller });
        try {
          return await reconcile(key);
        } catch (err) {
          const [namespace, name] = key.split('/');
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
