import type * as k8s from '@kubernetes/client-node';
import type { KubeClient, RequestOptions } from './client.js';

// The calls the controller makes, by the names and request shapes of client-node's generated API classes, so a call
// site reads as it did; behind them a few lines of path building on KubeClient. The generated classes, their models
// and ObjectSerializer were most of the bundle and of the idle controller's memory (bench/idle-memory.ts).

type List<T extends k8s.KubernetesObject> = k8s.KubernetesListObject<T>;
interface Named {
  name: string;
  namespace: string;
}
type ListRequest = { namespace: string; labelSelector?: string };
type ListAllRequest = { labelSelector?: string };

/** One kind's calls. A patch says its type (mergePatchOptions()): there is no default to fall back on. */
interface Calls<T extends k8s.KubernetesObject> {
  read(request: Named): Promise<T>;
  list(request: ListRequest, options?: RequestOptions): Promise<List<T>>;
  listAll(request: ListAllRequest, options?: RequestOptions): Promise<List<T>>;
  create(request: { namespace: string; body: T }): Promise<T>;
  replace(request: Named & { body: T }): Promise<T>;
  patch(request: Named & { body: object }, options: RequestOptions): Promise<T>;
  /** `body`, DeleteOptions: its preconditions make the delete fail with 409 when the object changed. */
  delete(request: Named & { propagationPolicy?: string; body?: k8s.V1DeleteOptions }): Promise<unknown>;
}

const segment = encodeURIComponent;

/** The calls on `plural` in the API group at `base` (`/api/v1`, `/apis/apps/v1`). */
function calls<T extends k8s.KubernetesObject>(client: KubeClient, base: string, plural: string): Calls<T> {
  const collection = (namespace: string): string => `${base}/namespaces/${segment(namespace)}/${plural}`;
  const one = ({ name, namespace }: Named): string => `${collection(namespace)}/${segment(name)}`;
  return {
    read: (request) => client.request('GET', one(request)),
    list: ({ namespace, labelSelector }, options) => client.request('GET', collection(namespace), { query: { labelSelector }, options }),
    listAll: ({ labelSelector }, options) => client.request('GET', `${base}/${plural}`, { query: { labelSelector }, options }),
    create: ({ namespace, body }) => client.request('POST', collection(namespace), { body }),
    replace: (request) => client.request('PUT', one(request), { body: request.body }),
    patch: (request, options) => client.request('PATCH', one(request), { body: request.body, options }),
    delete: (request) => client.request('DELETE', one(request), { query: { propagationPolicy: request.propagationPolicy }, body: request.body }),
  };
}

export interface CoreApi {
  readNamespace(request: { name: string }): Promise<k8s.V1Namespace>;
  listNamespacedPod: Calls<k8s.V1Pod>['list'];
  patchNamespacedPod: Calls<k8s.V1Pod>['patch'];
  deleteNamespacedPod: Calls<k8s.V1Pod>['delete'];
  readNamespacedService: Calls<k8s.V1Service>['read'];
  patchNamespacedService: Calls<k8s.V1Service>['patch'];
  createNamespacedService: Calls<k8s.V1Service>['create'];
  deleteNamespacedService: Calls<k8s.V1Service>['delete'];
  listNamespacedService: Calls<k8s.V1Service>['list'];
  listServiceForAllNamespaces: Calls<k8s.V1Service>['listAll'];
  readNamespacedConfigMap: Calls<k8s.V1ConfigMap>['read'];
  createNamespacedConfigMap: Calls<k8s.V1ConfigMap>['create'];
  deleteNamespacedConfigMap: Calls<k8s.V1ConfigMap>['delete'];
  listNamespacedConfigMap: Calls<k8s.V1ConfigMap>['list'];
  listConfigMapForAllNamespaces: Calls<k8s.V1ConfigMap>['listAll'];
  readNamespacedSecret: Calls<k8s.V1Secret>['read'];
  createNamespacedSecret: Calls<k8s.V1Secret>['create'];
  deleteNamespacedSecret: Calls<k8s.V1Secret>['delete'];
  listNamespacedSecret: Calls<k8s.V1Secret>['list'];
  listSecretForAllNamespaces: Calls<k8s.V1Secret>['listAll'];
  createNamespacedEvent: Calls<k8s.CoreV1Event>['create'];
  patchNamespacedEvent: Calls<k8s.CoreV1Event>['patch'];
}

