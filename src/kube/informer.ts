import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { sleep } from './sleep.js';

export interface ResilientInformer<T extends k8s.KubernetesObject> {
  /** What it caches (`replicasets`), for logs. */
  readonly name: string;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
  /**
   * The objects whose controlling ownerReference has `uid`, from an index the cache's own events keep (client-go's
   * controller-owner indexer): a reconcile that filtered list() read every ReplicaSet of the namespace, for each Rollout.
   */
  listOwnedBy(uid: string): ReadonlyArray<T>;
  /** True once a list has succeeded and its objects are in the cache, so the cache reflects the cluster. Stays true. */
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

/** kubectl's copy of the whole object as last applied: as large as the object, and never read by the controller. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What an informer keeps of an object: all but what the controller never reads and that can dominate the object's
 * size, managedFields (about half of a cached ReplicaSet's JSON) and kubectl's last-applied annotation (a second
 * copy of a Rollout applied with kubectl). The cache boundary is the one place to do it, as client-go's transforms do.
 */
export function trimForCache<T extends k8s.KubernetesObject>(obj: T): T {
  const metadata = obj.metadata;
  if (metadata === undefined) return obj;
  delete metadata.managedFields;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _dropped, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  return obj;
}

/**
 * A metadata-only cache (ConfigMaps, Secrets, thousands of them in a cluster) keeps only what says an object exists,
 * at which resourceVersion, and who owns it: no annotations or timestamps, never what it holds. Labels only on an
 * owned object (Fledge's copies say there what they were made from); the many unowned ones go without.
 */
export function trimToMetadata<T extends k8s.KubernetesObject>(obj: T): T {
  const metadata = obj.metadata;
  if (metadata === undefined) return obj;
  const { name, namespace, resourceVersion, ownerReferences, labels } = metadata;
  const owned = ownerReferences !== undefined && ownerReferences.length > 0;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, resourceVersion, ...(owned && { ownerReferences, ...(labels !== undefined && { labels }) }) },
  } as T;
}

/** The Accept headers that make a list, and a watch's events, PartialObjectMetadata: names, labels, owners; no data. */
const PARTIAL_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const PARTIAL_METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** Options for a generated client's list call that asks for metadata only. */
export function metadataOnlyOptions(): k8s.ConfigurationOptions {
  return k8s.setHeaderOptions('Accept', PARTIAL_METADATA_LIST);
}

/** The KubeConfig with every request it signs asking for metadata only, for the Watch of a metadata-only informer. */
function metadataOnlyConfig(kc: k8s.KubeConfig): k8s.KubeConfig {
  const view = Object.create(kc) as k8s.KubeConfig;
  view.applyToFetchOptions = async (opts) => {
    const init = await kc.applyToFetchOptions(opts);
    (init.headers as { set(name: string, value: string): void }).set('Accept', PARTIAL_METADATA_WATCH);
    return init;
  };
  return view;
}

/** client-node's Watch, handing each object on trimmed (watch events of every kind carry the full object). */
class TrimmingWatch extends k8s.Watch {
  constructor(
    kc: k8s.KubeConfig,
    private readonly trim: <T extends k8s.KubernetesObject>(obj: T) => T,
  ) {
    super(kc);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: k8s.KubernetesObject, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(path, queryParams, (phase, apiObj: k8s.KubernetesObject, watchObj) => callback(phase, this.trim(apiObj), watchObj), done);
  }
}

/** Cached objects by the uid of their controlling owner; each object's entry follows it as its owner changes. */
export class OwnerIndex<T extends k8s.KubernetesObject> {
  private readonly byOwner = new Map<string, Map<string, T>>();
  private readonly ownerOf = new Map<string, string>();

  put(obj: T): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const uid = obj.metadata?.ownerReferences?.find((owner) => owner.controller === true)?.uid;
    const previous = this.ownerOf.get(key);
    if (previous !== undefined && previous !== uid) this.drop(previous, key);
    if (uid === undefined) {
      this.ownerOf.delete(key);
      return;
    }
    this.ownerOf.set(key, uid);
    let owned = this.byOwner.get(uid);
    if (owned === undefined) this.byOwner.set(uid, (owned = new Map()));
    owned.set(key, obj);
  }

  remove(obj: T): void {
    const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const previous = this.ownerOf.get(key);
    if (previous === undefined) return;
    this.ownerOf.delete(key);
    this.drop(previous, key);
  }

  ownedBy(uid: string): T[] {
    return [...(this.byOwner.get(uid)?.values() ?? [])];
  }

  private drop(uid: string, key: string): void {
    const owned = this.byOwner.get(uid);
    owned?.delete(key);
    if (owned?.size === 0) this.byOwner.delete(uid);
  }
}

/**
 * makeInformer's ListWatch, with the objects of both the list and the watch trimmed before they are cached.
 * `onListed` hears of each list that got through.
 */
