import type { CustomApi } from '../../kube/api.js';
import { API_VERSION, GROUP, VERSION } from '../../api/rollout.js';
import { isAlreadyExists, isNotFound, mergePatchOptions } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import type { AnalysisRunChanges } from '../decide/analysis-run-changes.js';
import type { OwnedRun } from '../deps.js';
import { LABEL_ROLLOUT } from '../../api/labels.js';
import type { RolloutRef } from '../ref.js';
import { RefusedError } from './refused.js';

const RUNS = { group: GROUP, version: VERSION, plural: 'analysisruns' } as const;

/** Creates, terminates and deletes the Rollout's AnalysisRuns as the plan says. */
export class AnalysisRunActuator {
  constructor(private readonly custom: CustomApi) {}

  async apply(ref: RolloutRef, changes: AnalysisRunChanges, log: Logger): Promise<void> {
    for (const { name, why } of changes.delete) {
      log.info(`deleting ${why}`, { analysisRun: name });
      await this.custom.deleteNamespacedCustomObject({ ...RUNS, namespace: ref.namespace, name }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    for (const { kind, run } of changes.create) {
      log.info('creating analysis run', { analysisRun: run.metadata.name, kind, invalid: run.spec.invalidReason });
      await this.custom.createNamespacedCustomObject({ ...RUNS, namespace: ref.namespace, body: run }).catch(async (err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
        await this.adopt(ref, run.metadata.name, log);
      });
    }
    for (const name of changes.terminate) {
      log.info('terminating analysis run the rollout no longer needs', { analysisRun: name });
      await this.custom.patchNamespacedCustomObject({ ...RUNS, namespace: ref.namespace, name, body: { spec: { terminate: true } } }, mergePatchOptions());
    }
  }

  /** An AnalysisRun with the name we give ours: ours (a cache behind), an orphan of this Rollout to adopt, or someone else's. */
  private async adopt(ref: RolloutRef, name: string, log: Logger): Promise<void> {
    const found = (await this.custom.getNamespacedCustomObject({ ...RUNS, namespace: ref.namespace, name })) as OwnedRun;
    const controller = found.metadata?.ownerReferences?.find((owner) => owner.controller === true);
    if (controller?.uid === ref.uid) return;
    if (controller !== undefined || found.metadata?.labels?.[LABEL_ROLLOUT] !== ref.owner) {
      throw new RefusedError('ResourceConflict', `AnalysisRun ${name} exists and cannot be adopted: ${controller ? `it is controlled by ${controller.kind} ${controller.name}` : 'it was not made for this Rollout'}`);
    }
    log.info('adopting an orphaned analysis run', { analysisRun: name });
    const ownerReferences = [
      ...(found.metadata?.ownerReferences ?? []),
      { apiVersion: API_VERSION, kind: 'Rollout', name: ref.name, uid: ref.uid ?? '', controller: true, blockOwnerDeletion: true },
    ];
    await this.custom.patchNamespacedCustomObject(
      { ...RUNS, namespace: ref.namespace, name, body: { metadata: { ownerReferences, resourceVersion: found.metadata?.resourceVersion } } },
      mergePatchOptions(),
    );
  }
}
