import type * as k8s from '@kubernetes/client-node';
import type { DeclaredRollout, RolloutStatus } from '../api/rollout.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_ANALYSIS_KIND, LABEL_EXPERIMENT_TEMPLATE, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../api/labels.js';
import { stepOf } from './status.js';

/**
 * `baseline`: the stable template run beside the canary for the judge (spec.strategy.canary.baseline).
 * `experiment`: a template of the experiment step the canary is at.
 */
export type RevisionRole = 'stable' | 'canary' | 'baseline' | 'experiment' | 'old';

export interface RevisionView {
  number: number;
  hash: string;
  role: RevisionRole;
  /** Both roles when the stable revision is also the current one. */
  current: boolean;
  /** An experiment's ReplicaSet: the name of its template in the step. */
  template?: string;
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

/** One measurement for a plot: when it finished, its number (undefined when the value is absent or not one number), its outcome. */
export interface MeasurementPoint {
  time: string;
  value?: number;
  phase: MeasurementMark;
}

export interface MetricView {
  name: string;
  phase: string;
  marks: MeasurementMark[];
  lastValue?: string;
  points: MeasurementPoint[];
  successCondition?: string;
  failureCondition?: string;
  /** A judge metric's latest verdict: its class, the one line that explains it, and both roles' samples. */
  judgement?: { class: string; explanation: string; baseline?: JudgedSide; canary?: JudgedSide };
}

/** One role's side of a judgement, as the run's status gives it (see Judgement in src/api/analysis.ts). */
export interface JudgedSide {
  n?: number;
  min?: number;
  p25?: number;
  median?: number;
  p75?: number;
  p90?: number;
  max?: number;
  mean?: number;
  errors?: number;
  requests?: number;
}

export interface AnalysisRunView {
  name: string;
  phase: string;
  kind: 'step' | 'background' | 'experiment' | 'other';
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
  metadata?: { name?: string; creationTimestamp?: string | Date; labels?: Record<string, string> };
  spec?: { metrics?: Array<{ name?: string; successCondition?: string; failureCondition?: string }> };
  status?: {
    phase?: string;
    message?: string;
    metricResults?: Array<{
      name?: string;
      phase?: string;
      measurements?: Array<{ phase?: string; value?: string; finishedAt?: string }>;
      judgement?: { class?: string; explanation?: string; baseline?: JudgedSide; canary?: JudgedSide };
    }>;
  };
}

const MARKS = new Set<string>(['Successful', 'Failed', 'Inconclusive', 'Error', 'Running', 'Pending']);

const markOf = (phase: string | undefined): MeasurementMark => (MARKS.has(phase ?? '') ? (phase as MeasurementMark) : 'Pending');

/** A value as a plot reads it: a number, or the first of `[n1, n2]` (the first series, as Argo's `result[0]`). */
export function plotValue(value: string | undefined): number | undefined {
  const text = value?.trim().replace(/^\[\s*([^,\]]*).*$/, '$1').trim();
  if (text === undefined || text === '') return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
}

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

function roleOf(label: string | undefined, hash: string, status: RolloutStatus): RevisionRole {
  if (label === 'baseline' || label === 'experiment') return label;
  return hash === status.stableRevision ? 'stable' : hash === status.currentRevision ? 'canary' : 'old';
}

function revisionView(rs: k8s.V1ReplicaSet, pods: k8s.V1Pod[], status: RolloutStatus): RevisionView {
  const hash = rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] ?? '';
  const own = pods.filter((pod) => pod.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === hash && pod.metadata?.deletionTimestamp === undefined);
  const scaleDownAt = rs.metadata?.annotations?.[ANNOTATION_SCALE_DOWN_AT];
  const labels = rs.metadata?.labels ?? {};
  const template = labels[LABEL_EXPERIMENT_TEMPLATE];
  return {
    number: Number(rs.metadata?.annotations?.[ANNOTATION_REVISION] ?? 0),
    hash,
    role: roleOf(labels[LABEL_ROLE], hash, status),
    current: hash === status.currentRevision,
    ...(template !== undefined && { template }),
    replicaSet: rs.metadata?.name ?? '',
    desired: rs.spec?.replicas ?? 0,
    ready: rs.status?.readyReplicas ?? 0,
    available: rs.status?.availableReplicas ?? 0,
    ...(scaleDownAt !== undefined && { scaleDownAt }),
    images: imagesOf(rs.spec?.template),
    pods: { total: own.length, ready: own.filter(isReady).length },
  };
}

