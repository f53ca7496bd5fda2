import { randomBytes } from 'node:crypto';
import type { CoreApi } from './api.js';
import { MAX_TOLD_MESSAGE, offerTransition, releaseDue, toldEvent, type HeldTransitions, type HoldStep, type ToldEvent, type Transitions } from './event-hold.js';
import { isNotFound, mergePatchOptions } from './patch.js';
import type { Logger } from '../observability/logger.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

/**
 * An Event that announces a transition of its object: it may wait up to `holdMs` so the object's next transition is
 * told in the same Event; with `holdMs` 0 it is written at once, telling what was held too. Events recorded without
 * it are written as they come, never combined.
 */
export interface TransitionTiming {
  holdMs: number;
}

/** Takes an Event to write; returns at once. Writing happens elsewhere, so a reconcile never waits for Events. */
export interface EventRecorder {
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, transition?: TransitionTiming): void;
}

/**
 * What became of each recorded Event: written, folded into an earlier one's count, told within a later transition's
 * Event (combined), dropped, or refused.
 */
export type EventOutcome = 'created' | 'aggregated' | 'combined' | 'dropped' | 'failed';

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
  firstAt: number;
  at: number;
  /** The transitions it tells; undefined for an Event that is not one, which never grows. */
  transitions?: Transitions;
}

/**
 * How an Event comes to the writer: `alone`, not a transition; `transition`, telling one that came now (with any held
 * before it); `held`, transitions that waited their hold out (or were told on a flush). Only `held` ones, which all
 * may wait, may be joined in the queue by their object's next transitions: a Warning, a pause or any other Event
 * told at once keeps its own reason.
 */
type Arrival = 'alone' | 'transition' | 'held';

interface Holding {
  target: EventTarget;
  held: HeldTransitions;
  timer: NodeJS.Timeout;
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
 * never waited for. A failed write is logged, never fatal. A transition that may wait is told in one Event with its
 * object's next ones within its hold (see TransitionTiming and offerTransition), and with them still if its hold ran
 * out while the writer is behind; flush() writes what is held at once.
 */
export class EventSink implements EventRecorder {
  private readonly pending: Pending[] = [];
  /** Per object, its Event of held transitions still waiting for the writer: the object's next transitions join it. */
  private readonly pendingTransitions = new Map<string, Pending>();
  private readonly written = new Map<string, Written>();
  /** Per object, the transitions waiting to be told with its next one. */
  private readonly holding = new Map<string, Holding>();
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

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, transition?: TransitionTiming): void {
    const at = this.now();
    if (transition === undefined) {
      this.enqueue(target, { type, reason, message, firstAt: at, at, transitions: [{ type, reason, message, at }] }, 'alone');
      return;
    }
    const key = targetKey(target);
    this.settle(key, target, offerTransition(this.holding.get(key)?.held, { type, reason, message, at }, transition.holdMs));
  }

  /**
   * Writes now what is held for the objects `which` picks: a replica that stops acting on a shard tells its
   * Rollouts' held transitions at once, rather than up to their hold later, when another replica acts on them.
   */
  tellHeld(which: (target: EventTarget) => boolean): void {
    for (const [key, holding] of [...this.holding]) if (which(holding.target)) this.release(key);
  }

  /** Writes what is held now, then resolves once everything recorded so far has been written (or given up on): for shutdown and tests. */
  async flush(): Promise<void> {
    for (const key of [...this.holding.keys()]) this.release(key);
    while (this.draining !== undefined) await this.draining;
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** Keeps what the hold step holds (with a timer for its deadline) and queues what it writes. */
  private settle(key: string, target: EventTarget, step: HoldStep, arrival: Exclude<Arrival, 'alone'> = 'transition'): void {
    const holding = this.holding.get(key);
    if (holding !== undefined && step.held?.dueAt !== holding.held.dueAt) {
      clearTimeout(holding.timer);
      this.holding.delete(key);
    }
    if (step.held !== undefined) {
      const current = this.holding.get(key);
      if (current !== undefined) current.held = step.held;
      else {
        const timer = setTimeout(() => this.release(key), Math.max(0, step.held.dueAt - this.now()));
        // A timer must not keep a stopping process alive: shutdown flushes instead.
        timer.unref();
        this.holding.set(key, { target, held: step.held, timer });
      }
    }
    for (const told of step.write) this.enqueue(target, told, arrival);
  }

  private release(key: string): void {
    const holding = this.holding.get(key);
    if (holding !== undefined) this.settle(key, holding.target, releaseDue(holding.held, Infinity), 'held');
  }

  /**
   * Queues an Event for the writer. Transitions join their object's Event of held transitions still waiting in the
   * queue, if the two fit in one: while the writer is behind (the Events' budget is spent), a start whose hold ran
   * out and the pause that follows are still one write.
   */
  private enqueue(target: EventTarget, told: ToldEvent, arrival: Arrival): void {
    const objectKey = targetKey(target);
    const waiting = arrival === 'alone' ? undefined : this.pendingTransitions.get(objectKey);
    if (waiting?.transitions !== undefined) {
      const joined = toldEvent([...waiting.transitions, ...told.transitions]);
      if (joined.message.length <= MAX_TOLD_MESSAGE) {
        for (let i = 0; i < told.transitions.length; i++) this.opts.onOutcome?.('combined');
        Object.assign(waiting, pendingOf(objectKey, joined));
        if (arrival !== 'held') this.pendingTransitions.delete(objectKey);
        return;
      }
    }
    for (let i = 1; i < told.transitions.length; i++) this.opts.onOutcome?.('combined');
    if (this.pending.length >= this.opts.maxPending) {
      this.opts.onOutcome?.('dropped');
      this.logger.debug('event dropped: too many waiting to be written', { reason: told.reason, name: target.name, namespace: target.namespace });
      return;
    }
    const queued: Pending = { ...pendingOf(objectKey, told), target };
    if (arrival === 'held') this.pendingTransitions.set(objectKey, queued);
    else if (arrival === 'alone') delete queued.transitions;
    else this.pendingTransitions.delete(objectKey);
    this.pending.push(queued);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    for (let next = this.pending.shift(); next !== undefined; next = this.pending.shift()) {
      const objectKey = targetKey(next.target);
      if (this.pendingTransitions.get(objectKey) === next) this.pendingTransitions.delete(objectKey);
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
          firstTimestamp: new Date(event.firstAt),
          lastTimestamp: new Date(event.at),
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

function pendingOf(objectKey: string, told: ToldEvent): Omit<Pending, 'target'> {
  const { type, reason, message, firstAt, at, transitions } = told;
  return { key: JSON.stringify([objectKey, type, reason, message]), type, reason, message, firstAt, at, transitions };
}

function targetKey(target: EventTarget): string {
  return JSON.stringify([target.namespace, target.kind, target.name, target.uid ?? '']);
}
