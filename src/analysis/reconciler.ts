import { randomBytes } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { CoreApi, CustomApi } from '../kube/api.js';
import { AnalysisRun, type AnalysisRunStatus, type MetricResult, type SecretKeyRef } from '../api/analysis.js';
import { API_VERSION, GROUP, VERSION } from '../api/rollout.js';
import { StatusWrites } from '../kube/cache-expectations.js';
import type { ResilientInformer } from '../kube/informer.js';
import { isConflict, writeStatus } from '../kube/patch.js';
import type { WorkResult } from '../kube/work-queue.js';
import type { EventRecorder } from '../kube/events.js';
import type { Logger } from '../observability/logger.js';
import type { ControllerMetrics } from '../observability/metrics.js';
import type { ResolvedMetric } from './metric-args.js';
import { IN_FLIGHT_DEFAULTS, MeasurementScheduler, type InFlightLimits, type InFlightObserver } from './in-flight.js';
import { evaluateRun, recordInProgress, recordMeasurement, RUN_DEFAULTS, type AbandonedMeasurement, type RunEvaluation } from './plan.js';
import type { JobsApi } from './providers/job.js';
import { argumentValues, type MeasureContext, type MeasurementProgress } from './providers/provider.js';
import { providerFor, type ProviderDeps } from './providers/registry.js';
import { ArgumentError } from './query.js';
import { isTerminal } from './run-machine.js';

export interface AnalysisRunReconcilerDeps {
  runs: ResilientInformer<k8s.KubernetesObject>;
  custom: CustomApi;
  core: CoreApi;
  /** For the job provider's Jobs. */
  jobs: JobsApi;
  events: EventRecorder;
  logger: Logger;
  metrics?: ControllerMetrics;
  /** --prometheus-address: for metrics that name none. */
  prometheusAddress: string | undefined;
  /** --max-provider-response-bytes */
  maxResponseBytes: number;
  /** Enqueues a run again: when one of its measurements has been answered. */
  requeue: (key: string) => void;
  /** --max-measurements-per-backend and --max-measurements-in-flight */
  inFlight?: InFlightLimits;
  /** /metrics per backend: in flight, queued, and how each measurement ended. */
  inFlightObserver?: InFlightObserver;
  now: () => number;
}

class SecretError extends Error {}

/** Resolved argument values, or why they could not be resolved (each measurement then records an Error). */
type MeasureArgs = Record<string, string> | Error;
type ContextOf = (metric: ResolvedMetric, index: number) => MeasureContext;

/** What one reconcile took of a metric: a verdict or a measurement still under way. */
interface Measured {
  metric: ResolvedMetric;
  startedAt: number;
  /** When a measurement taken in the background answered; one taken here finishes when it is recorded. */
  finishedAt?: number;
  progress: MeasurementProgress;
}

/** The context each measurement of the run `namespace/name` is taken in. */
function measureContexts(run: { name: string; namespace: string; uid: string; startedAt?: number }, conditions: RunEvaluation['conditions'], args: MeasureArgs): ContextOf {
  return (metric, index) => ({
    run,
    metric,
    index,
    args: args instanceof Error ? {} : args,
    conditions: conditions.get(metric.name) ?? {},
  });
}

/** Measures AnalysisRuns: observe the run, decide what is due (pure), measure, record, report. */
export class AnalysisRunReconciler {
  private readonly statusWrites = new StatusWrites();
  private readonly providerDeps: ProviderDeps;
  private readonly measurements: MeasurementScheduler;

  constructor(private readonly deps: AnalysisRunReconcilerDeps) {
    this.measurements = new MeasurementScheduler(deps.requeue, deps.inFlight ?? IN_FLIGHT_DEFAULTS, deps.now, deps.inFlightObserver);
    this.providerDeps = {
      defaultAddress: deps.prometheusAddress,
      maxResponseBytes: deps.maxResponseBytes,
      readSecret: (ref, namespace) => this.readSecret(ref, namespace),
      jobs: deps.jobs,
      now: deps.now,
    };
  }

