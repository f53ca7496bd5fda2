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
