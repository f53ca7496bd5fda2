import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { BatchApi } from '../../kube/api.js';
import type { JobProvider } from '../../api/analysis.js';
import { API_VERSION } from '../../api/rollout.js';
import { apiErrorMessage, isAlreadyExists, isNotFound } from '../../kube/patch.js';
import { renderText } from '../query.js';
import type { MeasureContext, MeasurementProgress, MeasurementProvider } from './provider.js';

/** On every analysis Job: the uid of its AnalysisRun. The controller watches only Jobs with this label. */
export const LABEL_ANALYSIS_RUN_UID = 'fledge.dev/analysis-run-uid';

/** The Jobs API the provider uses: create, read and delete in one namespace. */
export type JobsApi = Pick<BatchApi, 'createNamespacedJob' | 'readNamespacedJob' | 'deleteNamespacedJob'>;

/** A Job name is also a label value (batch.kubernetes.io/job-name), so at most 63 characters. */
const MAX_JOB_NAME = 63;

/**
 * The Job of one measurement: `<run>-<metric>-<index>`, or, when that is too long or not a valid name, a prefix of it
 * with a hash of the whole. Deterministic, so a controller that restarts between creating the Job and recording it
 * finds the Job it created instead of starting a second one.
 */
export function jobName(runName: string, metricName: string, index: number): string {
  const plain = `${runName}-${metricName}-${index}`;
  if (plain.length <= MAX_JOB_NAME && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return plain;
  const hash = createHash('sha256').update(`${runName}/${metricName}/${index}`).digest('hex').slice(0, 10);
  const prefix = plain.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, MAX_JOB_NAME - hash.length - 1).replace(/^-+|-+$/g, '');
  return prefix === '' ? hash : `${prefix}-${hash}`;
}

/** `{{args.name}}` in every string of the spec, as Argo allows. */
function renderStrings(value: unknown, args: Record<string, string>): unknown {
  if (typeof value === 'string') return renderText(value, args);
  if (Array.isArray(value)) return value.map((item) => renderStrings(item, args));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderStrings(item, args)]));
  return value;
}

/** The Job a measurement creates: the template's metadata and spec, labelled for the watch, owned by the run. */
export function buildJob(spec: JobProvider['job'], context: MeasureContext): k8s.V1Job {
  const { run } = context;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(run.name, context.metric.name, context.index),
      namespace: run.namespace,
      labels: { ...spec.metadata?.labels, [LABEL_ANALYSIS_RUN_UID]: run.uid },
      ...(spec.metadata?.annotations !== undefined && { annotations: spec.metadata.annotations }),
      // Garbage collection deletes the Job with its run.
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'AnalysisRun', name: run.name, uid: run.uid, controller: true }],
    },
    spec: renderStrings(spec.spec, context.args) as k8s.V1JobSpec,
  };
}

/** A Job's verdict from its conditions: Complete is Successful, Failed is Failed, anything else is still running. */
export function jobProgress(job: k8s.V1Job): MeasurementProgress {
  const name = job.metadata?.name ?? '';
  const holds = (type: string): k8s.V1JobCondition | undefined => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const failed = holds('Failed');
  if (failed !== undefined) {
    const why = [failed.reason, failed.message].filter((part) => part !== undefined && part !== '').join(': ');
    return { phase: 'Done', verdict: { phase: 'Failed', message: `Job ${name} failed${why ? `: ${why}` : ''}` } };
  }
  if (holds('Complete') !== undefined) return { phase: 'Done', verdict: { phase: 'Successful', message: `Job ${name} completed` } };
  return { phase: 'Running', metadata: { job: name } };
}

const ownedBy = (job: k8s.V1Job, uid: string): boolean => job.metadata?.ownerReferences?.some((ref) => ref.uid === uid) === true;

/** Argo's job provider: each measurement is a Job, resumed on later reconciles until it completes or fails. */
export function jobProvider(jobs: JobsApi, spec: JobProvider['job']): MeasurementProvider {
  const read = async (context: MeasureContext, name: string): Promise<MeasurementProgress> => {
    let job: k8s.V1Job;
    try {
      job = await jobs.readNamespacedJob({ name, namespace: context.run.namespace });
    } catch (err) {
      if (isNotFound(err)) return { phase: 'Done', verdict: { phase: 'Error', message: `Job ${name} was deleted before it finished` } };
      throw err;
    }
    // A run deleted and created again under its name can meet the old run's Job before garbage collection does.
    if (!ownedBy(job, context.run.uid)) return { phase: 'Done', verdict: { phase: 'Error', message: `Job ${name} exists and belongs to another AnalysisRun` } };
    return jobProgress(job);
  };
  return {
    async run(context) {
      const job = buildJob(spec, context);
      const name = job.metadata?.name ?? '';
      try {
        return jobProgress(await jobs.createNamespacedJob({ namespace: context.run.namespace, body: job }));
      } catch (err) {
        if (isAlreadyExists(err)) return read(context, name);
        return { phase: 'Done', verdict: { phase: 'Error', message: `creating Job ${name}: ${apiErrorMessage(err)}` } };
      }
    },
    async resume(context, metadata) {
      return read(context, metadata.job ?? jobName(context.run.name, context.metric.name, context.index));
    },
    async terminate(context, metadata) {
      const name = metadata.job ?? jobName(context.run.name, context.metric.name, context.index);
      try {
        // Background: the Job goes at once, its Pods after it.
        await jobs.deleteNamespacedJob({ name, namespace: context.run.namespace, propagationPolicy: 'Background' });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
  };
}
