import type { AxiosError, AxiosRequestConfig, AxiosResponse } from 'axios';
import { DeadlineExceeded, SizeCapExceeded, startDeadline } from './deadline.js';

/**
 * One call to something Fledge does not own: Prometheus, a web metric, a webhook, a load-test target, the
 * notification receiver. Each is held to a deadline over the whole exchange and a cap on the answer it reads.
 */
export interface OutboundRequest<D = unknown> extends Omit<AxiosRequestConfig<D>, 'url' | 'timeout' | 'signal' | 'maxContentLength'> {
  url: string;
  /** What the call is, for messages (`the Prometheus query`); the URL's origin is added to it. */
  what: string;
  deadlineMs: number;
  /** A larger answer is refused as soon as it passes the cap, never buffered whole. */
  maxResponseBytes: number;
  /** What sets that cap, for the message: `--max-provider-response-bytes`. */
  sizeBudget: string;
  /** The caller's own cancellation (a gate no longer wanted): not a deadline, so its error is left as axios's. */
  signal?: AbortSignal;
}

type Axios = (typeof import('axios'))['default'];
let axiosModule: Promise<Axios> | undefined;
/**
 * Loaded with the first outbound call: a controller without analysis or webhooks never makes one, and evaluated,
 * axios and what it requires (mime-db's table among them) cost the idle controller several MB.
 */
const loadAxios = (): Promise<Axios> => (axiosModule ??= import('axios').then((loaded) => loaded.default));

/** axios's own test, without loading axios to make it. */
const isAxiosError = (err: unknown): err is AxiosError => typeof err === 'object' && err !== null && (err as { isAxiosError?: unknown }).isAxiosError === true;

/**
 * Sends `request` with axios. Past its deadline it rejects with a DeadlineExceeded, over its cap with a
 * SizeCapExceeded; any other failure is axios's own error. There is deliberately no axios `timeout`: in Node that is
 * a socket idle timer, which a server dripping one byte at a time resets forever.
 */
export async function sendRequest<T = unknown, D = unknown>(request: OutboundRequest<D>): Promise<AxiosResponse<T>> {
  const { what, deadlineMs, maxResponseBytes, sizeBudget, signal, ...config } = request;
  const call = `${what} to ${originOf(request.url)}`;
  // Loading axios is the controller's own work, not the exchange: counted in the deadline, the first calls after a
  // start (17 analyses measuring at once, in the fault tests) spent their 1 s on it and errored unsent.
  const axios = await loadAxios();
  const deadline = startDeadline(call, deadlineMs);
  const either = eitherSignal(deadline.signal, signal);
  try {
    return await axios.request<T>({ ...config, signal: either.signal, maxContentLength: maxResponseBytes });
  } catch (err) {
    // axios stops reading, and drops what it read, once an answer passes maxContentLength.
    if (isAxiosError(err) && err.message.startsWith('maxContentLength')) throw new SizeCapExceeded(call, maxResponseBytes, sizeBudget);
    throw deadline.explain(err);
  } finally {
    either.release();
  }
}

/**
 * A signal that aborts with the deadline or the caller's. Not AbortSignal.any: Node keeps each combined signal as long
 * as its long-lived source (nodejs/node#55351), and a load test makes up to 100 a second for an hour.
 */
function eitherSignal(deadline: AbortSignal, caller: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  if (caller === undefined) return { signal: deadline, release: () => {} };
  const either = new AbortController();
  const abort = (): void => either.abort();
  if (caller.aborted) abort();
  caller.addEventListener('abort', abort, { once: true });
  deadline.addEventListener('abort', abort, { once: true });
  return {
    signal: either.signal,
    release: () => {
      caller.removeEventListener('abort', abort);
      deadline.removeEventListener('abort', abort);
    },
  };
}

/**
 * Only the scheme, host and port go into messages: a path or query may carry a token (a Slack webhook URL, a
 * Secret argument rendered into a metric's URL), and messages land in status, Events and logs.
 */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an unparseable URL';
  }
}

/** What went wrong with an outbound call, in one line fit for a measurement, an Event or a log. */
export function describeHttpError(err: unknown): string {
  if (err instanceof DeadlineExceeded) return err.message;
  // Worded as the providers always have: users and the fault tests match on it.
  if (err instanceof SizeCapExceeded) return `the answer is larger than ${err.capBytes} bytes (${err.budget}); refused`;
  if (isAxiosError(err) && err.response !== undefined) {
    const data: unknown = err.response.data;
    const body = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : JSON.stringify(data);
    return `HTTP ${err.response.status}: ${(body ?? '').slice(0, 200)}`;
  }
  return err instanceof Error ? err.message : String(err);
}