  /** Measurements asked of a backend whose answer is not recorded yet: each enqueues its run when it comes. */
  outstandingMeasurements(): number {
    return this.measurements.outstanding;
  }

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const raw = this.deps.runs.get(name, namespace);
    if (!raw) {
      this.forget(key);
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
    if (isTerminal(run.status?.phase ?? 'Pending')) {
      this.measurements.forget(key);
      return;
    }

    const first = evaluateRun(run, run.status, this.deps.now());
    const retention = run.spec.measurementRetention ?? RUN_DEFAULTS.measurementRetention;
    const args = first.due.length + first.inProgress.length + first.abandoned.length > 0 ? await argumentValues(run.spec.args, namespace, (ref, ns) => this.readSecret(ref, ns)).catch((err: unknown) => err as Error) : {};
    const resultOf = (metric: ResolvedMetric) => first.status.metricResults?.find((result) => result.name === metric.name);
    const startedAt = Date.parse(first.status.startedAt ?? '');
    const contextOf = measureContexts({ name, namespace, uid: run.metadata.uid ?? '', ...(Number.isFinite(startedAt) && { startedAt }) }, first.conditions, args);
    const nextContext = (metric: ResolvedMetric): MeasureContext => {
      const result = resultOf(metric);
      return contextOf(metric, (result?.count ?? 0) + (result?.error ?? 0));
    };
    const measuring = new Set<string>();
    // Metrics are independent: measure the due ones together, so one slow provider delays none of the others.
    const measured = await Promise.all([
      ...first.due.map((metric) => this.measureDue(key, nextContext(metric), args, measuring)),
      ...first.inProgress.map((metric) => this.resume(resultOf(metric)?.inProgress, nextContext(metric), args)),
    ]);
    const status = this.record(first.status, measured, retention, namespace, log);
    const settled = evaluateRun(run, status, this.deps.now(), measuring);
    // A verdict reached before measuring (the Rollout terminated the run) or by it. Stopped before the status
    // forgets them: a failed stop fails the reconcile, and the retry finds them again.
    await this.stopAbandoned([...first.abandoned, ...settled.abandoned], contextOf, log);
    return this.report(key, run, settled);
  }

  /** Keeps nothing about a run, its measurements in flight included: deleted, or now measured by another replica. */
  forget(key: string): void {
    this.statusWrites.forget(key);
    this.measurements.forget(key);
  }

  /** Takes a due measurement: at once where there is no backend to queue for, otherwise in the background. */
  private async measureDue(key: string, context: MeasureContext, args: MeasureArgs, measuring: Set<string>): Promise<Measured | undefined> {
    const { metric } = context;
    const provider = providerFor(metric.provider, this.providerDeps);
    const backend = provider.backend?.(context);
    if (backend === undefined || args instanceof Error) {
      const startedAt = this.deps.now();
      return { metric, startedAt, progress: await this.step(args, () => provider.run(context)) };
    }
    // A third party's answer is never awaited here: it is asked in the background and taken when it has come.
    const settled = this.measurements.take(`${key}/${metric.name}/${context.index}`);
    if (settled === undefined || settled === 'pending') {
      if (settled === undefined) this.measurements.start(`${key}/${metric.name}/${context.index}`, { runKey: key, backend, namespace: context.run.namespace, call: () => this.step(args, () => provider.run(context)) });
      measuring.add(metric.name);
      return undefined;
    }
    return { metric, startedAt: settled.startedAt, finishedAt: settled.finishedAt, progress: settled.progress };
  }

  /** Looks again at a measurement the status says is under way. */
  private async resume(inProgress: MetricResult['inProgress'], context: MeasureContext, args: MeasureArgs): Promise<Measured> {
    const { metric } = context;
    const metadata = inProgress?.metadata ?? {};
    const startedAt = Date.parse(inProgress?.startedAt ?? '') || this.deps.now();
    return { metric, startedAt, progress: await this.step(args, () => providerFor(metric.provider, this.providerDeps).resume(context, metadata)) };
  }

  /** The status with what was measured: a measurement still under way, or a verdict (counted and logged). */
  private record(status: AnalysisRunStatus, measured: ReadonlyArray<Measured | undefined>, retention: number, namespace: string, log: Logger): AnalysisRunStatus {
    for (const entry of measured) {
      if (entry === undefined) continue;
      const { metric, startedAt, progress } = entry;
      if (progress.phase === 'Running') {
        status = recordInProgress(status, metric, startedAt, progress.metadata);
        continue;
      }
      const verdict = progress.verdict;
      status = recordMeasurement(status, metric, verdict, startedAt, entry.finishedAt ?? this.deps.now(), retention);
      this.deps.metrics?.analysisMeasurements.inc({ namespace, metric: metric.name, phase: verdict.phase });
      log.info('measured', { metric: metric.name, phase: verdict.phase, value: verdict.value, message: verdict.message });
    }
    return status;
  }

  private async stopAbandoned(abandoned: AbandonedMeasurement[], contextOf: ContextOf, log: Logger): Promise<void> {
    await Promise.all(
      abandoned.map(async ({ metric, index, metadata }) => {
        await providerFor(metric.provider, this.providerDeps).terminate(contextOf(metric, index), metadata);
        log.info('stopped a measurement the run no longer needs', { metric: metric.name, ...metadata });
      }),
    );
  }

  /** Writes the status (a conflict retries the reconcile), announces a verdict this reconcile reached, and says when to look again. */
  private async report(key: string, run: AnalysisRun, settled: RunEvaluation): Promise<WorkResult> {
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

  /** One provider call; arguments that cannot be resolved or rendered make an Error measurement, not a failed reconcile. */
  private async step(args: Record<string, string> | Error, call: () => Promise<MeasurementProgress>): Promise<MeasurementProgress> {
    const error = (message: string): MeasurementProgress => ({ phase: 'Done', verdict: { phase: 'Error', message } });
    if (args instanceof Error) return error(args.message);
    try {
      return await call();
    } catch (err) {
      if (err instanceof ArgumentError || err instanceof SecretError) return error(err.message);
      throw err;
    }
  }
}
