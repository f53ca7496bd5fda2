import * as k8s from '@kubernetes/client-node';
import type { ControllerConfig } from '../config.js';
import { makeApiClient, TokenBucket, type ClientInstrumentation } from '../kube/client.js';
import type { WriteFence } from '../kube/shards/write-fence.js';
import type { ControllerMetrics } from '../observability/metrics.js';

/** The API clients reconciles write through, and how to make one more that keeps out of their budget. */
export interface ApiClients {
  apps: k8s.AppsV1Api;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  networking: k8s.NetworkingV1Api;
  batch: k8s.BatchV1Api;
  /** A client with a limiter (and timeout) of its own, counted in the same request metrics. */
  separate<T>(api: new (config: k8s.Configuration) => T, limiter: TokenBucket, timeoutMs?: number): T;
}

/** `fence`, with --shards: every write of these clients passes it, so a reconcile writes only while its shard is held. */
export function makeApiClients(kc: k8s.KubeConfig, config: ControllerConfig, metrics: ControllerMetrics, fence?: WriteFence): ApiClients {
  // One limiter for every client but the Events' and the Lease's, so their sum stays within --kube-api-qps.
  const instrumentation: ClientInstrumentation = {
    limiter: new TokenBucket(config.kubeApiQps, config.kubeApiBurst),
    onResponse: (verb, resource, code) => metrics.apiRequests.inc({ verb, resource, code }),
    ...(fence !== undefined && { beforeWrite: () => fence.check() }),
  };
  // An apiserver that accepts connections but never answers must fail requests, not hold reconcile workers forever.
  const requests = { timeoutMs: config.kubeApiTimeoutSeconds * 1000 };
  const shared = <T>(api: new (config: k8s.Configuration) => T): T => makeApiClient(kc, api, instrumentation, requests);
  return {
    apps: shared(k8s.AppsV1Api),
    core: shared(k8s.CoreV1Api),
    custom: shared(k8s.CustomObjectsApi),
    networking: shared(k8s.NetworkingV1Api),
    batch: shared(k8s.BatchV1Api),
    separate: (api, limiter, timeoutMs = requests.timeoutMs) => makeApiClient(kc, api, { limiter, onResponse: instrumentation.onResponse }, { timeoutMs }),
  };
}
