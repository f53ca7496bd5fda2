import type * as k8s from '@kubernetes/client-node';
import type { RequestOptions } from './client.js';
import { connectionFor, KubeApiError, openWatch, type WatchEvent } from './connection.js';
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

/** Options for a list call that asks for metadata only. */
export function metadataOnlyOptions(): RequestOptions {
  return { headers: { Accept: PARTIAL_METADATA_LIST } };
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

/** Objects by namespace ('' for cluster-scoped ones), then name. */
type ObjectMap<T> = Map<string, Map<string, T>>;

const namespaceOf = (obj: k8s.KubernetesObject): string => obj.metadata?.namespace ?? '';
const nameOf = (obj: k8s.KubernetesObject): string => obj.metadata?.name ?? '';

const isGone = (err: unknown): boolean => err instanceof KubeApiError && err.code === 410;

/**
 * A cache of the objects at `path` (a collection: `/apis/apps/v1/namespaces/shop/replicasets`), kept by a list and
 * then a watch from the list's resourceVersion, as client-node's informer did: a watch that ends is opened again from
 * the last resourceVersion seen; one the apiserver says is too old (410 Gone) lists again first, dropping what the
 * new list lacks. Unlike client-node's, which stops for good on any other error, this one restarts with capped
 * exponential backoff: a controller whose informer silently stopped would act on a stale cache forever. Objects are
 * trimmed (trimForCache, or trimToMetadata for a metadata-only one) before they are cached or handed on. `list` is
 * the caller's, through its rate-limited client; the watch goes through the kubeconfig's connection directly.
 */
export function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: () => Promise<k8s.KubernetesListObject<T>>,
  opts: { labelSelector?: string; logger: Logger; name: string; metadataOnly?: boolean },
): ResilientInformer<T> {
  const trim = opts.metadataOnly === true ? trimToMetadata : trimForCache;
  // A metadata-only informer's `list` must ask for metadata too (metadataOnlyOptions); its watch does here.
  const watchHeaders = { Accept: opts.metadataOnly === true ? PARTIAL_METADATA_WATCH : 'application/json' };
  const objects: ObjectMap<T> = new Map();
  const owners = new OwnerIndex<T>();
  const callbacks: Array<(obj: T) => void> = [];
  let resourceVersion = '';
  let stopWatch: (() => void) | undefined;
  let listed = false;
  let synced = false;
  let stopped = false;
  let failures = 0;
  let failingSince: number | undefined;
  let restartTimer: NodeJS.Timeout | undefined;

  const changed = (obj: T): void => callbacks.forEach((cb) => cb(obj));
  const put = (obj: T): void => {
    let inNamespace = objects.get(namespaceOf(obj));
    if (inNamespace === undefined) objects.set(namespaceOf(obj), (inNamespace = new Map()));
    const found = inNamespace.get(nameOf(obj));
    // The same resourceVersion again (a relist of an unchanged object) is no change.
    if (found?.metadata?.resourceVersion !== undefined && found.metadata.resourceVersion === obj.metadata?.resourceVersion) return;
    inNamespace.set(nameOf(obj), obj);
    owners.put(obj);
    changed(obj);
  };
  const remove = (obj: T): void => {
    const inNamespace = objects.get(namespaceOf(obj));
    if (inNamespace?.delete(nameOf(obj)) !== true) return;
    if (inNamespace.size === 0) objects.delete(namespaceOf(obj));
    owners.remove(obj);
    changed(obj);
  };

  const relist = async (): Promise<void> => {
    const result = await list();
    // An empty PartialObjectMetadataList comes with `items: null`.
    const items = (result.items ?? []).map(trim);
    const current = new Set(items.map((obj) => `${namespaceOf(obj)}/${nameOf(obj)}`));
    const gone = [...objects.values()].flatMap((inNamespace) => [...inNamespace.values()]).filter((obj) => !current.has(`${namespaceOf(obj)}/${nameOf(obj)}`));
    gone.forEach(remove);
    items.forEach(put);
    resourceVersion = result.metadata?.resourceVersion ?? '';
    listed = true;
    failures = 0;
    failingSince = undefined;
  };

  const onEvent = ({ type, object }: WatchEvent): void => {
    if (type === 'ERROR') {
      // The server closes the watch after it; the next one lists first.
      if (object.code === 410) resourceVersion = '';
      return;
    }
    if (type === 'ADDED' || type === 'MODIFIED') put(trim(object as T));
    else if (type === 'DELETED') remove(trim(object as T));
    resourceVersion = object.metadata?.resourceVersion ?? '';
  };

  /** Lists unless a resourceVersion is known to watch from, then opens the watch. */
  const connect = async (): Promise<void> => {
    stopWatch?.();
    stopWatch = undefined;
    if (resourceVersion === '') await relist();
    const query = new URLSearchParams({ watch: 'true', resourceVersion, ...(opts.labelSelector !== undefined && { labelSelector: opts.labelSelector }) });
    try {
      stopWatch = await openWatch(connectionFor(kc), `${path}?${query.toString()}`, watchHeaders, onEvent, ended);
    } catch (err) {
      if (!isGone(err)) throw err;
      resourceVersion = '';
      await connect();
    }
  };

  // start() resolves once the first list and watch have been tried, whether they worked or not: synced says whether
  // a list got through; a failure is retried in the background, never left unhandled.
  const run = async (): Promise<void> => {
    try {
      await connect();
    } catch (err) {
      restart(err);
    }
    if (listed) synced = true;
  };
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
  function ended(err?: unknown): void {
    stopWatch = undefined;
    if (stopped) return;
    if (err !== undefined && !isGone(err)) return restart(err);
    if (err !== undefined) resourceVersion = '';
    void run();
  }

  return {
    name: opts.name,
    get: (name, namespace) => objects.get(namespace ?? '')?.get(name),
    list: (namespace) =>
      namespace ? [...(objects.get(namespace)?.values() ?? [])] : [...objects.values()].flatMap((inNamespace) => [...inNamespace.values()]),
    listOwnedBy: (uid) => owners.ownedBy(uid),
    get synced() {
      return synced;
    },
    onChange: (cb) => void callbacks.push(cb),
    start: async () => {
      stopped = false;
      await run();
    },
    stop: async () => {
      stopped = true;
      clearTimeout(restartTimer);
      stopWatch?.();
      stopWatch = undefined;
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
