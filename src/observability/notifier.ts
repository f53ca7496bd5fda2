import axios from 'axios';
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

/**
 * Posts aborted, promoted and paused rollouts to a webhook. Best effort: a slow or failing receiver is
 * logged and never holds a reconcile up for more than the timeout.
 */
export class WebhookNotifier {
  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly timeoutMs = 5000,
  ) {}

  async notify(notice: RolloutNotice): Promise<void> {
    const payload = slackPayload(notice);
    if (payload === undefined) return;
    try {
      await axios.post(this.url, payload, { timeout: this.timeoutMs });
    } catch (err) {
      this.logger.warn('notification webhook failed', { namespace: notice.namespace, name: notice.name, reason: notice.reason, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
