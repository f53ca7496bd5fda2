import type { CoreApi } from '../../kube/api.js';
import { apiErrorMessage, isAlreadyExists, isInvalid, isNotFound } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import type { ExperimentPlan } from '../decide/experiment.js';
import type { RolloutRef } from '../ref.js';
import { RefusedError } from './refused.js';

/** Creates and deletes the Services of an experiment step's templates, as the plan says. */
export class ExperimentServiceActuator {
  constructor(private readonly core: CoreApi) {}

  async apply(ref: RolloutRef, services: ExperimentPlan['services'], log: Logger): Promise<void> {
    for (const name of services.delete) {
      log.info('deleting the service of an experiment whose step is over', { service: name });
      await this.core.deleteNamespacedService({ name, namespace: ref.namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    for (const body of services.create) {
      const name = body.metadata?.name ?? '';
      log.info('creating an experiment service', { service: name });
      await this.core.createNamespacedService({ namespace: ref.namespace, body }).catch(async (err: unknown) => {
        if (isInvalid(err)) throw new RefusedError('InvalidSpec', `the apiserver refuses experiment Service ${name}: ${apiErrorMessage(err)}`);
        if (!isAlreadyExists(err)) throw err;
        await this.claimed(ref, name);
      });
    }
  }

  /** A Service with the name we give ours: ours (a cache behind), or someone else's, which is never taken over. */
  private async claimed(ref: RolloutRef, name: string): Promise<void> {
    const found = await this.core.readNamespacedService({ name, namespace: ref.namespace });
    const controller = found.metadata?.ownerReferences?.find((owner) => owner.controller === true);
    if (controller?.uid === ref.uid) return;
    throw new RefusedError('ResourceConflict', `Service ${name} exists and is not this Rollout's: name the experiment template's service another way (service.name)`);
  }
}