function trimmingListWatch<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  opts: { labelSelector?: string; metadataOnly?: boolean },
  onListed: () => void,
): k8s.ListWatch<T> {
  // A metadata-only informer's `list` must ask for metadata too (metadataOnlyOptions); its watch does here.
  const trim = opts.metadataOnly === true ? trimToMetadata : trimForCache;
  return new k8s.ListWatch<T>(
    path,
    new TrimmingWatch(opts.metadataOnly === true ? metadataOnlyConfig(kc) : kc, trim),
    async () => {
      const result = await list();
      // An empty PartialObjectMetadataList comes with `items: null`.
      result.items ??= [];
      result.items = result.items.map(trim);
      onListed();
      return result;
    },
    false,
    opts.labelSelector,
  );
}

/** Keeps an owner index of the informer's objects and hands each change on to whoever registers with `onChange`. */
function followChanges<T extends k8s.KubernetesObject>(informer: k8s.ListWatch<T>): { owners: OwnerIndex<T>; onChange: (cb: (obj: T) => void) => void } {
  const owners = new OwnerIndex<T>();
  informer.on(k8s.ADD, (obj) => owners.put(obj));
  informer.on(k8s.UPDATE, (obj) => owners.put(obj));
  informer.on(k8s.DELETE, (obj) => owners.remove(obj));
  const callbacks: Array<(obj: T) => void> = [];
  const fire = (obj: T): void => callbacks.forEach((cb) => cb(obj));
  informer.on(k8s.ADD, fire);
  informer.on(k8s.UPDATE, fire);
  informer.on(k8s.DELETE, fire);
  return { owners, onChange: (cb) => void callbacks.push(cb) };
}

/**
 * Wraps client-node's informer (objects trimmed by trimForCache), which stops for good on any non-410 error, so that it restarts with capped
 * exponential backoff instead. A controller whose informer silently stopped would act on a stale cache forever.
 */
export function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  opts: { labelSelector?: string; logger: Logger; name: string; metadataOnly?: boolean },
): ResilientInformer<T> {
  let listed = false;
  let synced = false;
  let stopped = false;
  let failures = 0;
  let failingSince: number | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  const informer = trimmingListWatch(kc, path, list, opts, () => {
    listed = true;
    failures = 0;
    failingSince = undefined;
  });
  // client-node fills the cache only after the list function returns, and start() resolves even when the list
  // failed (it reports an ERROR instead), so synced is decided once start() is over, by whether a list got
  // through. A start that throws rather than reporting an ERROR is retried the same way, never left unhandled.
  const run = async (): Promise<void> => {
    try {
      await informer.start();
    } catch (err) {
      restart(err);
    }
    if (listed) synced = true;
  };
  const { owners, onChange } = followChanges(informer);
  const restart = (err: unknown): void => {
    if (stopped) return;
    failures++;
    failingSince ??= Date.now();
    const delay = Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 6));
    opts.logger[restartLogLevel(err, Date.now() - failingSince)]('informer stopped; restarting', { informer: opts.name, error: String(err), retryInMs: delay });
    restartTimer = setTimeout(() => {
      if (!stopped) void run();
    }, delay);
  };
  informer.on(k8s.ERROR, restart);
  return {
    name: opts.name,
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    listOwnedBy: (uid) => owners.ownedBy(uid),
    get synced() {
      return synced;
    },
    onChange,
    start: async () => {
      stopped = false;
      await run();
    },
    stop: async () => {
      stopped = true;
      clearTimeout(restartTimer);
      await informer.stop();
    },
  };
}

/**
 * Resolves true once every informer has synced (client-go's WaitForCacheSync), false if `signal` aborts first.
 * Until then a controller must not reconcile: an empty cache reads as "nothing exists" and would be acted on.
 * `onWaiting` hears which ones are still waiting every `reportEveryMs`, so a healthy start says nothing.
 */
export async function waitForCacheSync(
  informers: ReadonlyArray<Pick<ResilientInformer<k8s.KubernetesObject>, 'name' | 'synced'>>,
  opts: { signal?: AbortSignal; pollMs?: number; reportEveryMs?: number; onWaiting?: (names: string[]) => void } = {},
): Promise<boolean> {
  const pollMs = opts.pollMs ?? 100;
  const reportEveryMs = opts.reportEveryMs ?? 5_000;
  let reportedAt = Date.now();
  while (!opts.signal?.aborted) {
    const waiting = informers.filter((informer) => !informer.synced).map((informer) => informer.name);
    if (waiting.length === 0) return true;
    if (Date.now() - reportedAt >= reportEveryMs) {
      reportedAt = Date.now();
      opts.onWaiting?.([...new Set(waiting)]);
    }
    await sleep(pollMs, opts.signal);
  }
  return false;
}
