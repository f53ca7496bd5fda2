import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, type Rollout } from '../../api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH, LABEL_ROLE, LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue } from '../../api/labels.js';
import type { ReplicaSetFacts } from './facts.js';
import type { ReplicaSetChange } from './replica-set-changes.js';
import type { ReplicaMode } from './replicas.js';

/** The value of LABEL_ROLE on a baseline's ReplicaSet and pods. */
export const BASELINE_ROLE = 'baseline';

/** The baseline's pod-template-hash: its stable revision's, marked, so no Service of the Rollout selects its pods. */
export const baselineRevision = (stableRevision: string): string => `${stableRevision}-${BASELINE_ROLE}`;

export interface BaselinePlan {
  /** A new baseline ReplicaSet, or a new size for the one there is. */
  changes: ReplicaSetChange[];
  /** Baselines no longer wanted: the canary was promoted or aborted, or the stable revision changed. */
  delete: string[];
}

export interface BaselineInput {
  rollout: Rollout;
  mode: ReplicaMode;
  /** The stable revision's ReplicaSet: its template is what the baseline runs. */
  stable: ReplicaSetFacts | undefined;
  /** The canary's planned size this reconcile: the baseline grows and shrinks with it, so both are the same age. */
  canaryReplicas: number;
  baselines: readonly ReplicaSetFacts[];
}

/**
 * The baseline beside a canary in progress (spec.strategy.canary.baseline): as many pods as the canary's ReplicaSet
 * is given this reconcile, from the stable template. Without a canary (stable, promoted, aborted) there is none. Pure.
 */
export function planBaseline(input: BaselineInput): BaselinePlan {
  const { rollout, mode, stable } = input;
  const wanted = rollout.spec.strategy.canary.baseline !== undefined && mode.kind === 'canary' && stable?.template !== undefined ? mode : undefined;
  const replicas = input.canaryReplicas;
  const name = wanted !== undefined ? ownedObjectName(rollout.metadata.name ?? '', baselineRevision(wanted.stableRevision)) : undefined;
  const remove = input.baselines.filter((rs) => rs.name !== name).map((rs) => rs.name);
  if (wanted === undefined || stable === undefined) return { changes: [], delete: remove };
  const existing = input.baselines.find((rs) => rs.name === name);
  const revision = baselineRevision(wanted.stableRevision);
  if (existing === undefined) return { changes: [{ kind: 'create', revision, role: undefined, replicaSet: baselineReplicaSet(rollout, stable, replicas) }], delete: remove };
  const resize: ReplicaSetChange[] = existing.replicas === replicas ? [] : [{ kind: 'update', name: existing.name, revision, role: undefined, patch: { spec: { replicas } } }];
  return { changes: resize, delete: remove };
}

/** Keys stableMetadata put on the stable pods: a baseline (or an experiment of the stable) is not the stable, so they are left off. */
export function withoutKeys(map: Record<string, string> | undefined, keys: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(map ?? {}).filter(([key]) => !(key in (keys ?? {}))));
}

function baselineReplicaSet(rollout: Rollout, stable: ReplicaSetFacts, replicas: number): k8s.V1ReplicaSet {
  const name = rollout.metadata.name ?? '';
  const revision = baselineRevision(stable.revision);
  const canary = rollout.spec.strategy.canary;
  const template = stable.template ?? {};
  const extra = canary.baseline?.metadata;
  const labels = { ...withoutKeys(template.metadata?.labels, canary.stableMetadata?.labels), ...(extra?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLE]: BASELINE_ROLE };
  const annotations = { ...withoutKeys(template.metadata?.annotations, canary.stableMetadata?.annotations), ...(extra?.annotations ?? {}) };
  return {
    metadata: {
      name: ownedObjectName(name, revision),
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { ...(rollout.spec.template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLLOUT]: rolloutLabelValue(name), [LABEL_ROLE]: BASELINE_ROLE },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas,
      minReadySeconds: rollout.spec.minReadySeconds ?? 0,
      selector: {
        matchLabels: { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision },
        ...(rollout.spec.selector.matchExpressions ? { matchExpressions: rollout.spec.selector.matchExpressions } : {}),
      },
      template: { ...template, metadata: { ...(template.metadata ?? {}), labels, ...(Object.keys(annotations).length > 0 && { annotations }) } },
    },
  };
}
