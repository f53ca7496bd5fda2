import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Caches } from '../../../src/controller/informers.js';
import { connectWatches, indexConfigReaders, watchTable, type QueueName } from '../../../src/controller/watches.js';
import type { ResilientInformer } from '../../../src/kube/informer.js';

/** A cache whose objects a test puts, and whose events it fires: put() then tell listeners, as an informer does. */
class EmittingCache<T extends k8s.KubernetesObject = k8s.KubernetesObject> implements ResilientInformer<T> {
  readonly synced = true;
  private readonly objects = new Map<string, T>();
  private readonly listeners: Array<(obj: T) => void> = [];
  constructor(readonly name: string) {}
  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }
  list(namespace?: string): ReadonlyArray<T> {
    return [...this.objects.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
  listOwnedBy(): ReadonlyArray<T> {
    return [];
  }
  onChange(cb: (obj: T) => void): void {
    this.listeners.push(cb);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  put(obj: T): this {
    this.objects.set(`${obj.metadata?.namespace}/${obj.metadata?.name}`, obj);
    return this;
  }
  emit(obj: T): void {
    this.put(obj);
    this.listeners.forEach((cb) => cb(obj));
  }
}

type Fields = { metadata?: k8s.V1ObjectMeta; spec?: unknown };
const object = (namespace: string | undefined, name: string, fields: Fields = {}): k8s.KubernetesObject => ({ ...fields, metadata: { namespace, name, ...fields.metadata } });
const ownedBy = (kind: string, name: string, controller = true): Fields => ({ metadata: { ownerReferences: [{ kind, name, controller, apiVersion: 'v1', uid: `${name}-uid` }] } });
const rollout = (namespace: string, name: string, spec: Record<string, unknown> = {}): k8s.KubernetesObject => object(namespace, name, { spec });

/** Every cache of a controller, wired to queues that record what each event enqueued. */
function controller(options: { clusterTemplates?: boolean; configTracking?: boolean } = {}) {
  const caches = {
    rollouts: new EmittingCache('rollouts'),
    analysisRuns: new EmittingCache('analysisruns'),
    analysisTemplates: new EmittingCache('analysistemplates'),
    replicaSets: new EmittingCache('replicasets'),
    services: new EmittingCache('services'),
    analysisJobs: new EmittingCache('jobs'),
    deployments: new EmittingCache('deployments'),
    ...(options.clusterTemplates !== false && { clusterAnalysisTemplates: new EmittingCache('clusteranalysistemplates') }),
    ...(options.configTracking !== false && { configSources: { configMaps: new EmittingCache('configmaps'), secrets: new EmittingCache('secrets') } }),
  };
  const enqueued: Array<[QueueName, string]> = [];
  connectWatches(watchTable(caches as Caches, indexConfigReaders(caches.rollouts)), (queue, key) => enqueued.push([queue, key]));
  /** What `fire` enqueued, and nothing before it. */
  const after = (fire: () => void): Array<[QueueName, string]> => {
    enqueued.length = 0;
    fire();
    return [...enqueued];
  };
  return { caches, after };
}

describe('the watch table', () => {
  it('wakes a Rollout for its own events', () => {
    const { caches, after } = controller();
    expect(after(() => caches.rollouts.emit(rollout('shop', 'web')))).toEqual([['rollout', 'shop/web']]);
  });

  it('wakes the controlling Rollout of a ReplicaSet, never a mere owner or a label', () => {
    const { caches, after } = controller();
    expect(after(() => caches.replicaSets.emit(object('shop', 'web-7f9c', ownedBy('Rollout', 'web'))))).toEqual([['rollout', 'shop/web']]);
    expect(after(() => caches.replicaSets.emit(object('shop', 'web-1a2b', ownedBy('Rollout', 'web', false))))).toEqual([]);
    expect(after(() => caches.replicaSets.emit(object('shop', 'web-3c4d', { metadata: { labels: { 'fledge.dev/rollout': 'web' } } })))).toEqual([]);
  });

  it('wakes an AnalysisRun for its own events and its Jobs, and the Rollout that owns the run', () => {
    const { caches, after } = controller();
    expect(after(() => caches.analysisRuns.emit(object('shop', 'web-canary-1', ownedBy('Rollout', 'web'))))).toEqual([
      ['analysisrun', 'shop/web-canary-1'],
      ['rollout', 'shop/web'],
    ]);
    expect(after(() => caches.analysisJobs.emit(object('shop', 'web-canary-1-errors', ownedBy('AnalysisRun', 'web-canary-1'))))).toEqual([['analysisrun', 'shop/web-canary-1']]);
  });

  it('wakes the Rollouts of the namespace that name a Service as stable or canary, or a Deployment as their workload', () => {
    const { caches, after } = controller();
    caches.rollouts
      .put(rollout('shop', 'web', { strategy: { canary: { stableService: 'web-stable', canaryService: 'web-canary' } } }))
      .put(rollout('shop', 'api', { strategy: { canary: { stableService: 'api' } }, workloadRef: { name: 'api' } }))
      .put(rollout('other', 'web', { strategy: { canary: { stableService: 'web-stable' } } }));
    expect(after(() => caches.services.emit(object('shop', 'web-stable')))).toEqual([['rollout', 'shop/web']]);
    expect(after(() => caches.services.emit(object('shop', 'web-canary')))).toEqual([['rollout', 'shop/web']]);
    expect(after(() => caches.services.emit(object('shop', 'unnamed')))).toEqual([]);
    expect(after(() => caches.deployments.emit(object('shop', 'api')))).toEqual([['rollout', 'shop/api']]);
    expect(after(() => caches.deployments.emit(object('other', 'api')))).toEqual([]);
  });

  it('wakes every Rollout of its namespace for an AnalysisTemplate, and every Rollout for a ClusterAnalysisTemplate', () => {
    const { caches, after } = controller();
    caches.rollouts.put(rollout('shop', 'web')).put(rollout('shop', 'api')).put(rollout('other', 'web'));
    expect(after(() => caches.analysisTemplates.emit(object('shop', 'error-rate')))).toEqual([
      ['rollout', 'shop/web'],
      ['rollout', 'shop/api'],
    ]);
    expect(after(() => caches.clusterAnalysisTemplates?.emit(object(undefined, 'error-rate')))).toEqual([
      ['rollout', 'shop/web'],
      ['rollout', 'shop/api'],
      ['rollout', 'other/web'],
    ]);
  });

  it('wakes only the Rollouts whose template reads a ConfigMap or Secret, as their templates change', () => {
    const { caches, after } = controller();
    const reading = (volumes: unknown[], configTracking?: { enabled: boolean }) => ({ template: { spec: { containers: [], volumes } }, ...(configTracking && { configTracking }) });
    caches.rollouts.emit(rollout('shop', 'web', reading([{ name: 'a', configMap: { name: 'settings' } }, { name: 'b', secret: { secretName: 'token' } }])));
    caches.rollouts.emit(rollout('shop', 'api', reading([{ name: 'a', configMap: { name: 'settings' } }], { enabled: false })));
    expect(after(() => caches.configSources?.configMaps.emit(object('shop', 'settings')))).toEqual([['rollout', 'shop/web']]);
    expect(after(() => caches.configSources?.secrets.emit(object('shop', 'token')))).toEqual([['rollout', 'shop/web']]);
    expect(after(() => caches.configSources?.secrets.emit(object('shop', 'settings')))).toEqual([]);
    caches.rollouts.emit(rollout('shop', 'web', reading([])));
    expect(after(() => caches.configSources?.configMaps.emit(object('shop', 'settings')))).toEqual([]);
  });

  it('passes over the caches a flag turned off', () => {
    const { caches, after } = controller({ clusterTemplates: false, configTracking: false });
    expect(after(() => caches.rollouts.emit(rollout('shop', 'web')))).toEqual([['rollout', 'shop/web']]);
  });
});
