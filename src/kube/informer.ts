import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';

export interface ResilientInformer<T extends k8s.KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
  /** True once the first list has completed, so the cache reflects the cluster. */
  readonly synced: boolean;
  onChange(cb: (obj: T) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wraps client-node's informer, which stops for good on any non-410 error, so that it restarts with capped
 * exponential backoff instead. A controller whose informer silently stopped would act on a stale cache forever.
 */
export function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  opts: { labelSelector?: string; logger: Logger; name: string },
): ResilientInformer<T> {
  let synced = false;
  let stopped = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const informer = k8s.makeInformer<T>(
    kc,
    path,
    async () => {
      const result = await list();
      synced = true;
      failures = 0;
      return result;
    },
    opts.labelSelector,
  );
  const callbacks: Array<(obj: T) => void> = [];
  const fire = (obj: T): void => callbacks.forEach((cb) => cb(obj));
  informer.on(k8s.ADD, fire);
  informer.on(k8s.UPDATE, fire);
  informer.on(k8s.DELETE, fire);
  informer.on(k8s.ERROR, (err: unknown) => {
    if (stopped) return;
    failures++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 6));
    opts.logger.warn('informer stopped; restarting', { informer: opts.name, error: String(err), retryInMs: delay });
    restartTimer = setTimeout(() => {
      if (!stopped) void informer.start();
    }, delay);
  });
  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    get synced() {
      return synced;
    },
    onChange: (cb) => void callbacks.push(cb),
    start: async () => {
      stopped = false;
      await informer.start();
    },
    stop: async () => {
      stopped = true;
      clearTimeout(restartTimer);
      await informer.stop();
    },
  };
}
