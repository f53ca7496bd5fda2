import { randomBytes } from 'node:crypto';
import type { CoreApi } from './api.js';
import { isNotFound, mergePatchOptions } from './patch.js';
import type { Logger } from '../observability/logger.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/** Takes an Event to write; returns at once. Writing happens elsewhere, so a reconcile never waits for Events. */
export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** What became of each recorded Event: written, folded into an earlier one's count, dropped, or refused. */
export type EventOutcome = 'created' | 'aggregated' | 'dropped' | 'failed';

export interface EventSinkOptions {
  /** Events waiting to be written; more are dropped (and counted) rather than held. client-go keeps 1000. */
  maxPending: number;
  /** A repeat of the same Event within this window raises the first one's count instead of writing another. */
  aggregateWindowMs: number;
  /** Distinct Events remembered for aggregation; the least recently seen are forgotten first. */
  maxRemembered: number;
  now?: () => number;
  onOutcome?: (outcome: EventOutcome) => void;
}

export const EVENT_DEFAULTS: EventSinkOptions = { maxPending: 1000, aggregateWindowMs: 10 * 60_000, maxRemembered: 4096 };

/** The Events client's own budget (client-go's event broadcaster paces writes the same way, apart from reconciles). */
export const EVENT_QPS = 10;
export const EVENT_BURST = 50;

interface Pending {
  key: string;
  target: EventTarget;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  at: number;
}

interface Written {
  name: string;
  namespace: string;
  count: number;
  lastAt: number;
}

/**
 * Writes core/v1 Events in the background, as client-go's broadcaster and event correlator do: record() only queues;
 * one writer drains the queue, one request at a time, through a client with a QPS budget of its own (EVENT_QPS), so
 * reconciles never queue behind Events; an Event identical to one written before (same object,
 * type, reason and message) and last seen less than ten minutes ago raises that Event's count and lastTimestamp instead of adding another, so
 * `kubectl describe` shows "x12" rather than twelve lines; when the queue is full new Events are dropped and counted,
 * never waited for. A failed write is logged, never fatal.
 */
export class EventSink implements EventRecorder {
  private readonly pending: Pending[] = [];
  private readonly written = new Map<string, Written>();
  private readonly now: () => number;
  private draining: Promise<void> | undefined;

  /** `core` should be a client of its own, with the Events' budget: see EVENT_QPS. */
  constructor(
    private readonly core: Pick<CoreApi, 'createNamespacedEvent' | 'patchNamespacedEvent'>,
    private readonly component: string,
    private readonly logger: Logger,
    private readonly opts: EventSinkOptions = EVENT_DEFAULTS,
  ) {
    this.now = opts.now ?? Date.now;
  }

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.pending.length >= this.opts.maxPending) {
      this.opts.onOutcome?.('dropped');
      this.logger.debug('event dropped: too many waiting to be written', { reason, name: target.name, namespace: target.namespace });
      return;
    }
    const key = JSON.stringify([target.namespace, target.kind, target.name, target.uid ?? '', type, reason, message]);
    this.pending.push({ key, target, type, reason, message, at: this.now() });
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves once everything recorded so far has been written (or given up on): for shutdown and tests. */
  async flush(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  get waiting(): number {
    return this.pending.length;
  }

  private async drain(): Promise<void> {
    for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
      const outcome = await this.write(next);
      this.opts.onOutcome?.(outcome);
    }
  }

  private async write(event: Pending): Promise<EventOutcome> {
    try {
      const previous = this.written.get(event.key);
      if (previous !== undefined && event.at - previous.lastAt < this.opts.aggregateWindowMs) {
        if (await this.raiseCount(previous, event.at)) {
          this.remember(event.key, previous);
          return 'aggregated';
        }
      }
      const at = new Date(event.at);
      const name = `${event.target.name}.${event.at.toString(16)}${randomBytes(2).toString('hex')}`;
      await this.core.createNamespacedEvent({
        namespace: event.target.namespace,
        body: {
          metadata: { name, namespace: event.target.namespace },
          involvedObject: { apiVersion: event.target.apiVersion, kind: event.target.kind, name: event.target.name, namespace: event.target.namespace, uid: event.target.uid },
          type: event.type,
          reason: event.reason,
          message: event.message,
          source: { component: this.component },
          reportingComponent: this.component,
          reportingInstance: process.env.HOSTNAME ?? this.component,
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
      });
      this.remember(event.key, { name, namespace: event.target.namespace, count: 1, lastAt: event.at });
      return 'created';
    } catch (err) {
      this.logger.warn('could not record event', { reason: event.reason, error: String(err) });
      return 'failed';
    }
  }

  /** False when the Event to count on is gone (the apiserver keeps Events about an hour): a new one is written. */
  private async raiseCount(previous: Written, at: number): Promise<boolean> {
    try {
      await this.core.patchNamespacedEvent(
        { name: previous.name, namespace: previous.namespace, body: { count: previous.count + 1, lastTimestamp: new Date(at) } },
        mergePatchOptions(),
      );
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    previous.count += 1;
    previous.lastAt = at;
    return true;
  }

  /** Map order is insertion order: re-inserting marks the entry recently seen, and the first entry is the oldest. */
  private remember(key: string, written: Written): void {
    this.written.delete(key);
    this.written.set(key, written);
    if (this.written.size > this.opts.maxRemembered) {
      const oldest = this.written.keys().next().value;
      if (oldest !== undefined) this.written.delete(oldest);
    }
  }
}
