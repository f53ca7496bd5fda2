import axios from 'axios';

export interface LoadTestOptions {
  url: string;
  /** Requests a second, already within LOAD_TEST_MAX_RPS. */
  rps: number;
  durationMs: number;
  /** Each request's timeout. */
  timeoutMs: number;
}

export interface LoadTestSummary {
  sent: number;
  /** Non-2xx answers, timeouts and connection errors. */
  errors: number;
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
    axios
      .get(this.options.url, {
        timeout: this.options.timeoutMs,
        signal: this.abort.signal,
        maxContentLength: MAX_ANSWER_BYTES,
        responseType: 'arraybuffer',
        validateStatus: (status) => status >= 200 && status < 300,
      })
      .catch(() => {
        if (!this.abort.signal.aborted) this.summary.errors++;
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
