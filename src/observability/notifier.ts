import { describeHttpError, sendRequest } from '../http/request.js';
import type { Logger } from './logger.js';

/** The Events people want pushed to chat; the key is the Event reason, the value what happened. */
const NOTIFIED: Record<string, { what: string; color: string }> = {
  RolloutAborted: { what: 'aborted', color: '#d62728' },
  RolloutCompleted: { what: 'promoted', color: '#2ca02c' },
  RolloutPaused: { what: 'paused', color: '#ff7f0e' },
  AnalysisHold: { what: 'paused by analysis', color: '#ff7f0e' },
};

export interface RolloutNotice {
  namespace: string;
  name: string;
  reason: string;
  message: string;
}

/** A Slack-compatible incoming-webhook body: `text` for any receiver, an attachment for Slack's colour bar. */
export function slackPayload(notice: RolloutNotice): Record<string, unknown> | undefined {
  const kind = NOTIFIED[notice.reason];
  if (kind === undefined) return undefined;
  const title = `Rollout ${notice.namespace}/${notice.name} ${kind.what}`;
  return {
    text: `${title}: ${notice.message}`,
    attachments: [
      {
        color: kind.color,
        title,
        text: notice.message,
        fields: [
          { title: 'Namespace', value: notice.namespace, short: true },
          { title: 'Rollout', value: notice.name, short: true },
          { title: 'Reason', value: notice.reason, short: true },
        ],
      },
    ],
  };
}

/** A receiver's answer is not used; reading more than this of it is a failure, not a memory cost. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Notifications in flight at once; more are dropped (and logged) rather than piling up behind a dead receiver. */
export const MAX_NOTIFICATIONS_IN_FLIGHT = 32;

/**
 * Posts aborted, promoted and paused rollouts to a webhook. Best effort and in the background: notify() returns
 * at once, a slow or failing receiver is logged, and no reconcile ever waits for it.
 */
export class WebhookNotifier {
  private inFlight = 0;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    /** Each notification's deadline, from connect to the receiver's last byte. */
    private readonly timeoutMs = 5000,
  ) {}

  notify(notice: RolloutNotice): void {
    const payload = slackPayload(notice);
    if (payload === undefined) return;
    if (this.inFlight >= MAX_NOTIFICATIONS_IN_FLIGHT) {
      this.logger.warn('notification dropped: too many in flight', { namespace: notice.namespace, name: notice.name, reason: notice.reason });
      return;
    }
    this.inFlight++;
    void this.post(notice, payload).finally(() => this.inFlight--);
  }

  /** Resolves once every notification sent so far has been answered or has failed: for shutdown and tests. */
  async settled(): Promise<void> {
    while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private async post(notice: RolloutNotice, payload: Record<string, unknown>): Promise<void> {
    try {
      await sendRequest({
        what: 'the notification',
        url: this.url,
        method: 'POST',
        data: payload,
        deadlineMs: this.timeoutMs,
        maxResponseBytes: MAX_ANSWER_BYTES,
        sizeBudget: `a notification answer is read up to ${MAX_ANSWER_BYTES / 1024} KiB`,
      });
    } catch (err) {
      this.logger.warn('notification webhook failed', { namespace: notice.namespace, name: notice.name, reason: notice.reason, error: describeHttpError(err) });
    }
  }
}
