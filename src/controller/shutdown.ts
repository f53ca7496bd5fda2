import type { Logger } from '../observability/logger.js';
import type { HttpEndpoint } from '../observability/metrics.js';
import type { ControllerQueues } from './queues.js';
import type { Reconcilers } from './reconcilers.js';

/** How long a stopping controller waits for Events and notifications still being written. */
const SHUTDOWN_FLUSH_MS = 2_000;

/** What a stopping controller finishes, releases and closes, in that order. */
export interface Running {
  queues: Pick<ControllerQueues, 'shutdown'>;
  reconcilers: Pick<Reconcilers, 'webhooks' | 'events' | 'notifier'>;
  /** The leader Lease, or the shard Leases: given up last, once nothing is written any more. */
  leases: { release(): Promise<void> } | undefined;
  informers: ReadonlyArray<{ stop(): Promise<void> }>;
  endpoints: readonly HttpEndpoint[];
}

/**
 * Stops gracefully on SIGTERM or SIGINT, then exits: in-flight reconciles finish, the Leases are released for the next
 * leader (or the other replicas) at once. Returns the signal that aborts as soon as stopping begins, for whatever is
 * still starting.
 */
export function stopOnSignals(running: Running, logger: Logger): AbortSignal {
  const stopping = new AbortController();
  const stop = async (signal: string): Promise<void> => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    logger.info('shutting down; finishing in-flight reconciles', { signal });
    await running.queues.shutdown();
    const { webhooks, events, notifier } = running.reconcilers;
    webhooks.stop();
    // What the last reconciles recorded is worth a moment, not a hang on an apiserver that is going away.
    await Promise.race([Promise.all([events.flush(), notifier?.settled()]), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_FLUSH_MS))]);
    await running.leases?.release();
    await Promise.all(running.informers.map((informer) => informer.stop()));
    await Promise.all(running.endpoints.map((endpoint) => endpoint.close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return stopping.signal;
}
