import type * as k8s from '@kubernetes/client-node';
import type { CoreApi } from '../../kube/api.js';
import { apiErrorMessage, isAlreadyExists, isInvalid, isNotFound } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import type { RolloutRef } from '../ref.js';
import { RefusedError } from './refused.js';

/** Whose Services these are, as logs and refusals name them. */
export interface ServiceRole {
  /** e.g. `experiment`, `baseline` */
  name: string;
  /** Where a person gives the Service another name when ours is taken. */
  renameWith: string;
}

/** Creates and deletes the Services the Rollout makes for an experiment step's templates or its baseline, as the plan says. */
export class RoleServiceActuator {
  constructor(private readonly core: CoreApi) {}

  async apply(ref: RolloutRef, services: { create: k8s.V1Service[]; delete: string[] }, role: ServiceRole, log: Logger): Promise<void> {
    for (const name of services.delete) {
      log.info(`deleting a ${role.name} service no longer wanted`, { service: name });
      await this.core.deleteNamespacedService({ name, namespace: ref.namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    for (const body of services.create) {
      const name = body.metadata?.name ?? '';
      log.info(`creating a ${role.name} service`, { service: name });
      await this.core.createNamespacedService({ namespace: ref.namespace, body }).catch(async (err: unknown) => {
        if (isInvalid(err)) throw new RefusedError('InvalidSpec', `the apiserver refuses ${role.name} Service ${name}: ${apiErrorMessage(err)}`);
        if (!isAlreadyExists(err)) throw err;
        await this.claimed(ref, name, role);
      });
    }
  }

  /** A Service with the name we give ours: ours (a cache behind), or someone else's, which is never taken over. */
  private async claimed(ref: RolloutRef, name: string, role: ServiceRole): Promise<void> {
    const found = await this.core.readNamespacedService({ name, namespace: ref.namespace });
    const controller = found.metadata?.ownerReferences?.find((owner) => owner.controller === true);
    if (controller?.uid === ref.uid) return;
    throw new RefusedError('ResourceConflict', `Service ${name} exists and is not this Rollout's: name the ${role.name}'s service another way (${role.renameWith})`);
  }
}