export function coreApi(client: KubeClient): CoreApi {
  const pods = calls<k8s.V1Pod>(client, '/api/v1', 'pods');
  const services = calls<k8s.V1Service>(client, '/api/v1', 'services');
  const configMaps = calls<k8s.V1ConfigMap>(client, '/api/v1', 'configmaps');
  const secrets = calls<k8s.V1Secret>(client, '/api/v1', 'secrets');
  const events = calls<k8s.CoreV1Event>(client, '/api/v1', 'events');
  return {
    readNamespace: ({ name }) => client.request('GET', `/api/v1/namespaces/${segment(name)}`),
    listNamespacedPod: pods.list,
    patchNamespacedPod: pods.patch,
    deleteNamespacedPod: pods.delete,
    readNamespacedService: services.read,
    patchNamespacedService: services.patch,
    createNamespacedService: services.create,
    deleteNamespacedService: services.delete,
    listNamespacedService: services.list,
    listServiceForAllNamespaces: services.listAll,
    readNamespacedConfigMap: configMaps.read,
    createNamespacedConfigMap: configMaps.create,
    deleteNamespacedConfigMap: configMaps.delete,
    listNamespacedConfigMap: configMaps.list,
    listConfigMapForAllNamespaces: configMaps.listAll,
    readNamespacedSecret: secrets.read,
    createNamespacedSecret: secrets.create,
    deleteNamespacedSecret: secrets.delete,
    listNamespacedSecret: secrets.list,
    listSecretForAllNamespaces: secrets.listAll,
    createNamespacedEvent: events.create,
    patchNamespacedEvent: events.patch,
  };
}

export interface AppsApi {
  readNamespacedReplicaSet: Calls<k8s.V1ReplicaSet>['read'];
  createNamespacedReplicaSet: Calls<k8s.V1ReplicaSet>['create'];
  patchNamespacedReplicaSet: Calls<k8s.V1ReplicaSet>['patch'];
  deleteNamespacedReplicaSet: Calls<k8s.V1ReplicaSet>['delete'];
  listNamespacedReplicaSet: Calls<k8s.V1ReplicaSet>['list'];
  listReplicaSetForAllNamespaces: Calls<k8s.V1ReplicaSet>['listAll'];
  patchNamespacedDeployment: Calls<k8s.V1Deployment>['patch'];
  listNamespacedDeployment: Calls<k8s.V1Deployment>['list'];
  listDeploymentForAllNamespaces: Calls<k8s.V1Deployment>['listAll'];
}

export function appsApi(client: KubeClient): AppsApi {
  const replicaSets = calls<k8s.V1ReplicaSet>(client, '/apis/apps/v1', 'replicasets');
  const deployments = calls<k8s.V1Deployment>(client, '/apis/apps/v1', 'deployments');
  return {
    readNamespacedReplicaSet: replicaSets.read,
    createNamespacedReplicaSet: replicaSets.create,
    patchNamespacedReplicaSet: replicaSets.patch,
    deleteNamespacedReplicaSet: replicaSets.delete,
    listNamespacedReplicaSet: replicaSets.list,
    listReplicaSetForAllNamespaces: replicaSets.listAll,
    patchNamespacedDeployment: deployments.patch,
    listNamespacedDeployment: deployments.list,
    listDeploymentForAllNamespaces: deployments.listAll,
  };
}

export interface NetworkingApi {
  readNamespacedIngress: Calls<k8s.V1Ingress>['read'];
  createNamespacedIngress: Calls<k8s.V1Ingress>['create'];
  patchNamespacedIngress: Calls<k8s.V1Ingress>['patch'];
}

