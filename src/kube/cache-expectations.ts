/**
 * An informer cache can be older than the controller's own last write. Deciding on it repeats the previous
 * decision's input, and writes made meanwhile can undo the previous ones (a canary just raised from 1 to 2 is
 * scaled back to 1). These two records let a reconcile see that its cache has not caught up yet, and wait.
 */

/**
 * Per object, the resourceVersion that the controller's last status write replaced. That write carried the
 * version as a precondition, so it succeeded only if the object was exactly at that version: a cache still
 * holding it is older than our write, and any other version the cache holds is ours or newer.
 */
export class StatusWrites {
  private readonly replaced = new Map<string, string>();

  /** After a status write to `key` that was made on (and replaced) `resourceVersion`. */
  wrote(key: string, resourceVersion: string | undefined): void {
    if (resourceVersion !== undefined) this.replaced.set(key, resourceVersion);
  }

  /** Whether the cache still shows the version our last write replaced; once it does not, the entry is dropped. */
  isStale(key: string, cachedResourceVersion: string | undefined): boolean {
    const replaced = this.replaced.get(key);
    if (replaced !== undefined && replaced === cachedResourceVersion) return true;
    this.replaced.delete(key);
    return false;
  }

  /** The object is gone or finished: nothing more to wait for. */
  forget(key: string): void {
    this.replaced.delete(key);
  }

  get size(): number {
    return this.replaced.size;
  }
}

/** What the cache shows of one object the controller scaled or created. */
export interface ScaledObject {
  resourceVersion?: string;
  replicas: number;
}

/**
 * Controller-runtime's expectations for ReplicaSet creates and scales, which carry no precondition: per owner,
 * each object written and the replicas (and resourceVersion) the write produced. The cache has caught up with
 * an object once it holds it with that version or with those replicas; a scaled object that is gone from the
 * cache was deleted, which is news too. An expectation that is never met (someone else scaled the object at
 * once, or deleted what was just created) expires after `ttlMs`, so it delays the owner at most that long.
 */
export class ScaleExpectations {
  private readonly pending = new Map<string, Map<string, ScaledObject & { created: boolean; at: number }>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** After `owner`'s write to `name` (a create, or a scale) produced `written`. */
  expect(owner: string, name: string, written: ScaledObject, { created }: { created: boolean }): void {
    const objects = this.pending.get(owner) ?? new Map();
    objects.set(name, { ...written, created, at: this.now() });
    this.pending.set(owner, objects);
  }

  /**
   * The objects of `owner` whose writes the cache does not show yet (`cached` reads the cache by name).
   * Met and expired expectations are dropped; an owner with none left is forgotten.
   */
  unmet(owner: string, cached: (name: string) => ScaledObject | undefined): string[] {
    const objects = this.pending.get(owner);
    if (objects === undefined) return [];
    for (const [name, expected] of objects) {
      const seen = cached(name);
      const met = seen === undefined ? !expected.created : seen.resourceVersion === expected.resourceVersion || seen.replicas === expected.replicas;
      if (met || this.now() - expected.at >= this.ttlMs) objects.delete(name);
    }
    if (objects.size === 0) this.pending.delete(owner);
    return [...objects.keys()];
  }

  forget(owner: string): void {
    this.pending.delete(owner);
  }

  get size(): number {
    return this.pending.size;
  }
}
