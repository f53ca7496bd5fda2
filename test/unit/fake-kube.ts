import type * as k8s from '@kubernetes/client-node';
import type { CoreApi, CustomApi } from '../../src/kube/api.js';
import { AnalysisRunReconciler } from '../../src/analysis/reconciler.js';
import type { ResilientInformer } from '../../src/kube/informer.js';
import type { WorkResult } from '../../src/kube/work-queue.js';
import { createLogger } from '../../src/observability/logger.js';
import type { EventRecorder } from '../../src/kube/events.js';
import { offerTransition, releaseDue, type HeldTransitions, type HoldStep } from '../../src/kube/event-hold.js';

/** What the API answers with on a failed request, as client-node's ApiException carries it. */
export class FakeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body?: { reason?: string; message?: string },
  ) {
    super(`HTTP ${code}`);
  }
}

type Kind =
  | 'rollouts'
  | 'replicasets'
  | 'services'
  | 'analysisruns'
  | 'analysistemplates'
  | 'httproutes'
  | 'traefikservices'
  | 'trafficsplits'
  | 'apisixroutes'
  | 'mappings'
  | 'virtualservices'
  | 'destinationrules'
  | 'ingresses'
  | 'jobs'
  | 'configmaps'
  | 'secrets';
interface Stored {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [field: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface Write {
  verb: 'create' | 'patch' | 'delete';
  kind: Kind | 'rollouts/status' | 'analysisruns/status';
  name: string;
  body?: unknown;
  /** The answer: ok, or the HTTP code it failed with. */
  outcome: 'ok' | number;
}

/** RFC 7386 merge patch: objects merge, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const keyOf = (namespace: string | undefined, name: string | undefined): string => `${namespace ?? ''}/${name ?? ''}`;

/** A cache the test fills from the fake apiserver when it says so, so it can lag behind like a real watch. */
export class FakeInformer<T extends k8s.KubernetesObject> implements ResilientInformer<T> {
  objects = new Map<string, T>();
  synced = true;

  /** `labelKey`: like a label selector with only a key, the cache holds only objects with that label. */
  constructor(
    readonly name: string,
    readonly labelKey?: string,
  ) {}

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(keyOf(namespace, name));
  }
  list(namespace?: string): ReadonlyArray<T> {
    return [...this.objects.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
  listOwnedBy(uid: string): ReadonlyArray<T> {
    return [...this.objects.values()].filter((o) => o.metadata?.ownerReferences?.some((owner) => owner.uid === uid && owner.controller === true));
  }
  onChange(): void {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/**
 * An apiserver in memory for the reconcilers' unit tests: resourceVersions, merge patches, the status
 * subresource's resourceVersion precondition, AlreadyExists on create, and a log of every write. Caches are
 * separate (`informer`) and catch up only on `sync`, so a test can make them lag.
 */
export class FakeKube {
  readonly writes: Write[] = [];
  /** `kind/name` of every ConfigMap and Secret read (GET), in order: config tracking reads content only when it moved. */
  readonly configReads: string[] = [];
  /** The clock the Events' hold runs on (a test with a clock of its own sets it). */
  eventClock: () => number = () => 0;
  private readonly writtenEvents: Array<{ reason: string; message: string }> = [];
  private readonly heldEvents = new Map<string, HeldTransitions>();
  private readonly store = new Map<Kind, Map<string, Stored>>();
  /** Creates of a kind the apiserver refuses as Invalid, with this message (a malformed pod template). */
  readonly refuseCreates = new Map<Kind, string>();
  /** Patches of a kind an admission webhook refuses as Forbidden, with this message. */
  readonly refusePatches = new Map<Kind, string>();
  private readonly informers = new Map<Kind, FakeInformer<k8s.KubernetesObject>>();
  private version = 0;

  /** The cache of one kind (`labelKey` on first use only). */
  informer<T extends k8s.KubernetesObject>(kind: Kind, labelKey?: string): FakeInformer<T> {
    let informer = this.informers.get(kind);
    if (informer === undefined) {
      informer = new FakeInformer(kind, labelKey);
      this.informers.set(kind, informer);
    }
    return informer as unknown as FakeInformer<T>;
  }

  /** The cache of `kinds` (default: all) catches up with the apiserver. */
  sync(...kinds: Kind[]): void {
    for (const kind of kinds.length ? kinds : ([...this.informers.keys()] as Kind[])) {
      const informer = this.informer(kind);
      const selected = [...this.objects(kind)].filter(([, obj]) => informer.labelKey === undefined || (obj.metadata?.labels as Record<string, string> | undefined)?.[informer.labelKey] !== undefined);
      informer.objects = new Map(selected.map(([key, obj]) => [key, structuredClone(obj) as k8s.KubernetesObject]));
    }
  }

  /** What the apiserver holds (a copy), typed as the test reads it. */
  get<T>(kind: Kind, namespace: string, name: string): T | undefined {
    const obj = this.objects(kind).get(keyOf(namespace, name));
    return obj === undefined ? undefined : (structuredClone(obj) as T);
  }

  /** Every object of a kind the apiserver holds (copies). */
  all<T>(kind: Kind): T[] {
    return [...this.objects(kind).values()].map((obj) => structuredClone(obj) as T);
  }

  /** Creates or replaces an object as a person would (kubectl apply). */
  put(kind: Kind, obj: object): void {
    const stored = structuredClone(obj) as Stored;
    const existing = this.objects(kind).get(keyOf(stored.metadata?.namespace, stored.metadata?.name));
    stored.metadata = {
      uid: `uid-${stored.metadata?.name}`,
      creationTimestamp: new Date(0),
      ...existing?.metadata,
      ...stored.metadata,
      resourceVersion: this.nextVersion(),
    };
    this.objects(kind).set(keyOf(stored.metadata?.namespace, stored.metadata?.name), stored);
  }

  remove(kind: Kind, namespace: string, name: string): void {
    this.objects(kind).delete(keyOf(namespace, name));
  }

  /** The ReplicaSet controller and kubelet, instantly: every ReplicaSet has its spec.replicas ready and available. */
  settleReplicaSets(): void {
    for (const rs of this.objects('replicasets').values()) {
      const replicas = (rs.spec?.replicas as number | undefined) ?? 0;
      const status = rs.status ?? {};
      if (status.replicas === replicas && status.availableReplicas === replicas) continue;
      rs.status = { replicas, readyReplicas: replicas, availableReplicas: replicas };
      rs.metadata = { ...rs.metadata, resourceVersion: this.nextVersion() };
    }
  }

  readonly apps = {
    createNamespacedReplicaSet: async ({ namespace, body }: { namespace: string; body: k8s.V1ReplicaSet }) =>
      this.create('replicasets', namespace, { ...body, status: { replicas: 0, readyReplicas: 0, availableReplicas: 0 } } as Stored) as unknown as k8s.V1ReplicaSet,
    patchNamespacedReplicaSet: async ({ name, namespace, body }: { name: string; namespace: string; body: object }) =>
      this.patch('replicasets', namespace, name, body) as unknown as k8s.V1ReplicaSet,
    deleteNamespacedReplicaSet: async ({ name, namespace }: { name: string; namespace: string }) => this.delete('replicasets', namespace, name),
    readNamespacedReplicaSet: async ({ name, namespace }: { name: string; namespace: string }) => {
      const rs = this.get<k8s.V1ReplicaSet>('replicasets', namespace, name);
      if (rs === undefined) throw new FakeApiError(404);
      return rs;
    },
  };

  /** Jobs as the job provider uses them; a test sets their status conditions with `put`. */
  readonly batch = {
    createNamespacedJob: async ({ namespace, body }: { namespace: string; body: k8s.V1Job }) => this.create('jobs', namespace, body as Stored) as unknown as k8s.V1Job,
    readNamespacedJob: async ({ name, namespace }: { name: string; namespace: string }) => {
      const job = this.get<k8s.V1Job>('jobs', namespace, name);
      if (job === undefined) throw new FakeApiError(404);
      return job;
    },
    deleteNamespacedJob: async ({ name, namespace }: { name: string; namespace: string }) => this.delete('jobs', namespace, name) as k8s.V1Status,
  };

  readonly core = {
    readNamespacedService: async ({ name, namespace }: { name: string; namespace: string }) => {
      const svc = this.get<Stored>('services', namespace, name);
      if (svc === undefined) throw new FakeApiError(404);
      return svc as k8s.V1Service;
    },
    patchNamespacedService: async ({ name, namespace, body }: { name: string; namespace: string; body: object }) =>
      this.patch('services', namespace, name, body) as unknown as k8s.V1Service,
    listNamespacedPod: async () => ({ items: [] as k8s.V1Pod[] }),
    readNamespacedConfigMap: async ({ name, namespace }: { name: string; namespace: string }) => this.readConfig('configmaps', namespace, name) as k8s.V1ConfigMap,
    readNamespacedSecret: async ({ name, namespace }: { name: string; namespace: string }) => this.readConfig('secrets', namespace, name) as k8s.V1Secret,
    createNamespacedConfigMap: async ({ namespace, body }: { namespace: string; body: k8s.V1ConfigMap }) => this.create('configmaps', namespace, body as Stored) as k8s.V1ConfigMap,
    createNamespacedSecret: async ({ namespace, body }: { namespace: string; body: k8s.V1Secret }) => this.create('secrets', namespace, body as Stored) as k8s.V1Secret,
    deleteNamespacedConfigMap: async ({ name, namespace }: { name: string; namespace: string }) => this.delete('configmaps', namespace, name),
    deleteNamespacedSecret: async ({ name, namespace }: { name: string; namespace: string }) => this.delete('secrets', namespace, name),
  };

  private readConfig(kind: 'configmaps' | 'secrets', namespace: string, name: string): Stored {
    this.configReads.push(`${kind}/${name}`);
    const obj = this.get<Stored>(kind, namespace, name);
    if (obj === undefined) throw new FakeApiError(404);
    return obj;
  }

  readonly custom = {
    patchNamespacedCustomObjectStatus: async ({ plural, namespace, name, body }: { plural: 'rollouts' | 'analysisruns'; namespace: string; name: string; body: Stored }) => {
      const current = this.objects(plural).get(keyOf(namespace, name));
      const wanted = body.metadata?.resourceVersion;
      if (current === undefined || (wanted !== undefined && wanted !== current.metadata?.resourceVersion)) {
        const code = current === undefined ? 404 : 409;
        this.writes.push({ verb: 'patch', kind: `${plural}/status`, name, body, outcome: code });
        throw new FakeApiError(code);
      }
      current.status = mergePatch(current.status, body.status) as Record<string, unknown>;
      current.metadata = { ...current.metadata, resourceVersion: this.nextVersion() };
      this.writes.push({ verb: 'patch', kind: `${plural}/status`, name, body, outcome: 'ok' });
      return structuredClone(current);
    },
    createNamespacedCustomObject: async ({ plural, namespace, body }: { plural: 'analysisruns' | 'trafficsplits' | 'apisixroutes' | 'mappings'; namespace: string; body: Stored }) =>
      this.create(plural, namespace, body),
    getNamespacedCustomObject: async ({ plural, namespace, name }: { plural: Kind; namespace: string; name: string }) => {
      const obj = this.get<Stored>(plural, namespace, name);
      if (obj === undefined) throw new FakeApiError(404);
      return obj;
    },
    patchNamespacedCustomObject: async ({ plural, namespace, name, body }: { plural: Kind; namespace: string; name: string; body: object }) =>
      this.patch(plural, namespace, name, body),
    deleteNamespacedCustomObject: async ({ plural, namespace, name }: { plural: 'analysisruns' | 'apisixroutes' | 'mappings'; namespace: string; name: string }) =>
      this.delete(plural, namespace, name),
  };

  readonly networking = {
    readNamespacedIngress: async ({ name, namespace }: { name: string; namespace: string }) => {
      const ingress = this.get<Stored>('ingresses', namespace, name);
      if (ingress === undefined) throw new FakeApiError(404);
      return ingress as k8s.V1Ingress;
    },
    createNamespacedIngress: async ({ namespace, body }: { namespace: string; body: k8s.V1Ingress }) =>
      this.create('ingresses', namespace, body as Stored) as unknown as k8s.V1Ingress,
    patchNamespacedIngress: async ({ name, namespace, body }: { name: string; namespace: string; body: object }) =>
      this.patch('ingresses', namespace, name, body) as unknown as k8s.V1Ingress,
  };

  /** As EventSink records them: a transition that may wait is held for the object's next one, up to its hold. */
  readonly recorder: EventRecorder = {
    record: (target, type, reason, message, transition) => {
      const at = this.eventClock();
      if (transition === undefined) {
        this.writtenEvents.push({ reason, message });
        return;
      }
      const key = `${target.namespace}/${target.kind}/${target.name}`;
      this.settleEvents(key, offerTransition(this.heldEvents.get(key), { type, reason, message, at }, transition.holdMs));
    },
  };

  /** The Events written by now: those whose hold ran out are, as the sink's timers would have written them. */
  get events(): ReadonlyArray<{ reason: string; message: string }> {
    for (const [key, held] of [...this.heldEvents]) this.settleEvents(key, releaseDue(held, this.eventClock()));
    return this.writtenEvents;
  }

  private settleEvents(key: string, step: HoldStep): void {
    if (step.held === undefined) this.heldEvents.delete(key);
    else this.heldEvents.set(key, step.held);
    for (const told of step.write) this.writtenEvents.push({ reason: told.reason, message: told.message });
  }

  /** The writes since `from` (an index into `writes`) that reached the apiserver or were refused by it. */
  writesSince(from: number): Write[] {
    return this.writes.slice(from);
  }

  private objects(kind: Kind): Map<string, Stored> {
    let objects = this.store.get(kind);
    if (objects === undefined) {
      objects = new Map();
      this.store.set(kind, objects);
    }
    return objects;
  }

  private nextVersion(): string {
    this.version += 1;
    return String(this.version);
  }

  private create(kind: Kind, namespace: string, body: Stored): Stored {
    const name = body.metadata?.name ?? '';
    if (this.objects(kind).has(keyOf(namespace, name))) {
      this.writes.push({ verb: 'create', kind, name, body, outcome: 409 });
      throw new FakeApiError(409, { reason: 'AlreadyExists', message: `${kind} "${name}" already exists` });
    }
    const refusal = this.refuseCreates.get(kind);
    if (refusal !== undefined) {
      this.writes.push({ verb: 'create', kind, name, body, outcome: 422 });
      throw new FakeApiError(422, { reason: 'Invalid', message: refusal });
    }
    const stored = structuredClone(body);
    stored.metadata = { ...stored.metadata, namespace, uid: `uid-${name}`, creationTimestamp: new Date(0), resourceVersion: this.nextVersion() };
    this.objects(kind).set(keyOf(namespace, name), stored);
    this.writes.push({ verb: 'create', kind, name, body, outcome: 'ok' });
    return structuredClone(stored);
  }

  private patch(kind: Kind, namespace: string, name: string, body: object): Stored {
    const current = this.objects(kind).get(keyOf(namespace, name));
    if (current === undefined) {
      this.writes.push({ verb: 'patch', kind, name, body, outcome: 404 });
      throw new FakeApiError(404);
    }
    // A patch that carries a resourceVersion is a precondition, as on the apiserver.
    const wanted = (body as Stored).metadata?.resourceVersion;
    if (wanted !== undefined && wanted !== current.metadata?.resourceVersion) {
      this.writes.push({ verb: 'patch', kind, name, body, outcome: 409 });
      throw new FakeApiError(409);
    }
    const refusal = this.refusePatches.get(kind);
    if (refusal !== undefined) {
      this.writes.push({ verb: 'patch', kind, name, body, outcome: 403 });
      throw new FakeApiError(403, { reason: 'Forbidden', message: refusal });
    }
    const patched = mergePatch(current, body) as Stored;
    // As the apiserver does, a spec change bumps metadata.generation (of objects that carry one).
    const generation = current.metadata?.generation;
    const bumped = typeof generation === 'number' && JSON.stringify(patched.spec) !== JSON.stringify(current.spec);
    patched.metadata = { ...patched.metadata, ...(bumped && { generation: generation + 1 }), resourceVersion: this.nextVersion() };
    this.objects(kind).set(keyOf(namespace, name), patched);
    this.writes.push({ verb: 'patch', kind, name, body, outcome: 'ok' });
    return structuredClone(patched);
  }

  private delete(kind: Kind, namespace: string, name: string): object {
    const existed = this.objects(kind).delete(keyOf(namespace, name));
    this.writes.push({ verb: 'delete', kind, name, outcome: existed ? 'ok' : 404 });
    if (!existed) throw new FakeApiError(404);
    return {};
  }
}

/**
 * Reconciles `key` as the run queue would, until every measurement it asked in the background is answered and
 * recorded: each answer enqueues the run (`woken`), and the next reconcile takes it. The clock does not move meanwhile.
 */
export async function reconcileAnswered(kube: FakeKube, reconciler: AnalysisRunReconciler, key: string, woken: () => Promise<void>): Promise<WorkResult> {
  for (;;) {
    const answered = woken();
    const result = await reconciler.reconcile(key);
    kube.sync();
    if (reconciler.outstandingMeasurements() === 0) return result;
    await answered;
  }
}

/** A requeue callback, and a promise of its next call. */
export function wakeups(): { requeue: () => void; woken: () => Promise<void> } {
  let wake: () => void = () => {};
  let next = new Promise<void>((resolve) => (wake = resolve));
  return {
    requeue: () => {
      wake();
      next = new Promise<void>((resolve) => (wake = resolve));
    },
    woken: () => next,
  };
}

/** The AnalysisRun reconciler over a FakeKube, with its own clock and Prometheus address. */
export function fakeAnalysisReconciler(kube: FakeKube, opts: { now: () => number; prometheusAddress?: string; maxResponseBytes: number; requeue?: (key: string) => void }): AnalysisRunReconciler {
  return new AnalysisRunReconciler({
    runs: kube.informer('analysisruns'),
    custom: kube.custom as unknown as CustomApi,
    core: kube.core as unknown as CoreApi,
    jobs: kube.batch,
    events: kube.recorder,
    logger: createLogger('error', {}),
    prometheusAddress: opts.prometheusAddress,
    maxResponseBytes: opts.maxResponseBytes,
    requeue: opts.requeue ?? (() => {}),
    now: opts.now,
  });
}
