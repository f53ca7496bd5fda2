import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../../api/rollout.js';
import type { CustomApi, NetworkingApi } from '../../kube/api.js';
import { isNotFound, mergePatchOptions } from '../../kube/patch.js';
import type { RouterContext } from '../types.js';

/** A custom resource's coordinates. */
export interface Kind {
  group: string;
  version: string;
  plural: string;
  /** For messages: `HTTPRoute`. */
  kind: string;
}

export type CustomObject = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

/** Reads one object; undefined when it does not exist. */
export async function readObject(api: CustomApi, kind: Kind, namespace: string, name: string): Promise<CustomObject | undefined> {
  try {
    return (await api.getNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, name })) as CustomObject;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Reads one Ingress; undefined when it does not exist (the NGINX and ALB routers both edit Ingresses). */
export async function readIngress(api: NetworkingApi, namespace: string, name: string): Promise<k8s.V1Ingress | undefined> {
  try {
    return await api.readNamespacedIngress({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Merge-patches an object with its resourceVersion, so a concurrent edit makes the write fail with a conflict (and
 * the reconcile retry on fresh data) instead of overwriting it.
 */
export async function patchObject(api: CustomApi, kind: Kind, object: CustomObject, body: Record<string, unknown>): Promise<void> {
  const metadata = { ...((body.metadata as Record<string, unknown> | undefined) ?? {}), resourceVersion: object.metadata?.resourceVersion };
  await api.patchNamespacedCustomObject(
    {
      group: kind.group,
      version: kind.version,
      plural: kind.plural,
      namespace: object.metadata?.namespace ?? '',
      name: object.metadata?.name ?? '',
      body: { ...body, metadata },
    },
    mergePatchOptions(),
  );
}

/** Creates one object of `kind` in `namespace`. */
export async function createObject(api: CustomApi, kind: Kind, namespace: string, body: CustomObject): Promise<void> {
  await api.createNamespacedCustomObject({ group: kind.group, version: kind.version, plural: kind.plural, namespace, body: { apiVersion: `${kind.group}/${kind.version}`, kind: kind.kind, ...body } });
}

/** Deletes the object as it was read: a concurrent edit makes it fail with a conflict rather than delete what changed. */
export async function deleteObject(api: CustomApi, kind: Kind, object: CustomObject): Promise<void> {
  await api.deleteNamespacedCustomObject({
    group: kind.group,
    version: kind.version,
    plural: kind.plural,
    namespace: object.metadata?.namespace ?? '',
    name: object.metadata?.name ?? '',
    body: { preconditions: { resourceVersion: object.metadata?.resourceVersion } },
  });
}

/** The controller reference on an object the Rollout creates, so it is garbage-collected with it. */
export function rolloutOwnerReference(context: RouterContext): k8s.V1OwnerReference {
  return { apiVersion: API_VERSION, kind: 'Rollout', name: context.rolloutName, uid: context.rolloutUid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Whether this Rollout (by uid; by name when the uid is not known) is the object's controller. */
export function controlledByRollout(object: k8s.KubernetesObject, context: RouterContext): boolean {
  const controller = object.metadata?.ownerReferences?.find((owner) => owner.controller === true);
  return (
    controller !== undefined &&
    controller.kind === 'Rollout' &&
    controller.apiVersion.split('/')[0] === API_VERSION.split('/')[0] &&
    (context.rolloutUid !== undefined ? controller.uid === context.rolloutUid : controller.name === context.rolloutName)
  );
}

/** `text` as a regular expression that matches it literally. */
export const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A short hash of what Fledge generated: the apiserver fills in defaults, so the object read back is not compared as written. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/** A weight split as percent for the canary: canary / (canary + stable), or undefined when both are 0. */
export function percentOf(canary: number, stable: number): number | undefined {
  const total = canary + stable;
  return total > 0 ? Math.round((100 * canary) / total) : undefined;
}

/** One value when every entry agrees, undefined otherwise (or when there is none). */
export function agreed(values: ReadonlyArray<number | undefined>): number | undefined {
  const first = values[0];
  return values.length > 0 && values.every((value) => value === first) ? first : undefined;
}
