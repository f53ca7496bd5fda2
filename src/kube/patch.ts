import { isDeepStrictEqual } from 'node:util';
import type { CustomApi } from './api.js';
import type { RequestOptions } from './client.js';

/** RFC 7386 merge patch, which custom resources take (strategic merge is for built-in kinds only). */
export function mergePatchOptions(): RequestOptions {
  return { headers: { 'Content-Type': 'application/merge-patch+json' } };
}

function statusCode(err: unknown): number | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'number') {
    return (err as { code: number }).code;
  }
  return undefined;
}

export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
/** A create whose name is taken: 409 too, but no amount of retrying makes it succeed. */
export const isAlreadyExists = (err: unknown): boolean => statusCode(err) === 409 && reasonOf(err) === 'AlreadyExists';
/** The apiserver refused the object itself (a malformed pod template): retrying the same object cannot help. */
export const isInvalid = (err: unknown): boolean => statusCode(err) === 422 || statusCode(err) === 400;

/** The Status object's reason and message of a failed request, whether client-node parsed its body or not. */
function statusBody(err: unknown): { reason?: string; message?: string } {
  const body = err && typeof err === 'object' ? (err as { body?: unknown }).body : undefined;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { reason?: string; message?: string };
    } catch {
      return { message: body };
    }
  }
  return body && typeof body === 'object' ? (body as { reason?: string; message?: string }) : {};
}

const reasonOf = (err: unknown): string | undefined => statusBody(err).reason;

/** What the apiserver said about a refused request, for a condition or an Event. */
export function apiErrorMessage(err: unknown): string {
  return statusBody(err).message ?? (err instanceof Error ? err.message : String(err));
}
export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The merge patch that turns `current` into `desired`: changed keys with their new value, removed keys as null,
 * at every depth of nested objects (a merge patch merges them, so a key left out of a nested object would stay).
 * Undefined when nothing differs, so an unchanged reconcile writes nothing.
 */
export function statusDiff(current: object, desired: object): Record<string, unknown> | undefined {
  const cur = current as Record<string, unknown>;
  const want = desired as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(want)) {
    if (value === undefined || isDeepStrictEqual(cur[key], value)) continue;
    const nested = cur[key];
    patch[key] = isPlainObject(value) && isPlainObject(nested) ? statusDiff(nested, value) : value;
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
export async function writeStatus(custom: CustomApi, group: string, version: string, plural: string, object: StatusOwner, desired: object): Promise<boolean> {
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
