import { describeHttpError, sendRequest } from '../../http/request.js';

export interface LoadTestOptions {
  url: string;
  /** Requests a second, already within LOAD_TEST_MAX_RPS. */
  rps: number;
  durationMs: number;
  /** Each request's deadline, from connect to the last byte of the answer. */
  timeoutMs: number;
}

export interface LoadTestSummary {
  sent: number;
  /** Non-2xx answers, requests past their deadline and connection errors. */
  errors: number;
  /** What the latest of those was, so the summary says why they failed. */
  lastError?: string;
  /** Ticks skipped because `rps` requests were still unanswered: the load never piles up behind a slow canary. */
  skipped: number;
  /** `duration` (it ran its course) or `stopped` (the canary left the step, was aborted or promoted). */
  ended: 'duration' | 'stopped';
}

/** Each answer is read and dropped; a canary that streams more than this is cut off (counted as an error). */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * A bounded HTTP load generator: GET `url` `rps` times a second for `durationMs`, never more than `rps` requests in
 * flight, until stopped. It exists so an analysis has traffic to judge on a canary nothing else calls yet.
 */
export class LoadTest {
  private readonly abort = new AbortController();
  private readonly summary: Omit<LoadTestSummary, 'ended'> = { sent: 0, errors: 0, skipped: 0 };
  private inFlight = 0;
  private ticker: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly options: LoadTestOptions,
    private readonly onEnd: (summary: LoadTestSummary) => void,
  ) {}

  start(): void {
    this.ticker = setInterval(() => this.tick(), 1000 / this.options.rps);
    this.deadline = setTimeout(() => this.end('duration'), this.options.durationMs);
  }

  stop(): void {
    this.end('stopped');
  }

  private tick(): void {
    if (this.inFlight >= this.options.rps) {
      this.summary.skipped++;
      return;
    }
    this.inFlight++;
    this.summary.sent++;
    sendRequest({
      what: 'a load-test request',
      url: this.options.url,
      method: 'GET',
      deadlineMs: this.options.timeoutMs,
      signal: this.abort.signal,
      maxResponseBytes: MAX_ANSWER_BYTES,
      sizeBudget: `a load-test answer is read up to ${MAX_ANSWER_BYTES / (1024 * 1024)} MiB`,
      responseType: 'arraybuffer',
      validateStatus: (status) => status >= 200 && status < 300,
    })
      .catch((err: unknown) => {
        if (this.abort.signal.aborted) return;
        this.summary.errors++;
        this.summary.lastError = describeHttpError(err);
      })
      .finally(() => this.inFlight--);
  }

  private end(ended: LoadTestSummary['ended']): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.ticker);
    clearTimeout(this.deadline);
    this.abort.abort();
    this.onEnd({ ...this.summary, ended });
  }
}
