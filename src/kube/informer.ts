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

/** How long an informer may keep failing while its resource warms up before that is worth a warning. */
export const WARMUP_GRACE_MS = 10_000;

const WARMUP_STATUS = new Set([404, 429]);

/**
 * The level of an informer's "restarting" line. Right after a CRD is created the apiserver answers 404 until it
 * serves the resource, then 429 "storage is (re)initializing" (as after an apiserver restart) until its storage is
 * ready: expected, and cured by the retry, so it is debug until the failures have lasted WARMUP_GRACE_MS. A CRD
 * that was never installed still gets its warning then. Anything else is a warning at once.
 */
export function restartLogLevel(err: unknown, failingForMs: number): 'debug' | 'warn' {
  const { code, statusCode } = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; statusCode?: unknown };
  const warmingUp = WARMUP_STATUS.has(Number(code ?? statusCode)) || String(err).includes('storage is (re)initializing');
  return warmingUp && failingForMs < WARMUP_GRACE_MS ? 'debug' : 'warn';
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
  let failingSince: number | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  const informer = k8s.makeInformer<T>(
    kc,
    path,
    async () => {
      const result = await list();
      synced = true;
      failures = 0;
      failingSince = undefined;
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
    failingSince ??= Date.now();
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 6));
    opts.logger[restartLogLevel(err, Date.now() - failingSince)]('informer stopped; restarting', { informer: opts.name, error: String(err), retryInMs: delay });
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