export function networkingApi(client: KubeClient): NetworkingApi {
  const ingresses = calls<k8s.V1Ingress>(client, '/apis/networking.k8s.io/v1', 'ingresses');
  return { readNamespacedIngress: ingresses.read, createNamespacedIngress: ingresses.create, patchNamespacedIngress: ingresses.patch };
}

export interface BatchApi {
  readNamespacedJob: Calls<k8s.V1Job>['read'];
  createNamespacedJob: Calls<k8s.V1Job>['create'];
  deleteNamespacedJob: Calls<k8s.V1Job>['delete'];
  listNamespacedJob: Calls<k8s.V1Job>['list'];
  listJobForAllNamespaces: Calls<k8s.V1Job>['listAll'];
}

export function batchApi(client: KubeClient): BatchApi {
  const jobs = calls<k8s.V1Job>(client, '/apis/batch/v1', 'jobs');
  return { readNamespacedJob: jobs.read, createNamespacedJob: jobs.create, deleteNamespacedJob: jobs.delete, listNamespacedJob: jobs.list, listJobForAllNamespaces: jobs.listAll };
}

export interface LeaseApi {
  readNamespacedLease: Calls<k8s.V1Lease>['read'];
  createNamespacedLease: Calls<k8s.V1Lease>['create'];
  replaceNamespacedLease: Calls<k8s.V1Lease>['replace'];
  listNamespacedLease: Calls<k8s.V1Lease>['list'];
  deleteNamespacedLease: Calls<k8s.V1Lease>['delete'];
}

export function leaseApi(client: KubeClient): LeaseApi {
  const leases = calls<k8s.V1Lease>(client, '/apis/coordination.k8s.io/v1', 'leases');
  return {
    readNamespacedLease: leases.read,
    createNamespacedLease: leases.create,
    replaceNamespacedLease: leases.replace,
    listNamespacedLease: leases.list,
    deleteNamespacedLease: leases.delete,
  };
}

/** A custom resource's coordinates, as the custom-object calls take them. */
interface Resource {
  group: string;
  version: string;
  plural: string;
}

/** Custom resources are untyped here, as in client-node: the caller parses what it reads. */
export interface CustomApi {
  getNamespacedCustomObject(request: Resource & Named): Promise<unknown>;
  createNamespacedCustomObject(request: Resource & { namespace: string; body: object }): Promise<unknown>;
  patchNamespacedCustomObject(request: Resource & Named & { body: object }, options: RequestOptions): Promise<unknown>;
  patchNamespacedCustomObjectStatus(request: Resource & Named & { body: object }, options: RequestOptions): Promise<unknown>;
  deleteNamespacedCustomObject(request: Resource & Named & { body?: k8s.V1DeleteOptions }): Promise<unknown>;
  listNamespacedCustomObject(request: Resource & { namespace: string }): Promise<unknown>;
  listClusterCustomObject(request: Resource): Promise<unknown>;
}

export function customApi(client: KubeClient): CustomApi {
  const base = ({ group, version }: Resource): string => `/apis/${segment(group)}/${segment(version)}`;
  const collection = (request: Resource & { namespace: string }): string => `${base(request)}/namespaces/${segment(request.namespace)}/${segment(request.plural)}`;
  const one = (request: Resource & Named): string => `${collection(request)}/${segment(request.name)}`;
  return {
    getNamespacedCustomObject: (request) => client.request('GET', one(request)),
    createNamespacedCustomObject: (request) => client.request('POST', collection(request), { body: request.body }),
    patchNamespacedCustomObject: (request, options) => client.request('PATCH', one(request), { body: request.body, options }),
    patchNamespacedCustomObjectStatus: (request, options) => client.request('PATCH', `${one(request)}/status`, { body: request.body, options }),
    deleteNamespacedCustomObject: (request) => client.request('DELETE', one(request), { body: request.body }),
    listNamespacedCustomObject: (request) => client.request('GET', collection(request)),
    listClusterCustomObject: (request) => client.request('GET', `${base(request)}/${segment(request.plural)}`),
  };
}
