import type * as k8s from '@kubernetes/client-node';
import type { AppsApi, CoreApi, CustomApi, NetworkingApi } from '../kube/api.js';
import type { ResilientInformer } from '../kube/informer.js';
import type { EventRecorder } from '../kube/events.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { WebhookNotifier } from '../observability/notifier.js';
import type { Logger } from '../observability/logger.js';
import type { GitWriteBacks } from '../gitops/write-back.js';
import type { WebhookRunner } from './hooks/runner.js';
import type { ConfigCopies } from './config/copies.js';
import type { AnalysisPhase } from '../api/analysis.js';
import type { TrafficSplitApiVersion } from '../traffic/routers/smi.js';

/** What the rollout shell reads, writes and reports through: caches, API clients, and the background runners. */
export interface RolloutReconcilerDeps {
  rollouts: ResilientInformer<k8s.KubernetesObject>;
  replicaSets: ResilientInformer<k8s.V1ReplicaSet>;
  /** The Deployments a workloadRef names; absent, a Rollout with a workloadRef is invalid. */
  deployments?: ResilientInformer<k8s.V1Deployment>;
  services: ResilientInformer<k8s.V1Service>;
  analysisRuns: ResilientInformer<k8s.KubernetesObject>;
  analysisTemplates: ResilientInformer<k8s.KubernetesObject>;
  /** Absent when the controller may not read cluster-scoped templates (--no-cluster-templates). */
  clusterAnalysisTemplates?: ResilientInformer<k8s.KubernetesObject>;
  apps: AppsApi;
  core: CoreApi;
  custom: CustomApi;
  /** For the NGINX router's canary Ingresses. */
  networking: NetworkingApi;
  /** The TrafficSplit version the SMI router writes (--traffic-split-api-version); its default when absent. */
  trafficSplitApiVersion?: TrafficSplitApiVersion;
  /** Commits the stable images back to Git after an abort, where opted in; absent, nothing is written to Git. */
  writeBacks?: GitWriteBacks;
  /** Config tracking's copies of the ConfigMaps and Secrets pod templates read; absent, templates are used as written. */
  configCopies?: ConfigCopies;
  /** Makes spec.strategy.canary.webhooks' calls in the background; absent, no hook is called and gates stay closed. */
  webhooks?: WebhookRunner;
  events: EventRecorder;
  metrics?: ControllerMetrics;
  notifier?: WebhookNotifier;
  logger: Logger;
  now: () => number;
  /** How long a status change of counts alone may wait for the next decided one; COUNTS_STALENESS_MS when absent. */
  countsStalenessMs?: number;
}

/** An AnalysisRun as the rollout shell reads it from the cache. */
export type OwnedRun = k8s.KubernetesObject & { spec?: { terminate?: boolean }; status?: { phase?: AnalysisPhase; message?: string } };
