import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/rollout.js';
import type { FledgeClient } from './client.js';

/** Calls onChange on every Rollout watch event in one namespace, or in all of them. */
export async function watchRolloutList(client: FledgeClient, namespace: string | undefined, onChange: () => void): Promise<() => Promise<void>> {
  const path = namespace === undefined ? `/apis/${GROUP}/${VERSION}/rollouts` : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/rollouts`;
  const informer = k8s.makeInformer<k8s.KubernetesObject>(
    client.target.kc,
    path,
    () =>
      (namespace === undefined
        ? client.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'rollouts' })
        : client.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'rollouts' })) as Promise<
        k8s.KubernetesListObject<k8s.KubernetesObject>
      >,
  );
  for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) informer.on(verb, onChange);
  informer.on(k8s.ERROR, () => setTimeout(() => void informer.start().catch(() => undefined), 1000));
  await informer.start();
  return () => informer.stop();
}
