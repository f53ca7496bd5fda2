import type * as k8s from '@kubernetes/client-node';
import type { AppsApi } from '../../kube/api.js';
import type { Rollout } from '../../api/rollout.js';
import { ScaleExpectations, type ScaledObject } from '../../kube/cache-expectations.js';
import type { ResilientInformer } from '../../kube/informer.js';
import { apiErrorMessage, isAlreadyExists, isInvalid, isNotFound, mergePatchOptions } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT } from '../../api/labels.js';
import type { RolloutRef } from '../ref.js';
import { RefusedError } from './refused.js';
import type { ReplicaSetChange } from '../decide/replica-set-changes.js';
import type { PodActuator } from './pods.js';

/** A ReplicaSet write the cache never shows (someone else scaled it at once) stops delaying its Rollout after this. */
const EXPECTATION_TTL_MS = 30_000;

/**
 * Makes the owned ReplicaSets what the plan's changes say, and prunes those beyond revisionHistoryLimit. It remembers
 * its creates and scales until the cache shows them: deciding on older ReplicaSets would undo them.
 */
export class ReplicaSetActuator {
  private readonly expectations: ScaleExpectations;

  constructor(
    private readonly apps: AppsApi,
    private readonly cache: ResilientInformer<k8s.V1ReplicaSet>,
    private readonly pods: PodActuator,
    now: () => number,
  ) {
    this.expectations = new ScaleExpectations(EXPECTATION_TTL_MS, now);
  }

  /** Whether the cache is still older than one of this Rollout's ReplicaSet writes. */
  unseen(ref: RolloutRef): boolean {
    const cached = (name: string): ScaledObject | undefined => {
      const rs = this.cache.get(name, ref.namespace);
      return rs && { resourceVersion: rs.metadata?.resourceVersion, replicas: rs.spec?.replicas ?? 0 };
    };
    return this.expectations.unmet(ref.key, cached).length > 0;
  }

  forget(key: string): void {
    this.expectations.forget(key);
  }

  async apply(ref: RolloutRef, rollout: Rollout, owned: ReadonlyArray<k8s.V1ReplicaSet>, changes: readonly ReplicaSetChange[], log: Logger): Promise<void> {
    const written = (rs: k8s.V1ReplicaSet, how: { created: boolean }): void =>
      this.expectations.expect(ref.key, rs.metadata?.name ?? '', { resourceVersion: rs.metadata?.resourceVersion, replicas: rs.spec?.replicas ?? 0 }, how);
    for (const change of changes) {
      if (change.kind === 'create') {
        log.info('creating replicaset', { replicaSet: change.replicaSet.metadata?.name, revision: change.revision, replicas: change.replicaSet.spec?.replicas });
        written(await this.create(ref, rollout, change.replicaSet, log), { created: true });
        continue;
      }
      const existing = owned.find((rs) => rs.metadata?.name === change.name);
      if (change.podMetadata !== undefined && existing !== undefined) await this.pods.patchMetadata(ref, existing, change.podMetadata, log);
      log.info('updating replicaset', { replicaSet: change.name, replicas: change.patch.spec?.replicas, role: change.role });
      const patched = await this.apps.patchNamespacedReplicaSet({ name: change.name, namespace: ref.namespace, body: change.patch }, mergePatchOptions());
      if (change.patch.spec?.replicas !== undefined || change.patch.spec?.minReadySeconds !== undefined) written(patched, { created: false });
    }
  }

  async delete(ref: RolloutRef, names: readonly string[], why: string, log: Logger): Promise<void> {
    for (const name of names) {
      log.info(`deleting replicaset: ${why}`, { replicaSet: name });
      await this.apps.deleteNamespacedReplicaSet({ name, namespace: ref.namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  private async create(ref: RolloutRef, rollout: Rollout, body: k8s.V1ReplicaSet, log: Logger): Promise<k8s.V1ReplicaSet> {
    try {
      return await this.apps.createNamespacedReplicaSet({ namespace: ref.namespace, body });
    } catch (err) {
      if (isInvalid(err)) throw new RefusedError('InvalidSpec', `the apiserver refuses the pod template: ${apiErrorMessage(err)}`);
      if (!isAlreadyExists(err)) throw err;
      return this.adopt(ref, rollout, body, log);
    }
  }

  /**
   * A ReplicaSet with our name that we do not own (left by `--cascade=orphan`, or an earlier install): adopted
   * when it is an orphan of this revision, as the Deployment controller does; otherwise refused, never fought over.
   */
  private async adopt(ref: RolloutRef, rollout: Rollout, wanted: k8s.V1ReplicaSet, log: Logger): Promise<k8s.V1ReplicaSet> {
    const name = wanted.metadata?.name ?? '';
    const found = await this.apps.readNamespacedReplicaSet({ name, namespace: ref.namespace });
    const controller = found.metadata?.ownerReferences?.find((owner) => owner.controller === true);
    if (controller?.uid === ref.uid) return found;
    const revision = wanted.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH];
    const sameRevision = found.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH] === revision && found.spec?.selector.matchLabels?.[LABEL_POD_TEMPLATE_HASH] === revision;
    const selects = Object.entries(rollout.spec.selector.matchLabels ?? {}).every(([key, value]) => found.spec?.selector.matchLabels?.[key] === value);
    if (controller !== undefined || !sameRevision || !selects) {
      const why = controller !== undefined ? `it is controlled by ${controller.kind} ${controller.name}` : 'it is not an orphan of this revision';
      throw new RefusedError('ResourceConflict', `ReplicaSet ${name} exists and cannot be adopted: ${why}`);
    }
    log.info('adopting an orphaned replicaset', { replicaSet: name, revision });
    return this.apps.patchNamespacedReplicaSet(
      {
        name,
        namespace: ref.namespace,
        body: {
          metadata: {
            labels: { [LABEL_ROLLOUT]: ref.owner },
            ownerReferences: [...(found.metadata?.ownerReferences ?? []), ...(wanted.metadata?.ownerReferences ?? [])],
            resourceVersion: found.metadata?.resourceVersion,
          },
        },
      },
      mergePatchOptions(),
    );
  }
}
