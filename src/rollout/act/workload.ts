import type { AppsApi } from '../../kube/api.js';
import { mergePatchOptions } from '../../kube/patch.js';
import type { EventRecorder } from '../../kube/events.js';
import type { Logger } from '../../observability/logger.js';
import type { RolloutPlan } from '../decide/plan.js';
import type { RolloutRef } from '../ref.js';

/** A workloadRef's Deployment gives way to the Rollout's pods as the plan says, and the Rollout's Events say so. */
export async function scaleWorkload(apps: AppsApi, events: EventRecorder, ref: RolloutRef, workload: NonNullable<RolloutPlan['workload']>, log: Logger): Promise<void> {
  log.info('scaling down the workloadRef deployment', { deployment: workload.name, from: workload.from, to: workload.replicas, scaleDown: workload.scaleDown });
  await apps.patchNamespacedDeployment({ name: workload.name, namespace: ref.namespace, body: { spec: { replicas: workload.replicas } } }, mergePatchOptions());
  events.record(ref.target, 'Normal', 'WorkloadScaledDown', `Deployment ${workload.name} scaled from ${workload.from} to ${workload.replicas} (scaleDown: ${workload.scaleDown})`);
}
