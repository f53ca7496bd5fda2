import { parseArgs } from 'node:util';
import { z } from 'zod';
import { IN_FLIGHT_DEFAULTS } from './analysis/in-flight.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from './analysis/providers/result.js';
import { DEFAULT_WRITE_BACK_MAX_BYTES } from './gitops/git-http.js';
import { DEFAULT_WRITE_BACK_DEADLINE_MS } from './gitops/push.js';
import { LEASE_DEFAULTS, type LeaseTiming } from './kube/lease.js';

/** Controller configuration from flags, falling back to FLEDGE_* environment variables. */
export const ControllerConfig = z.object({
  kubeconfig: z.string().optional(),
  /** Empty: every namespace. */
  namespaces: z.array(z.string().min(1)),
  concurrency: z.coerce.number().int().min(1).max(64),
  /** Client-side rate limit on API requests (watches excluded), as client-go's QPS and burst. */
  kubeApiQps: z.coerce.number().positive(),
  kubeApiBurst: z.coerce.number().int().min(1),
  /** Seconds an API request (a list, a patch; not a watch) may go unanswered before it fails and the key backs off. */
  kubeApiTimeoutSeconds: z.coerce.number().positive().max(3600),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
  /** 0 picks a free port (tests); the bound address is logged. */
  metricsPort: z.coerce.number().int().min(0).max(65535),
  healthPort: z.coerce.number().int().min(0).max(65535),
  bindAddress: z.string().min(1),
  leaderElect: z.boolean(),
  leaderElectionNamespace: z.string().min(1),
  leaderElectionId: z.string().min(1),
  /**
   * More than 1: every replica reconciles the Rollouts (and their AnalysisRuns) of the shards whose Leases it holds,
   * `<leader-election-id>-shard-<i>`, instead of one leader reconciling all of them.
   */
  shards: z.coerce.number().int().min(1).max(1024),
  /** Lease timing, for the leader Lease and the shard Leases alike; whole seconds, as a Lease records it. */
  leaseDurationSeconds: z.coerce.number().int().min(1).max(3600),
  leaseRenewDeadlineSeconds: z.coerce.number().positive().max(3600),
  leaseRetryPeriodSeconds: z.coerce.number().positive().max(3600),
  /** False where the controller may not read cluster-scoped ClusterAnalysisTemplates (namespaced installs). */
  clusterTemplates: z.boolean(),
  /** False: no ConfigMap or Secret is watched or copied, and every Rollout's template is used as written. */
  configTracking: z.boolean(),
  /** Slack-compatible webhook for aborted, promoted and paused rollouts. */
  notifyWebhook: z.url().optional(),
  /** Used when a Prometheus metric names no address. */
  prometheusAddress: z.url().optional(),
  /** A metric provider's answer larger than this is an Error measurement. */
  maxProviderResponseBytes: z.coerce.number().int().min(1024).max(1024 ** 3),
  /** Measurements in flight to one backend (scheme, host and port); more wait in that backend's own queue. */
  maxMeasurementsPerBackend: z.coerce.number().int().min(1).max(1024),
  /** Measurements in flight in all. */
  maxMeasurementsInFlight: z.coerce.number().int().min(1).max(65_536),
  /** Write-back to Git after an abort for Rollouts and namespaces that do not say: `on` opts every one in. */
  writeBack: z.enum(['off', 'on']),
  /** The Secret (in each Rollout's namespace) with Git credentials, when neither the Rollout nor its namespace names one. */
  writeBackSecret: z.string().min(1).optional(),
  /** Where Argo CD's Applications live, for a tracking id that names no namespace. */
  argocdNamespace: z.string().min(1),
  /** The largest answer a Git server may send one write-back (the clone's pack): isomorphic-git holds it in memory several times over. */
  writeBackMaxBytes: z.coerce.number().int().min(64 * 1024).max(1024 ** 3),
  /** Seconds a write-back may take, every request to the Git server included. */
  writeBackTimeoutSeconds: z.coerce.number().positive().max(3600),
}).superRefine((value, ctx) => {
  if (value.shards > 1 && value.leaderElect) {
    ctx.addIssue({ code: 'custom', path: ['shards'], message: '--shards above 1 replaces --leader-elect: every replica reconciles its own shards; pass one or the other' });
  }
  // The holder must stop acting before anyone may take over, and must get more than one try before it does.
  if (!(value.leaseRetryPeriodSeconds < value.leaseRenewDeadlineSeconds && value.leaseRenewDeadlineSeconds < value.leaseDurationSeconds)) {
    ctx.addIssue({ code: 'custom', path: ['leaseRenewDeadlineSeconds'], message: 'needs --lease-retry-period < --lease-renew-deadline < --lease-duration' });
  }
});
export type ControllerConfig = z.infer<typeof ControllerConfig>;

