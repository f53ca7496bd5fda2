/**
 * A deadline over a whole exchange with something we do not own: connect, headers and every byte of the body.
 * An idle timer (axios's `timeout`, a socket timeout) is reset by each byte, so a server that drips an answer is
 * never cut off; an AbortSignal that fires at a fixed time is. Errors say what ran out, and after how long.
 */
export class DeadlineExceeded extends Error {
  constructor(
    readonly what: string,
    readonly limitMs: number,
    readonly elapsedMs: number,
  ) {
    super(`${what} did not finish within its ${formatLimit(limitMs)} deadline (gave up after ${formatMs(elapsedMs)})`);
    this.name = 'DeadlineExceeded';
  }
}

/** An answer larger than the caller may hold: reading stops at the cap, nothing past it is buffered. */
export class SizeCapExceeded extends Error {
  constructor(
    readonly what: string,
    readonly capBytes: number,
    readonly budget: string,
  ) {
    super(`${what} sent more than ${formatBytes(capBytes)} (${budget}); stopped reading`);
    this.name = 'SizeCapExceeded';
  }
}

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** A configured limit as it was likely written: `3 s`, not `3.0 s`, which reads like a measurement. */
function formatLimit(ms: number): string {
  return ms >= 1000 && ms < 10_000 && ms % 1000 === 0 ? `${ms / 1000} s` : formatMs(ms);
}

export function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1 ? `${Number(mib.toFixed(1))} MiB` : `${bytes} bytes`;
}

export interface Deadline {
  readonly signal: AbortSignal;
  /** The DeadlineExceeded to throw when `signal` fired, else `err` unchanged. */
  explain(err: unknown): unknown;
  elapsedMs(): number;
}

/** Starts the clock on `what`: the signal aborts `limitMs` from now, whatever the peer does meanwhile. */
export function startDeadline(what: string, limitMs: number, now: () => number = Date.now): Deadline {
  const started = now();
  const signal = AbortSignal.timeout(limitMs);
  return {
    signal,
    elapsedMs: () => now() - started,
    explain: (err) => (signal.aborted && !(err instanceof SizeCapExceeded) ? new DeadlineExceeded(what, limitMs, now() - started) : err),
  };
}
