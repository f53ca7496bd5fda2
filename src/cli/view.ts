import type * as k8s from '@kubernetes/client-node';
import type { DeclaredRollout } from '../api/rollout.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_POD_TEMPLATE_HASH } from '../rollout/labels.js';

export type RevisionRole = 'stable' | 'canary' | 'old';

export interface RevisionView {
  number: number;
  hash: string;
  role: RevisionRole;
  /** Both roles when the stable revision is also the current one. */
  current: boolean;
  replicaSet: string;
  desired: number;
  ready: number;
  available: number;
  /** RFC 3339; set while a scale-down delay runs. */
  scaleDownAt?: string;
  images: string[];
  pods: { total: number; ready: number };
}

export type MeasurementMark = 'Successful' | 'Failed' | 'Inconclusive' | 'Error' | 'Running' | 'Pending';

export interface MetricView {
  name: string;
  phase: string;
  marks: MeasurementMark[];
  lastValue?: string;
}

export interface AnalysisRunView {
  name: string;
  phase: string;
  kind: 'step' | 'background' | 'other';
  message?: string;
  metrics: MetricView[];
}

export interface RolloutView {
  name: string;
  namespace: string;
  phase: string;
  message: string;
  stepsCompleted: number;
  stepCount: number;
  desiredWeight: number;
  actualWeight: number;
  /** The trafficRouting router (`gatewayAPI`, ...), or undefined when the pod ratio is the split. */
  router?: string;
  /** Why the router has not got the split in effect, from the TrafficRouting condition. */
  trafficPending?: string;
  /** The last write-back to Git after an abort: its outcome and what it did. */
  writeBack?: { outcome: string; message: string };
  stableRevision?: string;
  currentRevision?: string;
  aborted: boolean;
  paused: boolean;
  replicas: { desired: number; current: number; updated: number; ready: number; available: number };
  revisions: RevisionView[];
  analysisRuns: AnalysisRunView[];
}

/** An AnalysisRun as the plugin reads it: loosely, so an older or newer controller's runs still render. */
export interface AnalysisRunObject {
  metadata?: { name?: string; creationTimestamp?: string | Date };
  status?: {
    phase?: string;
    message?: string;
    metricResults?: Array<{ name?: string; phase?: string; measurements?: Array<{ phase?: string; value?: string }> }>;
  };
}

const MARKS = new Set<string>(['Successful', 'Failed', 'Inconclusive', 'Error', 'Running', 'Pending']);

function imagesOf(template: k8s.V1PodTemplateSpec | undefined): string[] {
  return (template?.spec?.containers ?? []).map((container) => container.image ?? '');
}

function isReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True') ?? false;
}

function routerView(rollout: DeclaredRollout): { router?: string; trafficPending?: string } {
  const routing = rollout.spec.strategy.canary.trafficRouting;
  if (routing === undefined) return {};
  const router = Object.keys(routing).find((key) => key !== 'managedRoutes') ?? 'router';
  const condition = rollout.status?.conditions?.find((candidate) => candidate.type === 'TrafficRouting');
  return { router, ...(condition !== undefined && condition.status !== 'True' && { trafficPending: condition.message }) };
}

/** Everything `get rollout` shows, from the objects the plugin read; pure, so frames can be tested. */
export function buildRolloutView(
  rollout: DeclaredRollout,
  replicaSets: k8s.V1ReplicaSet[],
  pods: k8s.V1Pod[],
  analysisRuns: AnalysisRunObject[],
): RolloutView {
  const status = rollout.status ?? {};
  const stable = status.stableRevision;
  const current = status.currentRevision;
  const revisions = replicaSets
    .map((rs): RevisionView => {
      const hash = rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '';
      const own = pods.filter((pod) => pod.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === hash && pod.metadata?.deletionTimestamp === undefined);
      const scaleDownAt = rs.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
      return {
        number: Number(rs.metadata?.annotations?.[ANNOTATION_REVISION] ?? 0),
        hash,
        role: hash === stable ? 'stable' : hash === current ? 'canary' : 'old',
        current: hash === current,
        replicaSet: rs.metadata?.name ?? '',
        desired: rs.spec?.replicas ?? 0,
        ready: rs.status?.readyReplicas ?? 0,
        available: rs.status?.availableReplicas ?? 0,
        ...(scaleDownAt !== undefined && { scaleDownAt }),
        images: imagesOf(rs.spec?.template),
        pods: { total: own.length, ready: own.filter(isReady).length },
      };
    })
    .sort((a, b) => b.number - a.number);
  const prefix = `${rollout.metadata.name ?? ''}-`;
  const runs = analysisRuns
    .filter((run) => (run.metadata?.name ?? '').startsWith(prefix))
    .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))
    .map((run): AnalysisRunView => {
      const name = run.metadata?.name ?? '';
      return {
        name,
        phase: run.status?.phase ?? 'Pending',
        kind: name === status.stepAnalysisRun ? 'step' : name === status.backgroundAnalysisRun ? 'background' : 'other',
        ...(run.status?.message !== undefined && { message: run.status.message }),
        metrics: (run.status?.metricResults ?? []).map((metric) => {
          const measurements = metric.measurements ?? [];
          const last = measurements.findLast((m) => m.value !== undefined)?.value;
          return {
            name: metric.name ?? '',
            phase: metric.phase ?? 'Pending',
            marks: measurements.map((m) => (MARKS.has(m.phase ?? '') ? (m.phase as MeasurementMark) : 'Pending')),
            ...(last !== undefined && { lastValue: last }),
          };
        }),
      };
    });
  return {
    name: rollout.metadata.name ?? '',
    namespace: rollout.metadata.namespace ?? '',
    phase: status.phase ?? 'Progressing',
    message: status.message ?? '',
    stepsCompleted: status.currentStepIndex ?? 0,
    stepCount: rollout.spec.strategy.canary.steps?.length ?? 0,
    desiredWeight: status.canaryWeight ?? 0,
    actualWeight: status.actualWeight ?? 0,
    ...routerView(rollout),
    ...(status.writeBack !== undefined && { writeBack: { outcome: status.writeBack.outcome, message: status.writeBack.message ?? '' } }),
    ...(stable !== undefined && { stableRevision: stable }),
    ...(current !== undefined && { currentRevision: current }),
    aborted: status.abort === true,
    paused: rollout.spec.paused === true || status.phase === 'Paused',
    replicas: {
      desired: rollout.spec.replicas ?? 1,
      current: status.replicas ?? 0,
      updated: status.updatedReplicas ?? 0,
      ready: status.readyReplicas ?? 0,
      available: status.availableReplicas ?? 0,
    },
    revisions,
    analysisRuns: runs,
  };
}
