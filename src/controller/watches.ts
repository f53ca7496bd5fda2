import type * as k8s from '@kubernetes/client-node';
import type { ResilientInformer } from '../kube/informer.js';
import { configReferences, configTrackingEnabled, ConfigSourceIndex, type ConfigKind } from '../rollout/config/tracking.js';
import type { Caches } from './informers.js';

/** The controllers, each with its own queue of `namespace/name` keys. */
export type QueueName = 'rollout' | 'analysisrun';
export type Enqueue = (queue: QueueName, key: string) => void;

/**
 * One watched kind, as controller-runtime's builder declares it: the cache whose events count, the queue they wake,
 * and the keys an object maps to there (itself for `For`, its owner for `Owns`, any mapping for `Watches`).
 * Deleted objects map too: a deleted Rollout's reconcile forgets what the controller kept about it.
 */
export interface Watch {
  source: ResilientInformer<k8s.KubernetesObject> | undefined;
  queue: QueueName;
  keys: (obj: k8s.KubernetesObject) => readonly string[];
}

type Rollouts = Pick<ResilientInformer<k8s.KubernetesObject>, 'list'>;

export const keyOf = (obj: k8s.KubernetesObject): string => `${obj.metadata?.namespace}/${obj.metadata?.name}`;

/** `For`: the object's own key. */
const self = (obj: k8s.KubernetesObject): string[] => [keyOf(obj)];

/** `Owns`: the controlling owner of `kind`; the owner, not the label, as a label value holds a long Rollout name only shortened. */
const controlledBy =
  (kind: string) =>
  (obj: k8s.KubernetesObject): string[] => {
    const owner = obj.metadata?.ownerReferences?.find((ref) => ref.controller === true && ref.kind === kind);
    return owner === undefined ? [] : [`${obj.metadata?.namespace}/${owner.name}`];
  };

/** The Rollouts of the object's namespace whose raw spec `names` it. */
const rolloutsThat =
  (rollouts: Rollouts, names: (spec: RawRolloutSpec | undefined, name: string | undefined) => boolean) =>
  (obj: k8s.KubernetesObject): string[] =>
    rollouts
      .list(obj.metadata?.namespace)
      .filter((r) => names((r as { spec?: RawRolloutSpec }).spec, obj.metadata?.name))
      .map(keyOf);

/** Read raw, not parsed: these run for every event of their kind, and only look at a few fields. */
interface RawRolloutSpec {
  strategy?: { canary?: { stableService?: string; canaryService?: string; pingPong?: { pingService?: string; pongService?: string } } };
  workloadRef?: { name?: string };
  template?: { spec?: unknown };
  configTracking?: { enabled?: boolean };
}

/** A Service wakes the Rollouts that name it as their stable or canary Service, or as one of pingPong's. */
const rolloutsNamingService = (rollouts: Rollouts): Watch['keys'] =>
  rolloutsThat(rollouts, (spec, name) => {
    const canary = spec?.strategy?.canary;
    return name !== undefined && [canary?.stableService, canary?.canaryService, canary?.pingPong?.pingService, canary?.pingPong?.pongService].includes(name);
  });

/** A Deployment wakes the Rollouts whose workloadRef names it. */
const rolloutsOfWorkload = (rollouts: Rollouts): Watch['keys'] => rolloutsThat(rollouts, (spec, name) => spec?.workloadRef?.name === name);

/** Every Rollout of the object's namespace (every one at all, for a cluster-scoped object): they are cheap to look at. */
const rolloutsAround = (rollouts: Rollouts) => (obj: k8s.KubernetesObject): string[] => rollouts.list(obj.metadata?.namespace).map(keyOf);

/** A ConfigMap or Secret wakes only the Rollouts that read it. */
const readersOf =
  (index: ConfigSourceIndex, kind: ConfigKind) =>
  (source: k8s.KubernetesObject): string[] =>
    index.readersOf(source.metadata?.namespace ?? '', kind, source.metadata?.name ?? '');

/** Which Rollouts read which ConfigMaps and Secrets, kept as Rollouts change (controller-runtime's field index). */
export function indexConfigReaders(rollouts: ResilientInformer<k8s.KubernetesObject>): ConfigSourceIndex {
  const index = new ConfigSourceIndex();
  rollouts.onChange((r) => {
    const namespace = r.metadata?.namespace ?? '';
    const name = r.metadata?.name ?? '';
    const spec = (rollouts.get(name, namespace) as { spec?: RawRolloutSpec } | undefined)?.spec;
    index.set(namespace, name, spec?.template !== undefined && configTrackingEnabled(spec) ? configReferences(spec.template) : []);
  });
  return index;
}

/** What wakes which reconcile. */
export function watchTable(caches: Caches, configReaders: ConfigSourceIndex): Watch[] {
  const { rollouts } = caches;
  return [
    { source: rollouts, queue: 'rollout', keys: self },
    { source: caches.replicaSets, queue: 'rollout', keys: controlledBy('Rollout') },
    { source: caches.services, queue: 'rollout', keys: rolloutsNamingService(rollouts) },
    { source: caches.analysisRuns, queue: 'analysisrun', keys: self },
    { source: caches.analysisRuns, queue: 'rollout', keys: controlledBy('Rollout') },
    { source: caches.deployments, queue: 'rollout', keys: rolloutsOfWorkload(rollouts) },
    // A finished analysis Job wakes its AnalysisRun at once instead of at the next poll.
    { source: caches.analysisJobs, queue: 'analysisrun', keys: controlledBy('AnalysisRun') },
    // A template that appears or changes may unblock Rollouts waiting to create a run.
    { source: caches.analysisTemplates, queue: 'rollout', keys: rolloutsAround(rollouts) },
    { source: caches.clusterAnalysisTemplates, queue: 'rollout', keys: rolloutsAround(rollouts) },
    { source: caches.configSources?.configMaps, queue: 'rollout', keys: readersOf(configReaders, 'ConfigMap') },
    { source: caches.configSources?.secrets, queue: 'rollout', keys: readersOf(configReaders, 'Secret') },
  ];
}

/** Hooks every watch's events to its queue. */
export function connectWatches(watches: readonly Watch[], enqueue: Enqueue): void {
  for (const { source, queue, keys } of watches) source?.onChange((obj) => keys(obj).forEach((key) => enqueue(queue, key)));
}
