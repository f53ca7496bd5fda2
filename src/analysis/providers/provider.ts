import type { AnalysisArg } from '../../api/analysis.js';
import { renderText, renderUrl } from '../query.js';
import type { MetricConditions } from '../condition.js';
import type { MeasurementVerdict } from '../measure.js';
import type { ResolvedMetric } from '../metric-args.js';

/** What a provider knows about the measurement it takes. */
export interface MeasureContext {
  /** startedAt: when the run started measuring (ms), for a provider that looks back over the whole run. */
  run: { name: string; namespace: string; uid: string; startedAt?: number };
  metric: ResolvedMetric;
  /**
   * Which measurement of the metric this is, counted from 0 over every one taken (Errors too). It comes from
   * the run's status, so after a restart the same measurement has the same index.
   */
  index: number;
  /** Resolved argument values, Secrets included; they never land in the run. */
  args: Record<string, string>;
  conditions: MetricConditions;
}

/**
 * Where a measurement stands: finished with a verdict, or still under way. `metadata` is stored in the run's
 * status (`inProgress`) and given back to `resume` and `terminate`, so it must be all a provider needs to find
 * the measurement again, in another process too.
 */
export type MeasurementProgress = { phase: 'Running'; metadata: Record<string, string> } | { phase: 'Done'; verdict: MeasurementVerdict };

/**
 * One kind of metric provider. `run` starts a measurement; one that cannot finish within a reconcile returns
 * Running, and the reconciler calls `resume` on later reconciles until it is Done. `terminate` stops one the
 * run no longer needs. None of them may hold a worker longer than the provider's own timeout.
 */
export interface MeasurementProvider {
  /**
   * Where a measurement of `context` goes when that is a third party (a Prometheus, a web endpoint): the reconciler
   * then never awaits it, and limits calls per backend. Undefined for a provider that only talks to the apiserver.
   */
  backend?(context: MeasureContext): string | undefined;
  run(context: MeasureContext): Promise<MeasurementProgress>;
  resume(context: MeasureContext, metadata: Record<string, string>): Promise<MeasurementProgress>;
  terminate(context: MeasureContext, metadata: Record<string, string>): Promise<void>;
}

/**
 * A provider that answers within one request (Prometheus, web). It never returns Running; if a run's status says
 * one of its measurements is under way anyway, the request is simply made again.
 */
export function requestResponse(measure: (context: MeasureContext) => Promise<MeasurementVerdict>, backend: (context: MeasureContext) => string | undefined): MeasurementProvider {
  const run = async (context: MeasureContext): Promise<MeasurementProgress> => ({ phase: 'Done', verdict: await measure(context) });
  return { backend, run, resume: run, terminate: async () => {} };
}

/** A Prometheus or web request without a `timeout` gives up after this long. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Reads one key of a Secret in the run's namespace when measuring; throws with a message fit for a measurement. */
export type SecretReader = (ref: { name: string; key: string }, namespace: string) => Promise<string>;

export const renderHeaders = (headers: Array<{ key: string; value: string }> | undefined, args: Record<string, string>): Record<string, string> =>
  Object.fromEntries((headers ?? []).map((header) => [header.key, renderText(header.value, args)]));

/** Argument values, Secrets read at measuring time so they never land in the run's spec or status. */
export async function argumentValues(args: readonly AnalysisArg[] | undefined, namespace: string, readSecret: SecretReader): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const arg of args ?? []) {
    if (arg.value !== undefined) values[arg.name] = arg.value;
    else if (arg.valueFrom !== undefined) values[arg.name] = await readSecret(arg.valueFrom.secretKeyRef, namespace);
  }
  return values;
}

/** The origin a measurement's URL names; undefined when it cannot be rendered or parsed (the measurement then fails at once, asking no one). */
export function backendOf(address: string | undefined, args: Record<string, string>): string | undefined {
  if (address === undefined) return undefined;
  try {
    return new URL(renderUrl(address, args)).origin;
  } catch {
    return undefined;
  }
}
