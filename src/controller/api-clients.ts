import type { KubeConfig } from '@kubernetes/client-node';
import type { ControllerConfig } from '../config.js';
import { appsApi, batchApi, coreApi, customApi, networkingApi, type AppsApi, type BatchApi, type CoreApi, type CustomApi, type NetworkingApi } from '../kube/api.js';
import { KubeClient, TokenBucket, type ClientInstrumentation } from '../kube/client.js';
import { connectionFor } from '../kube/connection.js';
import type { WriteFence } from '../kube/shards/write-fence.js';
import type { ControllerMetrics } from '../observability/metrics.js';

/** The API clients reconciles write through, and how to make one more that keeps out of their budget. */
export interface ApiClients {
  apps: AppsApi;
  core: CoreApi;
  custom: CustomApi;
  networking: NetworkingApi;
  batch: BatchApi;
  /** A client with a limiter (and timeout) of its own, counted in the same request metrics. */
  separate<T>(api: (client: KubeClient) => T, limiter: TokenBucket, timeoutMs?: number): T;
}

/** `fence`, with --shards: every write of these clients passes it, so a reconcile writes only while its shard is held. */
export function makeApiClients(kc: KubeConfig, config: ControllerConfig, metrics: ControllerMetrics, fence?: WriteFence): ApiClients {
  const connection = connectionFor(kc);
  // One limiter for every client but the Events' and the Lease's, so their sum stays within --kube-api-qps.
  const instrumentation: ClientInstrumentation = {
    limiter: new TokenBucket(config.kubeApiQps, config.kubeApiBurst),
    onResponse: (verb, resource, code) => metrics.apiRequests.inc({ verb, resource, code }),
    ...(fence !== undefined && { beforeWrite: () => fence.check() }),
  };
  // An apiserver that accepts connections but never answers must fail requests, not hold reconcile workers forever.
  const timeoutMs = config.kubeApiTimeoutSeconds * 1000;
  const shared = new KubeClient(connection, instrumentation, timeoutMs);
  return {
    apps: appsApi(shared),
    core: coreApi(shared),
    custom: customApi(shared),
    networking: networkingApi(shared),
    batch: batchApi(shared),
    separate: (api, limiter, separateTimeoutMs = timeoutMs) => api(new KubeClient(connection, { limiter, onResponse: instrumentation.onResponse }, separateTimeoutMs)),
  };
}
