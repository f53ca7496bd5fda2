import * as k8s from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';

/** client-node defaults to JSON patch; custom resources and plain merges want RFC 7386 merge patch. */
export function mergePatchOptions(): k8s.ConfigurationOptions {
  return k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
}

function statusCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  return undefined;
}

export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;

/**
 * The merge patch that turns `current` into `desired` at the top level: changed keys with their new value,
 * removed keys as null. Undefined when nothing differs, so an unchanged reconcile writes nothing.
 */
export function statusDiff(current: object, desired: object): Record<string, unknown> | undefined {
  const cur = current as Record<string, unknown>;
  const want = desired as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(want)) {
    if (value === undefined) continue;
    if (!isDeepStrictEqual(cur[key], value)) patch[key] = value;
  }
  for (const key of Object.keys(cur)) {
    if (cur[key] !== undefined && want[key] === undefined) patch[key] = null;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** What writeStatus needs of one of our custom resources. */
export interface StatusOwner {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  status?: object;
}

/**
 * Merge-patches the status subresource to `desired`, with the object's resourceVersion as a
 * precondition, so a decision made on a stale cache fails with 409 instead of overwriting newer state.
 * Returns whether anything was written.
 */
export async function writeStatus(custom: k8s.CustomObjectsApi, group: string, version: string, plural: string, object: StatusOwner, desired: object): Promise<boolean> {
  const diff = statusDiff(object.status ?? {}, desired);
  if (!diff) return false;
  await custom.patchNamespacedCustomObjectStatus(
    {
      group,
      version,
      namespace: object.metadata.namespace ?? 'default',
      plural,
      name: object.metadata.name ?? '',
      body: { metadata: { resourceVersion: object.metadata.resourceVersion }, status: diff },
    },
    mergePatchOptions(),
  );
  return true;
}
