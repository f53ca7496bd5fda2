import type { CanaryStrategy, PodTemplate, RolePodMetadata } from '../../api/rollout.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../api/labels.js';

export type PodRole = 'stable' | 'canary';

type StringMap = Record<string, string>;
export interface PodMetadata {
  labels: StringMap;
  annotations: StringMap;
}
/** A merge patch of a pod template's metadata: null removes a key. */
export interface PodMetadataPatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

/** The stable revision (the current one before anything is stable) or the canary; older revisions have no role. */
export function podRole(revision: string, stableRevision: string | undefined, currentRevision: string | undefined): PodRole | undefined {
  if (revision === (stableRevision ?? currentRevision)) return 'stable';
  return revision === currentRevision ? 'canary' : undefined;
}

const roleMetadata = (canary: CanaryStrategy, role: PodRole): RolePodMetadata | undefined => (role === 'stable' ? canary.stableMetadata : canary.canaryMetadata);

/**
 * A revision's pod-template metadata in its role: the Rollout template's own labels and annotations (which win, so
 * the selector and the hash are never changed) over canaryMetadata or stableMetadata (Argo's meaning).
 */
export function podMetadataFor(template: PodTemplate, canary: CanaryStrategy, revision: string, role: PodRole | undefined): PodMetadata {
  const extra = role === undefined ? undefined : roleMetadata(canary, role);
  return {
    labels: { ...(extra?.labels ?? {}), ...(template.metadata?.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: revision },
    annotations: { ...(extra?.annotations ?? {}), ...(template.metadata?.annotations ?? {}) },
  };
}

function mapPatch(current: StringMap, wanted: StringMap, roleKeys: ReadonlySet<string>): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(wanted)) if (current[key] !== value) patch[key] = value;
  // Only keys a role put there are taken away: whatever else is on the template stays someone else's.
  for (const key of Object.keys(current)) if (!(key in wanted) && roleKeys.has(key)) patch[key] = null;
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * What turns an existing ReplicaSet's pod-template metadata into its role's, or undefined when it already is: a
 * promoted canary loses canaryMetadata and gets stableMetadata.
 */
export function podMetadataPatch(current: { labels?: StringMap; annotations?: StringMap } | undefined, wanted: PodMetadata, canary: CanaryStrategy): PodMetadataPatch | undefined {
  const keys = (pick: 'labels' | 'annotations'): Set<string> =>
    new Set([...Object.keys(canary.canaryMetadata?.[pick] ?? {}), ...Object.keys(canary.stableMetadata?.[pick] ?? {})]);
  const labels = mapPatch(current?.labels ?? {}, wanted.labels, keys('labels'));
  const annotations = mapPatch(current?.annotations ?? {}, wanted.annotations, keys('annotations'));
  if (labels === undefined && annotations === undefined) return undefined;
  return { ...(labels && { labels }), ...(annotations && { annotations }) };
}
