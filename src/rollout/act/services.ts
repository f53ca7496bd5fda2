import type * as k8s from '@kubernetes/client-node';
import type { CoreApi } from '../../kube/api.js';
import type { ResilientInformer } from '../../kube/informer.js';
import { isNotFound, mergePatchOptions } from '../../kube/patch.js';
import type { Logger } from '../../observability/logger.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT } from '../../api/labels.js';
import type { RolloutRef } from '../ref.js';
import type { ServiceTarget } from '../decide/services.js';

/**
 * Makes the stable and canary Services select what the plan says. The Services cache holds only Services labelled
 * fledge.dev/rollout, so one it does not hold yet is read from the API once and labelled with its next selector change.
 */
export class ServiceActuator {
  constructor(
    private readonly core: CoreApi,
    private readonly services: ResilientInformer<k8s.V1Service>,
  ) {}

  /** Returns the Services named by the plan that do not exist (their creation sends no event: look again later). */
  async apply(ref: RolloutRef, targets: readonly ServiceTarget[], log: Logger): Promise<string[]> {
    const missing: string[] = [];
    for (const target of targets) {
      const service =
        this.services.get(target.name, ref.namespace) ??
        (await this.core.readNamespacedService({ name: target.name, namespace: ref.namespace }).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }));
      if (!service) {
        log.warn('service named by the rollout does not exist', { service: target.name });
        missing.push(target.name);
        continue;
      }
      const selected = service.spec?.selector?.[LABEL_POD_TEMPLATE_HASH];
      if ((selected ?? null) === target.revision && service.metadata?.labels?.[LABEL_ROLLOUT] === ref.owner) continue;
      log.info('pointing service at revision', { service: target.name, role: target.role, revision: target.revision ?? 'all' });
      await this.core.patchNamespacedService(
        { name: target.name, namespace: ref.namespace, body: { metadata: { labels: { [LABEL_ROLLOUT]: ref.owner } }, spec: { selector: target.selector } } },
        mergePatchOptions(),
      );
    }
    return missing;
  }

  /** Services a deleted Rollout labelled as its own stop selecting by pod-template hash, and lose the label. */
  async release(ref: RolloutRef, log: Logger): Promise<void> {
    for (const service of this.services.list(ref.namespace)) {
      if (service.metadata?.labels?.[LABEL_ROLLOUT] !== ref.owner) continue;
      log.info('releasing service of a deleted rollout', { service: service.metadata.name });
      await this.core
        .patchNamespacedService(
          {
            name: service.metadata.name ?? '',
            namespace: ref.namespace,
            body: { metadata: { labels: { [LABEL_ROLLOUT]: null } }, spec: { selector: { [LABEL_POD_TEMPLATE_HASH]: null } } },
          },
          mergePatchOptions(),
        )
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
  }
}
