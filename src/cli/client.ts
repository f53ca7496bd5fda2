import * as k8s from '@kubernetes/client-node';
import { GROUP, DeclaredRollout, VERSION } from '../api/rollout.js';
import { isNotFound } from '../kube/patch.js';
import { LABEL_ROLE, ownedBy } from '../api/labels.js';
import type { AnalysisRunObject } from './view.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Target {
  kc: k8s.KubeConfig;
  /** The namespace to use: -n, else the context's, else default. */
  namespace: string;
}

/** kubectl's rules: --kubeconfig, else KUBECONFIG (a path list), else ~/.kube/config; --context picks a context. */
export function loadTarget(opts: { kubeconfig?: string; context?: string; namespace?: string }): Target {
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context !== undefined) {
    if (kc.getContextObject(opts.context) === null) throw new CliError(`context "${opts.context}" does not exist in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { kc, namespace: opts.namespace ?? contextNamespace ?? 'default' };
}

export interface RolloutObjects {
  rollout: DeclaredRollout;
  replicaSets: k8s.V1ReplicaSet[];
  pods: k8s.V1Pod[];
  analysisRuns: AnalysisRunObject[];
}

export class FledgeClient {
  readonly custom: k8s.CustomObjectsApi;
  readonly apps: k8s.AppsV1Api;
  readonly core: k8s.CoreV1Api;

  constructor(readonly target: Target) {
    this.custom = target.kc.makeApiClient(k8s.CustomObjectsApi);
    this.apps = target.kc.makeApiClient(k8s.AppsV1Api);
    this.core = target.kc.makeApiClient(k8s.CoreV1Api);
  }

  async getRollout(name: string, namespace = this.target.namespace): Promise<DeclaredRollout> {
    let raw: unknown;
    try {
      raw = await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'rollouts', name });
    } catch (err) {
      if (isNotFound(err)) throw new CliError(`rollout "${name}" not found in namespace "${namespace}"`);
      throw err;
    }
    const parsed = DeclaredRollout.safeParse(raw);
    if (!parsed.success) throw new CliError(`rollout "${name}" does not parse: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return parsed.data;
  }

  async listRollouts(namespace: string | undefined): Promise<DeclaredRollout[]> {
    const list = (await (namespace === undefined
      ? this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'rollouts' })
      : this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'rollouts' }))) as { items: unknown[] };
    return list.items.flatMap((item) => {
      const parsed = DeclaredRollout.safeParse(item);
      return parsed.success ? [parsed.data] : [];
    });
  }

  /** The Rollout with its ReplicaSets, their Pods and its AnalysisRuns, for `get rollout`. */
  async rolloutObjects(name: string, namespace = this.target.namespace): Promise<RolloutObjects> {
    const rollout = await this.getRollout(name, namespace);
    const labelSelector = ownedBy(name);
    // A workloadRef may leave the selector to its Deployment: then every pod of the namespace is read, and sorted by hash.
    const podSelector = Object.entries(rollout.spec.selector?.matchLabels ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    // An experiment's template may relabel its pods (Argo's canary preview) so the Rollout's selector misses them.
    const experimentPods = rollout.status?.experiment !== undefined ? this.core.listNamespacedPod({ namespace, labelSelector: `${LABEL_ROLE}=experiment` }) : undefined;
    const [replicaSets, pods, runs, experiment] = await Promise.all([
      this.apps.listNamespacedReplicaSet({ namespace, labelSelector }),
      this.core.listNamespacedPod({ namespace, labelSelector: podSelector }),
      (this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'analysisruns', labelSelector }) as Promise<{
        items: AnalysisRunObject[];
      }>).catch(() => ({ items: [] as AnalysisRunObject[] })),
      experimentPods,
    ]);
    const uid = rollout.metadata.uid;
    const listed = new Set(pods.items.map((pod) => pod.metadata?.name));
    return {
      rollout,
      replicaSets: replicaSets.items.filter((rs) => rs.metadata?.ownerReferences?.some((owner) => owner.uid === uid)),
      pods: [...pods.items, ...(experiment?.items ?? []).filter((pod) => !listed.has(pod.metadata?.name))],
      analysisRuns: runs.items,
    };
  }

  async patchRollout(name: string, subresource: 'status' | 'spec', patch: Record<string, unknown>, namespace = this.target.namespace): Promise<void> {
    const request = { group: GROUP, version: VERSION, namespace, plural: 'rollouts', name, body: patch };
    // client-node's generated API (the CLI is not bundled, so it keeps it) defaults to JSON patch.
    const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    if (subresource === 'status') await this.custom.patchNamespacedCustomObjectStatus(request, mergePatch);
    else await this.custom.patchNamespacedCustomObject(request, mergePatch);
  }
}
