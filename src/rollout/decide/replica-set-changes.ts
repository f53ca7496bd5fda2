import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, type PodTemplate, type Rollout } from '../../api/rollout.js';
import { canaryAffinity, removeInjectedAntiAffinity, type AntiAffinityPatch } from './anti-affinity.js';
import type { ReplicaSetFacts } from './facts.js';
import { ANNOTATION_REVISION, ANNOTATION_SCALE_DOWN_AT, LABEL_POD_TEMPLATE_HASH, LABEL_ROLLOUT, ownedObjectName, rolloutLabelValue } from '../../api/labels.js';
import type { ReplicaSetTarget } from './replicas.js';
import { podMetadataFor, podMetadataPatch, podRole, type PodMetadataPatch, type PodRole } from './role-metadata.js';
import { toTimestamp } from '../../api/time.js';

/** A merge patch of an owned ReplicaSet: its size, minReadySeconds, role metadata, anti-affinity and scale-down time. */
export interface ReplicaSetPatch {
  metadata?: { annotations: Record<string, string | null> };
  spec?: { replicas?: number; minReadySeconds?: number; template?: { metadata?: PodMetadataPatch; spec?: { affinity: { podAntiAffinity: AntiAffinityPatch } } } };
}

/** What the shell writes to make the owned ReplicaSets what the plan's targets say. */
export type ReplicaSetChange =
  | { kind: 'create'; revision: string; role: PodRole | undefined; replicaSet: k8s.V1ReplicaSet }
  | {
      kind: 'update';
      name: string;
      revision: string;
      role: PodRole | undefined;
      patch: ReplicaSetPatch;
      /**
       * Running pods take their new role's metadata in place, as in Argo (a Service may select by it). They are
       * patched before the ReplicaSet: should one patch fail, the template is still unpatched and the next reconcile
       * tries again.
       */
      podMetadata?: PodMetadataPatch;
    };

export interface ReplicaSetChangeInput {
  rollout: Rollout;
  /** The template a new ReplicaSet runs (facts.template). */
  template: PodTemplate;
  targets: readonly ReplicaSetTarget[];
  replicaSets: readonly ReplicaSetFacts[];
  /** status.stableRevision and status.currentRevision after this reconcile: they give each revision its role. */
  stableRevision: string | undefined;
  currentRevision: string | undefined;
}

/** The writes that bring the owned ReplicaSets to their targets; none when they already are. */
export function replicaSetChanges(input: ReplicaSetChangeInput): ReplicaSetChange[] {
  const changes: ReplicaSetChange[] = [];
  for (const target of input.targets) {
    const role = podRole(target.revision, input.stableRevision, input.currentRevision);
    const existing = input.replicaSets.find((rs) => rs.revision === target.revision);
    if (existing === undefined) {
      if (target.create === true) changes.push({ kind: 'create', revision: target.revision, role, replicaSet: newReplicaSet(input, target, role) });
      continue;
    }
    const update = replicaSetUpdate(input, target, existing, role);
    if (update !== undefined) changes.push(update);
  }
  return changes;
}

function replicaSetUpdate(input: ReplicaSetChangeInput, target: ReplicaSetTarget, existing: ReplicaSetFacts, role: PodRole | undefined): ReplicaSetChange | undefined {
  const canary = input.rollout.spec.strategy.canary;
  const patch: ReplicaSetPatch = {};
  if (existing.replicas !== target.replicas) patch.spec = { replicas: target.replicas };
  const minReady = input.rollout.spec.minReadySeconds ?? 0;
  if ((existing.minReadySeconds ?? 0) !== minReady) patch.spec = { replicas: target.replicas, minReadySeconds: minReady };
  // canaryMetadata / stableMetadata follow the revision's role (a promoted canary's new pods get stableMetadata).
  const podMetadata =
    role === undefined ? undefined : podMetadataPatch(existing.template?.metadata, podMetadataFor(input.rollout.spec.template, canary, target.revision, role), canary);
  // A canary that became stable has no other revision to keep away from: Argo's antiAffinity terms go.
  const antiAffinity = role === 'stable' ? removeInjectedAntiAffinity(existing.template?.spec?.affinity) : undefined;
  if (podMetadata !== undefined || antiAffinity !== undefined) {
    patch.spec = {
      ...patch.spec,
      template: { ...(podMetadata && { metadata: podMetadata }), ...(antiAffinity && { spec: { affinity: { podAntiAffinity: antiAffinity } } }) },
    };
  }
  if (target.scaleDownAt === null && existing.scaleDownAt !== undefined) {
    patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: null } };
  } else if (typeof target.scaleDownAt === 'number' && existing.scaleDownAt !== target.scaleDownAt) {
    patch.metadata = { annotations: { [ANNOTATION_SCALE_DOWN_AT]: toTimestamp(target.scaleDownAt) } };
  }
  if (patch.spec === undefined && patch.metadata === undefined) return undefined;
  return { kind: 'update', name: existing.name, revision: target.revision, role, patch, ...(podMetadata && { podMetadata }) };
}

/**
 * A new revision's ReplicaSet: numbered one past the highest owned, its pods labelled by hash and role, and a canary
 * kept off the stable revision's nodes when spec.strategy.canary.antiAffinity asks.
 */
function newReplicaSet(input: ReplicaSetChangeInput, target: ReplicaSetTarget, role: PodRole | undefined): k8s.V1ReplicaSet {
  const { rollout, template, stableRevision } = input;
  const { revision } = target;
  const name = rollout.metadata.name ?? '';
  const podMetadata = podMetadataFor(template, rollout.spec.strategy.canary, revision, role);
  const revisionNumber = Math.max(0, ...input.replicaSets.map((rs) => rs.revisionNumber)) + 1;
  const antiAffinity = rollout.spec.strategy.canary.antiAffinity;
  const avoidStable = role === 'canary' && antiAffinity !== undefined && stableRevision !== undefined && stableRevision !== revision;
  const podSpec = avoidStable ? { ...template.spec, affinity: canaryAffinity(template.spec.affinity as k8s.V1Affinity | undefined, antiAffinity, stableRevision) } : template.spec;
  return {
    metadata: {
      name: ownedObjectName(name, revision),
      namespace: rollout.metadata.namespace ?? 'default',
      labels: { ...(template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision, [LABEL_ROLLOUT]: rolloutLabelValue(name) },
      annotations: { [ANNOTATION_REVISION]: String(revisionNumber) },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'Rollout', name, uid: rollout.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      replicas: target.replicas,
      minReadySeconds: rollout.spec.minReadySeconds ?? 0,
      selector: {
        matchLabels: { ...(rollout.spec.selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision },
        ...(rollout.spec.selector.matchExpressions ? { matchExpressions: rollout.spec.selector.matchExpressions } : {}),
      },
      template: {
        ...template,
        spec: podSpec,
        metadata: {
          ...(template.metadata ?? {}),
          labels: podMetadata.labels,
          ...(Object.keys(podMetadata.annotations).length > 0 && { annotations: podMetadata.annotations }),
        },
      } as unknown as k8s.V1PodTemplateSpec,
    },
  };
}
