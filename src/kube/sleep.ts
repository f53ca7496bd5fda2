/**
 * Waits `ms`, or less when `signal` aborts. The abort listener is removed when the wait ends, so a loop that
 * sleeps on one long-lived signal does not pile up listeners (a leak, and Node's MaxListenersExceeded warning).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
