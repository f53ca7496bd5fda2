import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { AnalysisRun, type SecretKeyRef } from '../api/analysis.js';
import { parseDuration } from '../api/duration.js';
import { API_VERSION, GROUP, VERSION } from '../api/rollout.js';
import { StatusWrites } from '../kube/cache-expectations.js';
import type { ResilientInformer } from '../kube/informer.js';
import { isConflict, writeStatus } from '../kube/patch.js';
import type { WorkResult } from '../kube/work-queue.js';
import type { EventRecorder } from '../observability/events.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import { judge, type MeasurementVerdict } from './measure.js';
import type { ResolvedMetric } from './metric-args.js';
import { evaluateRun, recordMeasurement, RUN_DEFAULTS } from './plan.js';
import { queryPrometheus } from './providers/prometheus.js';
import type { ProviderResult } from './providers/result.js';
import { queryWeb } from './providers/web.js';
import { ArgumentError, renderPromQL, renderText, renderUrl } from './query.js';
import { isTerminal } from './run-machine.js';

const DEFAULT_TIMEOUT_MS = 10_000;

export interface AnalysisRunReconcilerDeps {
  runs: ResilientInformer<k8s.KubernetesObject>;
  custom: k8s.CustomObjectsApi;
  core: k8s.CoreV1Api;
  events: EventRecorder;
  logger: Logger;
  metrics?: ControllerMetrics;
  /** --prometheus-address: for metrics that name none. */
  prometheusAddress: string | undefined;
  /** --max-provider-response-bytes */
  maxResponseBytes: number;
  now: () => number;
}

class SecretError extends Error {}

/** Measures AnalysisRuns: observe the run, decide what is due (pure), measure, record, report. */
export class AnalysisRunReconciler {
  private readonly statusWrites = new StatusWrites();

  constructor(private readonly deps: AnalysisRunReconcilerDeps) {}

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.runs.get(name, namespace);
    if (!raw) {
      this.statusWrites.forget(key);
      return;
    }
    const log = this.deps.logger.with({ namespace, analysisRun: name, reconcileId: randomBytes(4).toString('hex') });
    const parsed = AnalysisRun.safeParse(raw);
    if (!parsed.success) {
      log.warn('invalid AnalysisRun', { problem: parsed.error.issues[0]?.message });
      return;
    }
    const run = parsed.data;
    // The cache can lag behind our own last write; measuring from it would repeat a query whose result
    // the resourceVersion precondition then throws away. Wait for the cache instead. (Checked before the
    // terminal phase, so that our last write's record goes once the cache shows it.)
    if (this.statusWrites.isStale(key, run.metadata.resourceVersion)) return { requeueAfterMs: 100 };
    if (isTerminal(run.status?.phase ?? 'Pending')) return;

