import type * as k8s from '@kubernetes/client-node';
import type { CanaryAntiAffinity } from '../../api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';

export const ANTI_AFFINITY_TOPOLOGY_KEY = 'kubernetes.io/hostname';

type Term = k8s.V1PodAffinityTerm;
type WeightedTerm = k8s.V1WeightedPodAffinityTerm;

const stableTerm = (stableRevision: string): Term => ({
  labelSelector: { matchLabels: { [LABEL_POD_TEMPLATE_HASH]: stableRevision } },
  topologyKey: ANTI_AFFINITY_TOPOLOGY_KEY,
});

/** A term Fledge put there: it selects nothing but one revision's pods by their hash, per node. */
function injected(term: Term | undefined): boolean {
  const labels = term?.labelSelector?.matchLabels ?? {};
  return (
    term?.topologyKey === ANTI_AFFINITY_TOPOLOGY_KEY &&
    term.labelSelector?.matchExpressions === undefined &&
    term.namespaceSelector === undefined &&
    Object.keys(labels).length === 1 &&
    labels[LABEL_POD_TEMPLATE_HASH] !== undefined
  );
}

/**
 * The canary's affinity: the pod template's own, plus a term keeping its pods off the nodes of the stable revision's
 * pods, required or preferred (with its weight) as the Rollout says.
 */
export function canaryAffinity(affinity: k8s.V1Affinity | undefined, antiAffinity: CanaryAntiAffinity, stableRevision: string): k8s.V1Affinity {
  const own = affinity?.podAntiAffinity ?? {};
  const preferred = antiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
  const podAntiAffinity: k8s.V1PodAntiAffinity =
    preferred !== undefined
      ? { ...own, preferredDuringSchedulingIgnoredDuringExecution: [...(own.preferredDuringSchedulingIgnoredDuringExecution ?? []), { weight: preferred.weight, podAffinityTerm: stableTerm(stableRevision) }] }
      : { ...own, requiredDuringSchedulingIgnoredDuringExecution: [...(own.requiredDuringSchedulingIgnoredDuringExecution ?? []), stableTerm(stableRevision)] };
  return { ...(affinity ?? {}), podAntiAffinity };
}

/** A merge patch of a pod template's `spec.affinity.podAntiAffinity` that takes Fledge's terms away. */
export interface AntiAffinityPatch {
  requiredDuringSchedulingIgnoredDuringExecution?: Term[] | null;
  preferredDuringSchedulingIgnoredDuringExecution?: WeightedTerm[] | null;
}

/**
 * What removes the injected terms from a ReplicaSet that became stable (there is no other revision left to avoid),
 * or undefined when it has none. A merge patch replaces lists whole, so each list is given again without them.
 */
export function removeInjectedAntiAffinity(affinity: k8s.V1Affinity | undefined): AntiAffinityPatch | undefined {
  const own = affinity?.podAntiAffinity;
  const required = own?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const preferred = own?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const keptRequired = required.filter((term) => !injected(term));
  const keptPreferred = preferred.filter((term) => !injected(term.podAffinityTerm));
  const patch: AntiAffinityPatch = {};
  if (keptRequired.length !== required.length) patch.requiredDuringSchedulingIgnoredDuringExecution = keptRequired.length > 0 ? keptRequired : null;
  if (keptPreferred.length !== preferred.length) patch.preferredDuringSchedulingIgnoredDuringExecution = keptPreferred.length > 0 ? keptPreferred : null;
  return Object.keys(patch).length > 0 ? patch : undefined;
}