export const USAGE = `usage: fledge-controller [flags]
  --kubeconfig PATH     kubeconfig to use (default: KUBECONFIG, then in-cluster)        env FLEDGE_KUBECONFIG
  --namespaces A,B      namespaces to watch (default: all)                             env FLEDGE_NAMESPACES
  --concurrency N       Rollouts reconciled in parallel (default 10)                   env FLEDGE_CONCURRENCY
  --kube-api-qps N      API requests per second, client side (default 40)            env FLEDGE_KUBE_API_QPS
  --kube-api-burst N    requests allowed in a burst (default 80)                       env FLEDGE_KUBE_API_BURST
  --kube-api-timeout S  seconds an API request may go unanswered (default 60)         env FLEDGE_KUBE_API_TIMEOUT
  --log-level LEVEL     debug|info|warn|error (default info)                           env FLEDGE_LOG_LEVEL
  --metrics-port N      port for /metrics (default 8080; 0 picks one)                  env FLEDGE_METRICS_PORT
  --health-port N       port for /healthz and /readyz (default 8081; 0 picks one)      env FLEDGE_HEALTH_PORT
  --bind-address ADDR   address the two ports listen on (default 0.0.0.0)              env FLEDGE_BIND_ADDRESS
  --leader-elect        only the holder of a Lease reconciles (run 2+ replicas)        env FLEDGE_LEADER_ELECT=true
  --leader-election-namespace NS  where the Lease lives (default: POD_NAMESPACE, else default)
  --leader-election-id NAME       the Lease's name (default fledge-controller); with --shards, the shard Leases' prefix
  --shards N                      split Rollouts into N shards, each reconciled by the replica holding its Lease
                                  (default 1: one process, or one leader with --leader-elect)  env FLEDGE_SHARDS
  --lease-duration S              seconds a Lease is valid unrenewed: a dead holder's work moves after about this long
                                  (default 10, whole seconds)                          env FLEDGE_LEASE_DURATION
  --lease-renew-deadline S        a holder that could not renew for this long stops acting (default 7)
                                                                                       env FLEDGE_LEASE_RENEW_DEADLINE
  --lease-retry-period S          how often Leases are renewed and tried (default 2)   env FLEDGE_LEASE_RETRY_PERIOD
  --prometheus-address URL        default Prometheus for analysis                      env FLEDGE_PROMETHEUS_ADDRESS
  --max-provider-response-bytes N a larger metric answer is an Error (default 8388608)  env FLEDGE_MAX_PROVIDER_RESPONSE_BYTES
  --max-measurements-per-backend N  measurements in flight to one backend (default 4)   env FLEDGE_MAX_MEASUREMENTS_PER_BACKEND
  --max-measurements-in-flight N    measurements in flight in all (default 256)         env FLEDGE_MAX_MEASUREMENTS_IN_FLIGHT
  --no-cluster-templates          do not read ClusterAnalysisTemplates (namespaced installs without a ClusterRole)
  --no-config-tracking            do not copy ConfigMaps/Secrets per revision (installs without RBAC for them)
  --notify-webhook URL            Slack-compatible webhook for aborted, promoted, paused   env FLEDGE_NOTIFY_WEBHOOK
  --write-back off|on             Git write-back after an abort where Rollout and namespace are silent (default off)
                                                                                       env FLEDGE_WRITE_BACK
  --write-back-secret NAME        Git credentials Secret when Rollout and namespace name none  env FLEDGE_WRITE_BACK_SECRET
  --argocd-namespace NS           where Argo CD's Applications live (default argocd)  env FLEDGE_ARGOCD_NAMESPACE
  --write-back-max-bytes N        largest repository answer a write-back takes (default 33554432, fits the 512Mi limit)
                                                                                       env FLEDGE_WRITE_BACK_MAX_BYTES
  --write-back-timeout S          seconds a whole write-back may take (default 120)    env FLEDGE_WRITE_BACK_TIMEOUT`;

