import type * as k8s from '@kubernetes/client-node';
import { LABEL_ANALYSIS_RUN_UID } from '../analysis/providers/job.js';
import { GROUP, VERSION } from '../api/rollout.js';
import type { ControllerConfig } from '../config.js';
import type { RequestOptions } from '../kube/client.js';
import { metadataOnlyOptions, resilientInformer, type ResilientInformer } from '../kube/informer.js';
import type { Logger } from '../observability/logger.js';
import { LABEL_ROLLOUT } from '../api/labels.js';
import type { ApiClients } from './api-clients.js';

type Informer<T extends k8s.KubernetesObject = k8s.KubernetesObject> = ResilientInformer<T>;

/** Every cache the controller reads: the reconcilers observe through them and the watch table wakes keys from them. */
export interface Caches {
  rollouts: Informer;
  analysisRuns: Informer;
  analysisTemplates: Informer;
  /** Absent with --no-cluster-templates. */
  clusterAnalysisTemplates?: Informer;
  replicaSets: Informer<k8s.V1ReplicaSet>;
  services: Informer<k8s.V1Service>;
  analysisJobs: Informer<k8s.V1Job>;
  deployments: Informer<k8s.V1Deployment>;
  /** Absent with --no-config-tracking. */
  configSources?: { configMaps: Informer; secrets: Informer };
}

/** How one kind is listed and watched. The informer is named after its plural, in logs and metrics alike. */
interface Source<T extends k8s.KubernetesObject> {
  /** The API group's path: `/api/v1`, `/apis/apps/v1`. */
  base: string;
  plural: string;
  /** Lists one namespace, or every namespace when `namespace` is undefined. */
  list: (api: ApiClients, namespace: string | undefined) => Promise<k8s.KubernetesListObject<T>>;
  labelSelector?: string;
  metadataOnly?: boolean;
  clusterScoped?: boolean;
}

/** One of our custom resources, in the watched namespaces (or cluster-wide). */
const customResource = (plural: string, clusterScoped = false): Source<k8s.KubernetesObject> => ({
  base: `/apis/${GROUP}/${VERSION}`,
  plural,
  clusterScoped,
  list: ({ custom }, ns) =>
    (ns
      ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural })
      : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
});

type ListCall<T extends k8s.KubernetesObject, Request> = (request: Request & { labelSelector?: string }, options?: RequestOptions) => Promise<k8s.KubernetesListObject<T>>;

/**
 * A built-in kind, listed through the generated client's namespaced list or its list across all namespaces, with the
 * same label selector; a metadata-only one asks for PartialObjectMetadata in its list too.
 */
function builtIn<T extends k8s.KubernetesObject>(
  base: string,
  plural: string,
  lists: (api: ApiClients) => { namespaced: ListCall<T, { namespace: string }>; all: ListCall<T, object> },
  cached: { labelSelector?: string; metadataOnly?: boolean } = {},
): Source<T> {
  const { labelSelector, metadataOnly } = cached;
  const request = labelSelector === undefined ? {} : { labelSelector };
  return {
    base,
    plural,
    ...cached,
    list: (api, ns) => {
      const { namespaced, all } = lists(api);
      const options = metadataOnly === true ? metadataOnlyOptions() : undefined;
      return ns ? namespaced({ namespace: ns, ...request }, options) : all(request, options);
    },
  };
}

/** Every kind the controller caches. */
const SOURCES = {
  rollouts: customResource('rollouts'),
  analysisRuns: customResource('analysisruns'),
  analysisTemplates: customResource('analysistemplates'),
  clusterAnalysisTemplates: customResource('clusteranalysistemplates', true),
  // Only the ReplicaSets Fledge created, never every ReplicaSet in the cluster.
  replicaSets: builtIn<k8s.V1ReplicaSet>('/apis/apps/v1', 'replicasets', ({ apps }) => ({ namespaced: (r, o) => apps.listNamespacedReplicaSet(r, o), all: (r, o) => apps.listReplicaSetForAllNamespaces(r, o) }), { labelSelector: LABEL_ROLLOUT }),
  // Only the Services a Rollout names, which the reconciler labels when it first points them at a revision.
  services: builtIn<k8s.V1Service>('/api/v1', 'services', ({ core }) => ({ namespaced: (r, o) => core.listNamespacedService(r, o), all: (r, o) => core.listServiceForAllNamespaces(r, o) }), { labelSelector: LABEL_ROLLOUT }),
  // Only analysis Jobs: a Job that finishes wakes its AnalysisRun at once instead of at the next poll.
  analysisJobs: builtIn<k8s.V1Job>('/apis/batch/v1', 'jobs', ({ batch }) => ({ namespaced: (r, o) => batch.listNamespacedJob(r, o), all: (r, o) => batch.listJobForAllNamespaces(r, o) }), { labelSelector: LABEL_ANALYSIS_RUN_UID }),
  // The Deployments a workloadRef may name: their pod template is the Rollout's. Not label-selected, as Argo's
  // users point at Deployments they already have; trimForCache keeps the cost to what the objects hold.
  deployments: builtIn<k8s.V1Deployment>('/apis/apps/v1', 'deployments', ({ apps }) => ({ namespaced: (r, o) => apps.listNamespacedDeployment(r, o), all: (r, o) => apps.listDeploymentForAllNamespaces(r, o) })),
  // Config tracking must see every ConfigMap and Secret a pod template may name, but never needs their data here:
  // metadata only (name, resourceVersion, owners), so the cache costs about 500 bytes of heap an object and
  // holds no secret. Content is read with a GET when a referenced source's resourceVersion moves.
  configMaps: builtIn('/api/v1', 'configmaps', ({ core }) => ({ namespaced: (r, o) => core.listNamespacedConfigMap(r, o), all: (r, o) => core.listConfigMapForAllNamespaces(r, o) }), { metadataOnly: true }),
  secrets: builtIn('/api/v1', 'secrets', ({ core }) => ({ namespaced: (r, o) => core.listNamespacedSecret(r, o), all: (r, o) => core.listSecretForAllNamespaces(r, o) }), { metadataOnly: true }),
};

