import type * as k8s from '@kubernetes/client-node';
import type { CoreApi } from '../../kube/api.js';
import { isNotFound, mergePatchOptions } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import { selectorOf } from '../observe.js';
import type { RolloutRef } from '../ref.js';
import type { PodMetadataPatch } from '../decide/role-metadata.js';

/** Pod writes: a restart's deletions, and a new role's metadata on running pods. */
export class PodActuator {
  constructor(private readonly core: CoreApi) {}

  /** Deletes the pods a restart replaces now; one already gone is fine. */
  async delete(ref: RolloutRef, pods: readonly string[], restartAt: string | undefined, log: Logger): Promise<void> {
    for (const pod of pods) {
      log.info('restarting pod', { pod, restartAt });
      await this.core.deleteNamespacedPod({ name: pod, namespace: ref.namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  /** The role metadata patch on every running pod of a ReplicaSet (its selector, as the ReplicaSet controller counts them). */
  async patchMetadata(ref: RolloutRef, rs: k8s.V1ReplicaSet, metadata: PodMetadataPatch, log: Logger): Promise<void> {
    const pods = (await this.core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selectorOf(rs) })).items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
    log.info('updating the role metadata of running pods', { replicaSet: rs.metadata?.name, pods: pods.length });
    for (const pod of pods) {
      await this.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: ref.namespace, body: { metadata } }, mergePatchOptions()).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }
}
