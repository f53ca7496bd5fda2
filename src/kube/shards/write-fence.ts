import { AsyncLocalStorage } from 'node:async_hooks';

/** A write refused because what it was made for (a shard) is no longer held by this process. */
export class FencedWriteError extends Error {
  constructor(readonly scope: string) {
    super(`${scope} is no longer held here; the write was not sent`);
  }
}

/**
 * The one guard every API write of a reconcile passes: the reconcile runs inside run(), and the API client calls
 * check() just before it sends a write (after any wait for the rate limiter), so a reconcile, and everything it starts
 * in the background, stops writing the moment its shard's local deadline passes, wherever in the reconcile it is.
 */
export class WriteFence {
  private readonly scopes = new AsyncLocalStorage<{ name: string; mayWrite: () => boolean }>();

  run<T>(name: string, mayWrite: () => boolean, work: () => Promise<T>): Promise<T> {
    return this.scopes.run({ name, mayWrite }, work);
  }

  /** Throws FencedWriteError when the write being made belongs to a scope that may no longer write; outside any scope, passes. */
  check(): void {
    const scope = this.scopes.getStore();
    if (scope !== undefined && !scope.mayWrite()) throw new FencedWriteError(scope.name);
  }
}
