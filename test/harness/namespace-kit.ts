import * as k8s from '@kubernetes/client-node';
import { expect } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { eventually, kubectl, testKubeConfig } from './e2e.js';

const GROUP = { group: 'fledge.dev', version: 'v1alpha1' } as const;

/** Reads and steers the Rollouts, ReplicaSets and AnalysisRuns of one test namespace. */
export function namespaceKit(namespace: string) {
  const kc = testKubeConfig();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const kit = {
    apply: async (text: string): Promise<void> => {
      const res = await kubectl(['apply', '-n', namespace, '-f', '-'], { input: text });
      expect(res.code, res.stderr).toBe(0);
    },
    status: async (name: string): Promise<RolloutStatus> =>
      ((await custom.getNamespacedCustomObject({ ...GROUP, namespace, plural: 'rollouts', name })) as { status?: RolloutStatus }).status ?? {},
    statuses: async (): Promise<Map<string, RolloutStatus>> => {
      const list = (await custom.listNamespacedCustomObject({ ...GROUP, namespace, plural: 'rollouts' })) as { items: Array<{ metadata: { name: string }; status?: RolloutStatus }> };
      return new Map(list.items.map((item) => [item.metadata.name, item.status ?? {}]));
    },
    waitFor: (name: string, what: string, check: (s: RolloutStatus) => boolean, timeoutMs = 90_000): Promise<RolloutStatus> =>
      eventually(`${name}: ${what}`, async () => {
        const s = await kit.status(name);
        return check(s) ? s : undefined;
      }, { timeoutMs, intervalMs: 250 }),
    /** A merge patch of container `app`'s image, straight to the apiserver: many in parallel land at nearly one moment. */
    setImage: async (name: string, image: string): Promise<void> => {
      const body = { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } };
      await custom.patchNamespacedCustomObject({ ...GROUP, namespace, plural: 'rollouts', name, body }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    },
    /** spec.replicas and status counts of a Rollout's ReplicaSets, by revision. */
    replicaSets: async (rollout: string): Promise<Map<string, { replicas: number; current: number; available: number }>> => {
      const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: `fledge.dev/rollout=${rollout}` });
      return new Map(
        list.items.map((rs) => [
          rs.metadata?.labels?.['fledge.dev/pod-template-hash'] ?? '',
          { replicas: rs.spec?.replicas ?? 0, current: rs.status?.replicas ?? 0, available: rs.status?.availableReplicas ?? 0 },
        ]),
      );
    },
    runs: async (): Promise<AnalysisRun[]> => ((await custom.listNamespacedCustomObject({ ...GROUP, namespace, plural: 'analysisruns' })) as { items: AnalysisRun[] }).items,
    runsOf: async (rollout: string, revision: string): Promise<AnalysisRun[]> =>
      (await kit.runs()).filter((run) => run.metadata.labels?.['fledge.dev/rollout'] === rollout && run.metadata.labels?.['fledge.dev/pod-template-hash'] === revision),
  };
  return kit;
}