type MetricResult = NonNullable<NonNullable<AnalysisRunObject['status']>['metricResults']>[number];
type MetricSpec = NonNullable<NonNullable<AnalysisRunObject['spec']>['metrics']>[number];

function metricView(metric: MetricResult, spec: MetricSpec | undefined): MetricView {
  const measurements = metric.measurements ?? [];
  const last = measurements.findLast((m) => m.value !== undefined)?.value;
  return {
    name: metric.name ?? '',
    phase: metric.phase ?? 'Pending',
    marks: measurements.map((m) => markOf(m.phase)),
    ...(last !== undefined && { lastValue: last }),
    points: measurements.map((m) => {
      const value = plotValue(m.value);
      return { time: m.finishedAt ?? '', ...(value !== undefined && { value }), phase: markOf(m.phase) };
    }),
    ...(spec?.successCondition !== undefined && { successCondition: spec.successCondition }),
    ...(spec?.failureCondition !== undefined && { failureCondition: spec.failureCondition }),
    ...(metric.judgement?.explanation !== undefined && {
      judgement: {
        class: metric.judgement.class ?? '',
        explanation: metric.judgement.explanation,
        ...(metric.judgement.baseline !== undefined && { baseline: metric.judgement.baseline }),
        ...(metric.judgement.canary !== undefined && { canary: metric.judgement.canary }),
      },
    }),
  };
}

function analysisRunView(run: AnalysisRunObject, status: RolloutStatus): AnalysisRunView {
  const name = run.metadata?.name ?? '';
  const specs = new Map((run.spec?.metrics ?? []).map((metric) => [metric.name, metric]));
  return {
    name,
    phase: run.status?.phase ?? 'Pending',
    kind: name === status.stepAnalysisRun ? 'step' : name === status.backgroundAnalysisRun ? 'background' : run.metadata?.labels?.[LABEL_ANALYSIS_KIND] === 'experiment' ? 'experiment' : 'other',
    ...(run.status?.message !== undefined && { message: run.status.message }),
    metrics: (run.status?.metricResults ?? []).map((metric) => metricView(metric, specs.get(metric.name))),
  };
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
  const revisions = replicaSets.map((rs) => revisionView(rs, pods, status)).sort((a, b) => b.number - a.number);
  const prefix = `${rollout.metadata.name ?? ''}-`;
  const runs = analysisRuns
    .filter((run) => (run.metadata?.name ?? '').startsWith(prefix))
    .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))
    .map((run) => analysisRunView(run, status));
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

/** A Rollout's line in `list rollouts` and in the dashboard's list. */
export interface RolloutRow {
  namespace: string;
  name: string;
  phase: string;
  aborted: boolean;
  step: string;
  weight: number;
  available: string;
  message: string;
}

export function rolloutRow(rollout: DeclaredRollout): RolloutRow {
  return {
    namespace: rollout.metadata.namespace ?? '',
    name: rollout.metadata.name ?? '',
    phase: rollout.status?.phase ?? 'Progressing',
    aborted: rollout.status?.abort === true,
    step: stepOf(rollout),
    weight: rollout.status?.actualWeight ?? 0,
    available: `${rollout.status?.availableReplicas ?? 0}/${rollout.spec.replicas ?? 1}`,
    message: rollout.status?.message ?? '',
  };
}
