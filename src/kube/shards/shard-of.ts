import type * as k8s from '@kubernetes/client-node';

/** FNV-1a, 32 bits, over the UTF-8 bytes: a well-known hash any tool can reproduce, stable across versions and processes. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The shard of the Rollout `namespace/name` among `shards`. */
export function shardOf(rolloutKey: string, shards: number): number {
  return fnv1a32(rolloutKey) % shards;
}

/**
 * The Rollout key an object is sharded by: an AnalysisRun's controlling Rollout, so a run is measured where its
 * Rollout is reconciled; an object without one (a run created by hand), itself.
 */
export function shardingKey(obj: k8s.KubernetesObject): string {
  const namespace = obj.metadata?.namespace ?? '';
  const owner = obj.metadata?.ownerReferences?.find((ref) => ref.controller === true && ref.kind === 'Rollout');
  return `${namespace}/${owner?.name ?? obj.metadata?.name ?? ''}`;
}
