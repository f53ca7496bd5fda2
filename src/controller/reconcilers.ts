import { tmpdir } from 'node:os';
import { AnalysisRunReconciler } from '../analysis/reconciler.js';
import type { ControllerConfig } from '../config.js';
import { coreApi } from '../kube/api.js';
import { TokenBucket } from '../kube/client.js';
import { EVENT_BURST, EVENT_DEFAULTS, EVENT_QPS, EventSink } from '../kube/events.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import { WebhookNotifier } from '../observability/notifier.js';
import { ConfigCopies } from '../rollout/config/copies.js';
import { RolloutReconciler } from '../rollout/reconciler.js';
import { WebhookRunner } from '../rollout/hooks/runner.js';
import { GitWriteBacks } from '../gitops/write-back.js';
import type { ApiClients } from './api-clients.js';
import type { Caches } from './informers.js';
import type { Enqueue } from './watches.js';

export interface ReconcilerDeps {
  config: ControllerConfig;
  api: ApiClients;
  caches: Caches;
  metrics: ControllerMetrics;
  logger: Logger;
  /** Answers that arrive outside a reconcile (webhooks, measurements) re-enqueue their object through it. */
  enqueue: Enqueue;
}

/** The reconcilers, and what a stopping controller still lets finish. */
export interface Reconcilers {
  rollout: RolloutReconciler;
  analysisRun: AnalysisRunReconciler;
  webhooks: WebhookRunner;
  events: EventSink;
  notifier: WebhookNotifier | undefined;
}

export function createReconcilers(deps: ReconcilerDeps): Reconcilers {
  const { config, api, metrics, logger } = deps;
  const notifier = config.notifyWebhook !== undefined ? new WebhookNotifier(config.notifyWebhook, logger) : undefined;
  // Events are written in the background through a client of their own, so a burst of them never delays a reconcile.
  const events = new EventSink(api.separate(coreApi, new TokenBucket(EVENT_QPS, EVENT_BURST)), 'fledge-controller', logger, {
    ...EVENT_DEFAULTS,
    onOutcome: (outcome) => metrics.events.inc({ outcome }),
  });
  const webhooks = new WebhookRunner({ events, logger, requeue: (key) => deps.enqueue('rollout', key) });
  return {
    rollout: rolloutReconciler(deps, { events, webhooks, notifier }),
    analysisRun: analysisRunReconciler(deps, events),
    webhooks,
    events,
    notifier,
  };
}

function rolloutReconciler({ config, api, caches, metrics, logger }: ReconcilerDeps, { events, webhooks, notifier }: Pick<Reconcilers, 'events' | 'webhooks' | 'notifier'>): RolloutReconciler {
  const { apps, core, custom, networking } = api;
  return new RolloutReconciler({
    webhooks,
    ...(caches.configSources && { configCopies: new ConfigCopies({ ...caches.configSources, core }) }),
    metrics,
    ...(notifier !== undefined && { notifier }),
    rollouts: caches.rollouts,
    replicaSets: caches.replicaSets,
    deployments: caches.deployments,
    services: caches.services,
    analysisRuns: caches.analysisRuns,
    analysisTemplates: caches.analysisTemplates,
    ...(caches.clusterAnalysisTemplates !== undefined && { clusterAnalysisTemplates: caches.clusterAnalysisTemplates }),
    apps,
    core,
    custom,
    networking,
    trafficSplitApiVersion: config.trafficSplitApiVersion,
    writeBacks: new GitWriteBacks({
      core,
      custom,
      events,
      logger,
      now: () => Date.now(),
      controller: { mode: config.writeBack, ...(config.writeBackSecret !== undefined && { secret: config.writeBackSecret }) },
      argocdNamespace: config.argocdNamespace,
      limits: { deadlineMs: config.writeBackTimeoutSeconds * 1000, maxBytes: config.writeBackMaxBytes, workDir: tmpdir() },
    }),
    events,
    logger,
    now: () => Date.now(),
  });
}

function analysisRunReconciler({ config, api, caches, metrics, logger, enqueue }: ReconcilerDeps, events: EventSink): AnalysisRunReconciler {
  return new AnalysisRunReconciler({
    runs: caches.analysisRuns,
    custom: api.custom,
    core: api.core,
    jobs: api.batch,
    events,
    logger,
    metrics,
    prometheusAddress: config.prometheusAddress,
    maxResponseBytes: config.maxProviderResponseBytes,
    requeue: (key) => enqueue('analysisrun', key),
    inFlight: { perBackend: config.maxMeasurementsPerBackend, total: config.maxMeasurementsInFlight },
    inFlightObserver: {
      depth: (backend, inFlight, queued) => {
        metrics.measurementsInFlight.set({ backend }, inFlight);
        metrics.measurementsQueued.set({ backend }, queued);
      },
      settled: (backend, progress) => {
        const failed = progress.phase === 'Done' && progress.verdict.phase === 'Error';
        metrics.measurementsAnswered.inc({ backend, outcome: failed ? (progress.verdict.deadlineExceeded === true ? 'deadline' : 'error') : 'ok' });
      },
    },
    now: () => Date.now(),
  });
}