    const first = evaluateRun(run, run.status, this.deps.now());
    let status = first.status;
    const retention = run.spec.measurementRetention ?? RUN_DEFAULTS.measurementRetention;
    const args = await this.resolveArgs(run, namespace).catch((err: unknown) => err as Error);
    // Metrics are independent: measure the due ones together, so one slow provider delays none of the others.
    const measured = await Promise.all(
      first.due.map(async (metric) => {
        const startedAt = this.deps.now();
        const verdict =
          args instanceof Error
            ? { phase: 'Error' as const, message: args.message }
            : await this.measure(metric, args, namespace, first.conditions.get(metric.name) ?? {});
        return { metric, verdict, startedAt, finishedAt: this.deps.now() };
      }),
    );
    for (const { metric, verdict, startedAt, finishedAt } of measured) {
      status = recordMeasurement(status, metric, verdict, startedAt, finishedAt, retention);
      this.deps.metrics?.analysisMeasurements.inc({ namespace, metric: metric.name, phase: verdict.phase });
      log.info('measured', { metric: metric.name, phase: verdict.phase, value: verdict.value, message: verdict.message });
    }
    const settled = evaluateRun(run, status, this.deps.now());
    try {
      if (await writeStatus(this.deps.custom, GROUP, VERSION, 'analysisruns', run, settled.status)) this.statusWrites.wrote(key, run.metadata.resourceVersion);
    } catch (err) {
      if (isConflict(err)) return { retry: true };
      throw err;
    }
    const before = run.status?.phase ?? 'Pending';
    const after = settled.status.phase ?? 'Pending';
    if (after !== before && isTerminal(after)) this.announce(run, after, settled.status.message ?? '');
    return settled.requeueAfterMs !== undefined ? { requeueAfterMs: settled.requeueAfterMs } : undefined;
  }

  private announce(run: AnalysisRun, phase: string, message: string): void {
    this.deps.events.record(
      { apiVersion: API_VERSION, kind: 'AnalysisRun', name: run.metadata.name ?? '', namespace: run.metadata.namespace ?? 'default', uid: run.metadata.uid },
      phase === 'Successful' ? 'Normal' : 'Warning',
      `AnalysisRun${phase}`,
      message,
    );
  }

  private async readSecret(ref: SecretKeyRef, namespace: string): Promise<string> {
    try {
      const secret = await this.deps.core.readNamespacedSecret({ name: ref.name, namespace });
      const encoded = secret.data?.[ref.key];
      if (encoded === undefined) throw new SecretError(`Secret ${ref.name} has no key ${ref.key}`);
      return Buffer.from(encoded, 'base64').toString('utf8');
    } catch (err) {
      if (err instanceof SecretError) throw err;
      throw new SecretError(`reading Secret ${ref.name}: ${(err as { code?: number }).code === 404 ? 'not found' : String(err)}`);
    }
  }

  /** Argument values, Secrets read at measuring time so they never land in the run's spec or status. */
  private async resolveArgs(run: AnalysisRun, namespace: string): Promise<Record<string, string>> {
    const values: Record<string, string> = {};
    for (const arg of run.spec.args ?? []) {
      if (arg.value !== undefined) values[arg.name] = arg.value;
      else if (arg.valueFrom !== undefined) values[arg.name] = await this.readSecret(arg.valueFrom.secretKeyRef, namespace);
    }
    return values;
  }

  private async measure(metric: ResolvedMetric, args: Record<string, string>, namespace: string, conditions: Parameters<typeof judge>[1]): Promise<MeasurementVerdict> {
    let result: ProviderResult;
    try {
      result = await this.query(metric, args, namespace);
    } catch (err) {
      if (err instanceof ArgumentError || err instanceof SecretError) result = { kind: 'error', message: err.message };
      else throw err;
    }
    return judge(result, conditions, metric.noDataPolicy);
  }

  private async query(metric: ResolvedMetric, args: Record<string, string>, namespace: string): Promise<ProviderResult> {
    const provider = metric.provider;
    const headersOf = (headers: Array<{ key: string; value: string }> | undefined): Record<string, string> =>
      Object.fromEntries((headers ?? []).map((header) => [header.key, renderText(header.value, args)]));
    if ('prometheus' in provider) {
      const spec = provider.prometheus;
      const address = spec.address ?? this.deps.prometheusAddress;
      if (address === undefined) return { kind: 'error', message: 'no Prometheus address: set provider.prometheus.address or the controller flag --prometheus-address' };
      const auth = spec.authentication;
      return queryPrometheus({
        address: renderUrl(address, args),
        query: renderPromQL(spec.query, args),
        timeoutMs: spec.timeout !== undefined ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
        headers: headersOf(spec.headers),
        maxResponseBytes: this.deps.maxResponseBytes,
        ...(auth !== undefined && {
          auth: {
            ...(auth.bearerTokenSecretRef !== undefined && { bearerToken: await this.readSecret(auth.bearerTokenSecretRef, namespace) }),
            ...(auth.basic !== undefined && {
              basic: { username: await this.readSecret(auth.basic.usernameSecretRef, namespace), password: await this.readSecret(auth.basic.passwordSecretRef, namespace) },
            }),
          },
        }),
      });
    }
    const spec = provider.web;
    return queryWeb({
      url: renderUrl(spec.url, args),
      method: spec.method ?? 'GET',
      headers: headersOf(spec.headers),
      ...(spec.body !== undefined && { body: renderText(spec.body, args) }),
      timeoutMs: spec.timeout !== undefined ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS,
      jsonPath: spec.jsonPath,
      insecure: spec.insecure === true,
      maxResponseBytes: this.deps.maxResponseBytes,
    });
  }
}
