import type * as k8s from '@kubernetes/client-node';
import type { WorkloadRef } from '../../api/rollout.js';

type Declared = k8s.KubernetesObject & { spec?: { workloadRef?: WorkloadRef; selector?: k8s.V1LabelSelector; template?: unknown } };

/**
 * The Rollout with its workloadRef's pod template filled in (and its selector, when the Rollout gives none), so
 * everything downstream reads `spec.template` and `spec.selector` as if they had been written there; or why it cannot run. A Rollout without a workloadRef is returned as it is.
 */
export function withWorkloadTemplate(raw: k8s.KubernetesObject, deployment: (name: string) => k8s.V1Deployment | undefined): { rollout: k8s.KubernetesObject } | { problem: string } {
  const declared = raw as Declared;
  const ref = declared.spec?.workloadRef;
  if (ref === undefined) return { rollout: raw };
  const found = deployment(ref.name);
  const template = found?.spec?.template;
  if (found === undefined || template === undefined) return { problem: `workloadRef: Deployment ${ref.name} not found in namespace ${raw.metadata?.namespace ?? 'default'}` };
  const labels = template.metadata?.labels ?? {};
  const unmatched = Object.entries(declared.spec?.selector?.matchLabels ?? {}).filter(([key, value]) => labels[key] !== value);
  if (unmatched.length > 0) {
    return { problem: `workloadRef: the pod template of Deployment ${ref.name} lacks the Rollout's selector labels ${unmatched.map(([key, value]) => `${key}=${value}`).join(', ')}` };
  }
  // Argo's meaning: a workloadRef may leave the selector out, and the Deployment's is used.
  const selector = declared.spec?.selector ?? found.spec?.selector;
  return { rollout: { ...declared, spec: { ...declared.spec, template: structuredClone(template), ...(selector !== undefined && { selector: structuredClone(selector) }) } } as k8s.KubernetesObject };
}

/**
 * The Deployment's replicas that `scaleDown` wants now, or undefined to leave it: `onsuccess` goes to 0 once the Rollout
 * is fully rolled out and available, `progressively` shrinks by every pod of the Rollout that is available (never
 * growing it back), `never` leaves it. The Deployment's pods and the Rollout's share the selector, so together they
 * keep serving while the move goes on.
 */
export function workloadReplicas(
  mode: WorkloadRef['scaleDown'],
  current: number,
  rollout: { desired: number; available: number; fullyRolledOut: boolean },
): number | undefined {
  const wanted = mode === 'onsuccess' ? (rollout.fullyRolledOut && rollout.available >= rollout.desired ? 0 : current) : mode === 'progressively' ? Math.min(current, Math.max(0, rollout.desired - rollout.available)) : current;
  return wanted === current ? undefined : wanted;
}