/** One informer per watched namespace (or one cluster-wide), merged behind the same interface. */
function multiNamespace<T extends k8s.KubernetesObject>(namespaces: string[], make: (namespace: string | undefined) => Informer<T>): Informer<T> {
  const parts = namespaces.length ? namespaces.map((ns) => ({ ns, informer: make(ns) })) : [{ ns: undefined, informer: make(undefined) }];
  const pick = (namespace?: string): Array<Informer<T>> =>
    parts.filter((p) => p.ns === undefined || namespace === undefined || p.ns === namespace).map((p) => p.informer);
  return {
    name: parts[0]?.informer.name ?? '',
    get: (name, namespace) => pick(namespace).map((i) => i.get(name, namespace)).find(Boolean),
    list: (namespace) => pick(namespace).flatMap((i) => i.list(namespace)),
    listOwnedBy: (uid) => parts.flatMap((p) => p.informer.listOwnedBy(uid)),
    get synced() {
      return parts.every((p) => p.informer.synced);
    },
    onChange: (cb) => parts.forEach((p) => p.informer.onChange(cb)),
    start: async () => void (await Promise.all(parts.map((p) => p.informer.start()))),
    stop: async () => void (await Promise.all(parts.map((p) => p.informer.stop()))),
  };
}

/** The caches of SOURCES that the flags ask for; created, not started. */
export function createCaches(kc: k8s.KubeConfig, api: ApiClients, config: ControllerConfig, logger: Logger): Caches {
  const inform = <T extends k8s.KubernetesObject>(source: Source<T>): Informer<T> => {
    const { base, plural, labelSelector, metadataOnly } = source;
    const make = (ns: string | undefined): Informer<T> =>
      resilientInformer<T>(kc, ns ? `${base}/namespaces/${ns}/${plural}` : `${base}/${plural}`, () => source.list(api, ns), { logger, name: plural, labelSelector, metadataOnly });
    return source.clusterScoped === true ? make(undefined) : multiNamespace(config.namespaces, make);
  };
  return {
    rollouts: inform(SOURCES.rollouts),
    analysisRuns: inform(SOURCES.analysisRuns),
    analysisTemplates: inform(SOURCES.analysisTemplates),
    ...(config.clusterTemplates && { clusterAnalysisTemplates: inform(SOURCES.clusterAnalysisTemplates) }),
    replicaSets: inform<k8s.V1ReplicaSet>(SOURCES.replicaSets),
    services: inform<k8s.V1Service>(SOURCES.services),
    analysisJobs: inform<k8s.V1Job>(SOURCES.analysisJobs),
    deployments: inform<k8s.V1Deployment>(SOURCES.deployments),
    ...(config.configTracking && { configSources: { configMaps: inform(SOURCES.configMaps), secrets: inform(SOURCES.secrets) } }),
  };
}

/** Every cache, in the order they start, report sync and are counted in fledge_cache_objects. */
export function informersOf(caches: Caches): Informer[] {
  const { rollouts, replicaSets, deployments, services, analysisRuns, analysisJobs, analysisTemplates, configSources, clusterAnalysisTemplates } = caches;
  return [
    rollouts,
    replicaSets,
    deployments,
    services,
    analysisRuns,
    analysisJobs,
    analysisTemplates,
    ...(configSources ? [configSources.configMaps, configSources.secrets] : []),
    ...(clusterAnalysisTemplates ? [clusterAnalysisTemplates] : []),
  ];
}
