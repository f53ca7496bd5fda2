import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from './api/rollout.js';
import { loadConfig, USAGE } from './config.js';
import { metadataOnlyOptions, resilientInformer, waitForCacheSync, type ResilientInformer } from './kube/informer.js';
import { LEADER_ELECTION_DEFAULTS, LeaderElector, leaseRequestTimeoutMs } from './kube/leader-election.js';
import { makeApiClient, TokenBucket, type ClientInstrumentation } from './kube/client.js';
import { WorkQueue, type WorkResult } from './kube/work-queue.js';
import { LABEL_ANALYSIS_RUN_UID } from './analysis/providers/job.js';
import { AnalysisRunReconciler } from './analysis/reconciler.js';
import { ControllerMetrics, healthRoutes, metricsRoutes, serveHttp } from './observability/metrics.js';
import { WebhookNotifier } from './observability/notifier.js';
import { hostname, tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { EVENT_BURST, EVENT_DEFAULTS, EVENT_QPS, EventSink } from './observability/events.js';
import { createLogger } from './observability/logger.js';
import { LABEL_ROLLOUT } from './rollout/labels.js';
import { RolloutReconciler } from './rollout/reconciler.js';
import { ConfigCopies } from './rollout/config-copies.js';
import { ConfigSourceIndex, configReferences, configTrackingEnabled, type ConfigKind } from './rollout/config-tracking.js';
import { GitWriteBacks } from './rollout/write-back.js';
import { WebhookRunner } from './rollout/webhook-runner.js';

/** A candidate makes at most two Lease requests a retry period; this leaves room for retries. */
const LEASE_QPS = 5;
/** How long a stopping controller waits for Events and notifications still being written. */
const SHUTDOWN_FLUSH_MS = 2_000;
/** How often status changes deferred for API budget are looked at: counts lag by about this much once there is budget. */
const DEFERRED_STATUS_FLUSH_MS = 1_000;

/** One informer per watched namespace (or one cluster-wide), merged behind the same interface. */
function multiNamespace<T extends k8s.KubernetesObject>(
  namespaces: string[],
  make: (namespace: string | undefined) => ResilientInformer<T>,
): ResilientInformer<T> {
  const parts = namespaces.length ? namespaces.map((ns) => ({ ns, informer: make(ns) })) : [{ ns: undefined, informer: make(undefined) }];
  const pick = (namespace?: string): Array<ResilientInformer<T>> =>
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

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const config = loadConfig(process.argv.slice(2), process.env);
  const logger = createLogger(config.logLevel, { component: 'fledge-controller' });
  const kc = new k8s.KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const metrics = new ControllerMetrics();
  // One limiter for every client but the Lease's (below), so their sum stays within --kube-api-qps.
  const instrumentation: ClientInstrumentation = {
    limiter: new TokenBucket(config.kubeApiQps, config.kubeApiBurst),
    onResponse: (verb, resource, code) => metrics.apiRequests.inc({ verb, resource, code }),
  };
  // An apiserver that accepts connections but never answers must fail requests, not hold reconcile workers forever.
  const requests = { timeoutMs: config.kubeApiTimeoutSeconds * 1000 };
  const apps = makeApiClient(kc, k8s.AppsV1Api, instrumentation, requests);
  const core = makeApiClient(kc, k8s.CoreV1Api, instrumentation, requests);
  const custom = makeApiClient(kc, k8s.CustomObjectsApi, instrumentation, requests);
  const networking = makeApiClient(kc, k8s.NetworkingV1Api, instrumentation, requests);
  const batch = makeApiClient(kc, k8s.BatchV1Api, instrumentation, requests);

  /** An informer for one of our custom resources, in the watched namespaces (or cluster-wide). */
  const customInformer = (plural: string, clusterScoped = false): ResilientInformer<k8s.KubernetesObject> => {
    const make = (ns: string | undefined): ResilientInformer<k8s.KubernetesObject> =>
      resilientInformer<k8s.KubernetesObject>(
        kc,
        ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}` : `/apis/${GROUP}/${VERSION}/${plural}`,
        () =>
          (ns
            ? custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural })
            : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
        { logger, name: plural },
      );
    return clusterScoped ? make(undefined) : multiNamespace(config.namespaces, make);
  };
  const rollouts = customInformer('rollouts');
  const analysisRuns = customInformer('analysisruns');
  const analysisTemplates = customInformer('analysistemplates');
  const clusterAnalysisTemplates = config.clusterTemplates ? customInformer('clusteranalysistemplates', true) : undefined;
  // Only the ReplicaSets Fledge created, never every ReplicaSet in the cluster.
  const replicaSets = multiNamespace(config.namespaces, (ns) =>
    resilientInformer<k8s.V1ReplicaSet>(
      kc,
      ns ? `/apis/apps/v1/namespaces/${ns}/replicasets` : '/apis/apps/v1/replicasets',
      () =>
        ns
          ? apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: LABEL_ROLLOUT })
          : apps.listReplicaSetForAllNamespaces({ labelSelector: LABEL_ROLLOUT }),
      { logger, name: 'replicasets', labelSelector: LABEL_ROLLOUT },
    ),
  );
  // Only the Services a Rollout names, which the reconciler labels when it first points them at a revision.
  const services = multiNamespace(config.namespaces, (ns) =>
    resilientInformer<k8s.V1Service>(
      kc,
      ns ? `/api/v1/namespaces/${ns}/services` : '/api/v1/services',
      () =>
        ns
          ? core.listNamespacedService({ namespace: ns, labelSelector: LABEL_ROLLOUT })
          : core.listServiceForAllNamespaces({ labelSelector: LABEL_ROLLOUT }),
      { logger, name: 'services', labelSelector: LABEL_ROLLOUT },
    ),
  );
  // Only analysis Jobs: a Job that finishes wakes its AnalysisRun at once instead of at the next poll.
  const analysisJobs = multiNamespace(config.namespaces, (ns) =>
    resilientInformer<k8s.V1Job>(
      kc,
      ns ? `/apis/batch/v1/namespaces/${ns}/jobs` : '/apis/batch/v1/jobs',
      () =>
        ns
          ? batch.listNamespacedJob({ namespace: ns, labelSelector: LABEL_ANALYSIS_RUN_UID })
          : batch.listJobForAllNamespaces({ labelSelector: LABEL_ANALYSIS_RUN_UID }),
      { logger, name: 'jobs', labelSelector: LABEL_ANALYSIS_RUN_UID },
    ),
  );

  // The Deployments a workloadRef may name: their pod template is the Rollout's. Not label-selected, as Argo's
  // users point at Deployments they already have; trimForCache keeps the cost to what the objects hold.
  const deployments = multiNamespace(config.namespaces, (ns) =>
    resilientInformer<k8s.V1Deployment>(
      kc,
      ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments',
      () => (ns ? apps.listNamespacedDeployment({ namespace: ns }) : apps.listDeploymentForAllNamespaces()),
      { logger, name: 'deployments' },
    ),
  );

  // Config tracking must see every ConfigMap and Secret a pod template may name, but never needs their data here:
  // metadata only (name, resourceVersion, owners), so the cache costs about 500 bytes of heap an object and
  // holds no secret. Content is read with a GET when a referenced source's resourceVersion moves.
  const metadataInformer = (
    plural: 'configmaps' | 'secrets',
    list: (ns: string | undefined) => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
  ): ResilientInformer<k8s.KubernetesObject> =>
    multiNamespace(config.namespaces, (ns) =>
      resilientInformer<k8s.KubernetesObject>(kc, ns ? `/api/v1/namespaces/${ns}/${plural}` : `/api/v1/${plural}`, () => list(ns), { logger, name: plural, metadataOnly: true }),
    );
  const configMaps =
    config.configTracking &&
    metadataInformer('configmaps', (ns) => (ns ? core.listNamespacedConfigMap({ namespace: ns }, metadataOnlyOptions()) : core.listConfigMapForAllNamespaces({}, metadataOnlyOptions())));
  const secrets =
    config.configTracking &&
    metadataInformer('secrets', (ns) => (ns ? core.listNamespacedSecret({ namespace: ns }, metadataOnlyOptions()) : core.listSecretForAllNamespaces({}, metadataOnlyOptions())));

  const notifier = config.notifyWebhook !== undefined ? new WebhookNotifier(config.notifyWebhook, logger) : undefined;
  // Events are written in the background through a client of their own, so a burst of them never delays a reconcile.
  const events = new EventSink(
    makeApiClient(kc, k8s.CoreV1Api, { limiter: new TokenBucket(EVENT_QPS, EVENT_BURST), onResponse: instrumentation.onResponse }, requests),
    'fledge-controller',
    logger,
    { ...EVENT_DEFAULTS, onOutcome: (outcome) => metrics.events.inc({ outcome }) },
  );
  // Answers re-enqueue their Rollout through `enqueue`, defined with the queue below.
  const webhooks = new WebhookRunner({ events, logger, requeue: (key) => enqueue(key) });
  const reconciler = new RolloutReconciler({
    webhooks,
    ...(configMaps && secrets && { configCopies: new ConfigCopies({ configMaps, secrets, core }) }),
    metrics,
    ...(notifier !== undefined && { notifier }),
    rollouts,
    replicaSets,
    deployments,
    services,
    analysisRuns,
    analysisTemplates,
    ...(clusterAnalysisTemplates !== undefined && { clusterAnalysisTemplates }),
    apps,
    core,
    custom,
    networking,
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
    apiSaturated: () => instrumentation.limiter.saturated(),
  });
  const runReconciler = new AnalysisRunReconciler({
    runs: analysisRuns,
    custom,
    core,
    jobs: batch,
    events,
    logger,
    metrics,
    prometheusAddress: config.prometheusAddress,
    maxResponseBytes: config.maxProviderResponseBytes,
    // Answers re-enqueue their run through `enqueueRun`, defined with the queues below.
    requeue: (key) => enqueueRun(key),
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

  /** One keyed queue per controller, with its duration, error and queue metrics. */
  const makeQueue = (controller: string, reconcile: (key: string) => Promise<WorkResult>): WorkQueue =>
    new WorkQueue(
      async (key) => {
        const timer = metrics.reconcileDuration.startTimer({ controller });
        try {
          return await reconcile(key);
        } catch (err) {
          const [namespace, name] = key.split('/');
          metrics.reconcileErrors.inc({ controller });
          logger.error('reconcile failed', { controller, namespace, name, error: err instanceof Error ? err.message : String(err) });
          throw err;
        } finally {
          timer();
        }
      },
      { concurrency: config.concurrency, baseBackoffMs: 200, maxBackoffMs: 10_000 },
      {
        onDepth: (depth) => metrics.queueDepth.set({ controller }, depth),
        onLatency: (ms) => metrics.queueLatency.observe({ controller }, ms / 1000),
      },
    );
  const queue = makeQueue('rollout', (key) => reconciler.reconcile(key));
  const runQueue = makeQueue('analysisrun', (key) => runReconciler.reconcile(key));

  // Nothing is reconciled before every cache has synced and, with leader election, this process leads;
  // followers keep warm caches. Once reconciling starts, everything cached is enqueued.
  let reconciling = false;
  const enqueue = (key: string): void => {
    if (reconciling) queue.add(key);
  };
  const enqueueRun = (key: string): void => {
    if (reconciling) runQueue.add(key);
  };
  const keyOf = (obj: k8s.KubernetesObject): string => `${obj.metadata?.namespace}/${obj.metadata?.name}`;
  // A deleted Rollout is enqueued too: its reconcile forgets what the controller kept about it.
  rollouts.onChange((r) => enqueue(keyOf(r)));
  // Which Rollouts read which ConfigMaps and Secrets, kept as Rollouts change, so a source's change wakes only them.
  const configReaders = new ConfigSourceIndex();
  rollouts.onChange((r) => {
    const namespace = r.metadata?.namespace ?? '';
    const name = r.metadata?.name ?? '';
    // Read raw, not parsed: this runs for every Rollout event, and configReferences takes any shape.
    const spec = (rollouts.get(name, namespace) as { spec?: { template?: { spec?: unknown }; configTracking?: { enabled?: boolean } } } | undefined)?.spec;
    configReaders.set(namespace, name, spec?.template !== undefined && configTrackingEnabled(spec) ? configReferences(spec.template) : []);
  });
  const wakeReaders = (kind: ConfigKind) => (source: k8s.KubernetesObject) =>
    configReaders.readersOf(source.metadata?.namespace ?? '', kind, source.metadata?.name ?? '').forEach(enqueue);
  if (configMaps) configMaps.onChange(wakeReaders('ConfigMap'));
  if (secrets) secrets.onChange(wakeReaders('Secret'));
  // The controlling owner, not the label: a label value holds a long Rollout name only shortened.
  const ownerKey = (obj: k8s.KubernetesObject): string | undefined => {
    const owner = obj.metadata?.ownerReferences?.find((ref) => ref.controller === true && ref.kind === 'Rollout');
    return owner === undefined ? undefined : `${obj.metadata?.namespace}/${owner.name}`;
  };
  replicaSets.onChange((rs) => {
    const owner = ownerKey(rs);
    if (owner) enqueue(owner);
  });
  services.onChange((svc) => {
    for (const r of rollouts.list(svc.metadata?.namespace)) {
      const canary = (r as { spec?: { strategy?: { canary?: { stableService?: string; canaryService?: string } } } }).spec?.strategy?.canary;
      if (canary?.stableService === svc.metadata?.name || canary?.canaryService === svc.metadata?.name) enqueue(keyOf(r));
    }
  });

  analysisRuns.onChange((run) => {
    enqueueRun(keyOf(run));
    const owner = ownerKey(run);
    if (owner) enqueue(owner);
  });
  deployments.onChange((deployment) => {
    for (const r of rollouts.list(deployment.metadata?.namespace)) {
      if ((r as { spec?: { workloadRef?: { name?: string } } }).spec?.workloadRef?.name === deployment.metadata?.name) enqueue(keyOf(r));
    }
  });
  analysisJobs.onChange((job) => {
    const run = job.metadata?.ownerReferences?.find((ref) => ref.controller === true && ref.kind === 'AnalysisRun');
    if (run) enqueueRun(`${job.metadata?.namespace}/${run.name}`);
  });
  // A template that appears or changes may unblock Rollouts waiting to create a run; they are cheap to look at.
  const enqueueNamespace = (namespace: string | undefined): void => rollouts.list(namespace).forEach((r) => enqueue(keyOf(r)));
  analysisTemplates.onChange((template) => enqueueNamespace(template.metadata?.namespace));
  clusterAnalysisTemplates?.onChange(() => enqueueNamespace(undefined));

  const informers = [rollouts, replicaSets, deployments, services, analysisRuns, analysisJobs, analysisTemplates, ...(configMaps && secrets ? [configMaps, secrets] : []), ...(clusterAnalysisTemplates ? [clusterAnalysisTemplates] : [])];
  const synced = (): boolean => informers.every((informer) => informer.synced);
  metrics.countCachedObjects(informers);
  const metricsEndpoint = await serveHttp(config.bindAddress, config.metricsPort, metricsRoutes(metrics));
  const healthEndpoint = await serveHttp(config.bindAddress, config.healthPort, healthRoutes(synced));
  logger.info('serving metrics and probes', { metrics: `${metricsEndpoint.url}/metrics`, health: `${healthEndpoint.url}/healthz` });

  const stopping = new AbortController();
  // The Lease gets a client of its own, as in controller-runtime: renewals never queue behind reconciles for the
  // shared QPS limit, and a request the apiserver does not answer fails in time for another attempt.
  const elector = config.leaderElect
    ? new LeaderElector(
        makeApiClient(
          kc,
          k8s.CoordinationV1Api,
          { limiter: new TokenBucket(LEASE_QPS, LEASE_QPS), onResponse: instrumentation.onResponse },
          { timeoutMs: leaseRequestTimeoutMs(LEADER_ELECTION_DEFAULTS.renewDeadlineMs) },
        ),
        {
          namespace: config.leaderElectionNamespace,
          name: config.leaderElectionId,
          identity: `${hostname()}_${randomBytes(4).toString('hex')}`,
          ...LEADER_ELECTION_DEFAULTS,
          logger,
        },
      )
    : undefined;
  const stop = async (signal: string): Promise<void> => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    logger.info('shutting down; finishing in-flight reconciles', { signal });
    await Promise.all([queue.shutdown(), runQueue.shutdown()]);
    webhooks.stop();
    // What the last reconciles recorded is worth a moment, not a hang on an apiserver that is going away.
    await Promise.race([Promise.all([events.flush(), notifier?.settled()]), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_FLUSH_MS))]);
    await elector?.release();
    await Promise.all(informers.map((informer) => informer.stop()));
    await Promise.all([metricsEndpoint.close(), healthEndpoint.close()]);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // Not awaited: a start can hang on an apiserver that accepts connections but never answers. An informer whose
  // list failed (a bad CA, missing RBAC, an apiserver down) retries on its own; wait until every one has listed.
  for (const informer of informers) void informer.start();
  const cachesSynced = await waitForCacheSync(informers, {
    signal: stopping.signal,
    onWaiting: (waiting) => logger.warn('waiting for caches to sync; not reconciling', { informers: waiting }),
  });
  if (!cachesSynced) return;
  logger.info('caches synced', { namespaces: config.namespaces.length ? config.namespaces : 'all', concurrency: config.concurrency });

  if (elector !== undefined) {
    logger.info('waiting for leadership', { lease: `${config.leaderElectionNamespace}/${config.leaderElectionId}` });
    const won = await elector.acquire(() => {
      // Another process may already be reconciling: stop at once rather than race it; the Deployment restarts us.
      metrics.leader.set(0);
      process.exit(1);
    });
    if (!won) return;
  }
  reconciling = true;
  metrics.leader.set(1);
  // Status changes that only report counts wait while the API budget is spent; once it is not, they are written.
  setInterval(() => {
    if (!instrumentation.limiter.saturated()) reconciler.takeDeferredStatus().forEach(enqueue);
  }, DEFERRED_STATUS_FLUSH_MS).unref();
  for (const rollout of rollouts.list()) queue.add(keyOf(rollout));
  for (const run of analysisRuns.list()) runQueue.add(keyOf(run));
  logger.info('reconciling', { leader: elector !== undefined });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