/** The Lease timing the flags ask for, in milliseconds. */
export function leaseTiming(config: Pick<ControllerConfig, 'leaseDurationSeconds' | 'leaseRenewDeadlineSeconds' | 'leaseRetryPeriodSeconds'>): LeaseTiming {
  return { leaseDurationMs: config.leaseDurationSeconds * 1000, renewDeadlineMs: config.leaseRenewDeadlineSeconds * 1000, retryPeriodMs: config.leaseRetryPeriodSeconds * 1000 };
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): ControllerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      concurrency: { type: 'string' },
      'kube-api-qps': { type: 'string' },
      'kube-api-burst': { type: 'string' },
      'kube-api-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'bind-address': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      shards: { type: 'string' },
      'lease-duration': { type: 'string' },
      'lease-renew-deadline': { type: 'string' },
      'lease-retry-period': { type: 'string' },
      'prometheus-address': { type: 'string' },
      'max-provider-response-bytes': { type: 'string' },
      'max-measurements-per-backend': { type: 'string' },
      'max-measurements-in-flight': { type: 'string' },
      'no-cluster-templates': { type: 'boolean' },
      'no-config-tracking': { type: 'boolean' },
      'notify-webhook': { type: 'string' },
      'write-back': { type: 'string' },
      'write-back-secret': { type: 'string' },
      'argocd-namespace': { type: 'string' },
      'write-back-max-bytes': { type: 'string' },
      'write-back-timeout': { type: 'string' },
    },
    strict: true,
  });
  const namespaces = values.namespaces ?? env.FLEDGE_NAMESPACES ?? '';
  const parsed = ControllerConfig.safeParse({
    kubeconfig: values.kubeconfig ?? env.FLEDGE_KUBECONFIG,
    namespaces: namespaces.split(',').map((n) => n.trim()).filter(Boolean),
    concurrency: values.concurrency ?? env.FLEDGE_CONCURRENCY ?? 10,
    kubeApiQps: values['kube-api-qps'] ?? env.FLEDGE_KUBE_API_QPS ?? 40,
    kubeApiBurst: values['kube-api-burst'] ?? env.FLEDGE_KUBE_API_BURST ?? 80,
    kubeApiTimeoutSeconds: values['kube-api-timeout'] ?? env.FLEDGE_KUBE_API_TIMEOUT ?? 60,
    logLevel: values['log-level'] ?? env.FLEDGE_LOG_LEVEL ?? 'info',
    metricsPort: values['metrics-port'] ?? env.FLEDGE_METRICS_PORT ?? 8080,
    healthPort: values['health-port'] ?? env.FLEDGE_HEALTH_PORT ?? 8081,
    bindAddress: values['bind-address'] ?? env.FLEDGE_BIND_ADDRESS ?? '0.0.0.0',
    leaderElect: values['leader-elect'] ?? env.FLEDGE_LEADER_ELECT === 'true',
    leaderElectionNamespace: values['leader-election-namespace'] ?? env.POD_NAMESPACE ?? 'default',
    leaderElectionId: values['leader-election-id'] ?? 'fledge-controller',
    shards: values.shards ?? env.FLEDGE_SHARDS ?? 1,
    leaseDurationSeconds: values['lease-duration'] ?? env.FLEDGE_LEASE_DURATION ?? LEASE_DEFAULTS.leaseDurationMs / 1000,
    leaseRenewDeadlineSeconds: values['lease-renew-deadline'] ?? env.FLEDGE_LEASE_RENEW_DEADLINE ?? LEASE_DEFAULTS.renewDeadlineMs / 1000,
    leaseRetryPeriodSeconds: values['lease-retry-period'] ?? env.FLEDGE_LEASE_RETRY_PERIOD ?? LEASE_DEFAULTS.retryPeriodMs / 1000,
    prometheusAddress: values['prometheus-address'] ?? env.FLEDGE_PROMETHEUS_ADDRESS,
    maxProviderResponseBytes: values['max-provider-response-bytes'] ?? env.FLEDGE_MAX_PROVIDER_RESPONSE_BYTES ?? DEFAULT_MAX_RESPONSE_BYTES,
    maxMeasurementsPerBackend: values['max-measurements-per-backend'] ?? env.FLEDGE_MAX_MEASUREMENTS_PER_BACKEND ?? IN_FLIGHT_DEFAULTS.perBackend,
    maxMeasurementsInFlight: values['max-measurements-in-flight'] ?? env.FLEDGE_MAX_MEASUREMENTS_IN_FLIGHT ?? IN_FLIGHT_DEFAULTS.total,
    clusterTemplates: values['no-cluster-templates'] !== true,
    configTracking: values['no-config-tracking'] !== true,
    notifyWebhook: values['notify-webhook'] ?? env.FLEDGE_NOTIFY_WEBHOOK,
    writeBack: values['write-back'] ?? env.FLEDGE_WRITE_BACK ?? 'off',
    writeBackSecret: values['write-back-secret'] ?? env.FLEDGE_WRITE_BACK_SECRET,
    argocdNamespace: values['argocd-namespace'] ?? env.FLEDGE_ARGOCD_NAMESPACE ?? 'argocd',
    writeBackMaxBytes: values['write-back-max-bytes'] ?? env.FLEDGE_WRITE_BACK_MAX_BYTES ?? DEFAULT_WRITE_BACK_MAX_BYTES,
    writeBackTimeoutSeconds: values['write-back-timeout'] ?? env.FLEDGE_WRITE_BACK_TIMEOUT ?? DEFAULT_WRITE_BACK_DEADLINE_MS / 1000,
  });
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n${USAGE}`);
  }
  return parsed.data;
}
