import { customResourceDefinition, type CrdDefinition } from './crd.js';
import { AnalysisRunSpec, AnalysisRunStatus, AnalysisTemplateSpec } from './analysis.js';
import { DeclaredRolloutSpec, RolloutStatus } from './rollout.js';

export const ROLLOUT_CRD: CrdDefinition = {
  kind: 'Rollout',
  plural: 'rollouts',
  singular: 'rollout',
  // Argo Rollouts owns `ro`; `fro` reads as "Fledge rollout" and collides with nothing built in.
  shortNames: ['fro'],
  scope: 'Namespaced',
  categories: ['fledge'],
  spec: DeclaredRolloutSpec,
  status: RolloutStatus,
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
  printerColumns: [
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas', description: 'Pods the Rollout asks for' },
    { name: 'Current', type: 'integer', jsonPath: '.status.replicas', description: 'Pods of every revision' },
    { name: 'Up-to-date', type: 'integer', jsonPath: '.status.updatedReplicas', description: 'Pods of the current revision' },
    { name: 'Available', type: 'integer', jsonPath: '.status.availableReplicas', description: 'Available pods' },
    { name: 'Step', type: 'string', jsonPath: '.status.stepProgress', description: 'Canary steps completed' },
    { name: 'Weight', type: 'integer', jsonPath: '.status.actualWeight', description: 'Percent of traffic on the canary' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
  ],
};

const TEMPLATE_COLUMNS: CrdDefinition['printerColumns'] = [
  { name: 'Metrics', type: 'string', jsonPath: '.spec.metrics[*].name', description: 'Metric names' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

export const ANALYSIS_TEMPLATE_CRD: CrdDefinition = {
  kind: 'AnalysisTemplate',
  plural: 'analysistemplates',
  singular: 'analysistemplate',
  // Argo Rollouts has at, cat and ar; an f in front keeps both installable side by side.
  shortNames: ['fat'],
  scope: 'Namespaced',
  categories: ['fledge'],
  spec: AnalysisTemplateSpec,
  printerColumns: TEMPLATE_COLUMNS,
};

export const CLUSTER_ANALYSIS_TEMPLATE_CRD: CrdDefinition = {
  ...ANALYSIS_TEMPLATE_CRD,
  kind: 'ClusterAnalysisTemplate',
  plural: 'clusteranalysistemplates',
  singular: 'clusteranalysistemplate',
  shortNames: ['fcat'],
  scope: 'Cluster',
};

export const ANALYSIS_RUN_CRD: CrdDefinition = {
  kind: 'AnalysisRun',
  plural: 'analysisruns',
  singular: 'analysisrun',
  shortNames: ['far'],
  scope: 'Namespaced',
  categories: ['fledge'],
  spec: AnalysisRunSpec,
  status: AnalysisRunStatus,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Metrics', type: 'string', jsonPath: '.status.summary', description: 'Measurements: successful, failed, inconclusive, errors' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
  ],
};

/** Every CRD Fledge serves, keyed by the file name under crds/. */
export const CRD_FILES: Record<string, CrdDefinition> = {
  'fledge.dev_rollouts.yaml': ROLLOUT_CRD,
  'fledge.dev_analysistemplates.yaml': ANALYSIS_TEMPLATE_CRD,
  'fledge.dev_clusteranalysistemplates.yaml': CLUSTER_ANALYSIS_TEMPLATE_CRD,
  'fledge.dev_analysisruns.yaml': ANALYSIS_RUN_CRD,
};

export function renderCrds(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(Object.entries(CRD_FILES).map(([file, definition]) => [file, customResourceDefinition(definition)]));
}
