import { API_VERSION } from '../api/rollout.js';
import type { EventTarget } from '../kube/events.js';
import { rolloutLabelValue } from '../api/labels.js';

/** Who a reconcile is about, computed once: names, the work-queue key, the owner label and the Events' target. */
export interface RolloutRef {
  namespace: string;
  name: string;
  uid: string | undefined;
  /** `namespace/name`, the work queue's key. */
  key: string;
  /** The value of the fledge.dev/rollout label on what this Rollout owns or steers. */
  owner: string;
  /** The Rollout as an Event's involved object. */
  target: EventTarget;
}

export function rolloutRef(metadata: { name?: string; namespace?: string; uid?: string } | undefined): RolloutRef {
  const namespace = metadata?.namespace ?? 'default';
  const name = metadata?.name ?? '';
  return {
    namespace,
    name,
    uid: metadata?.uid,
    key: `${namespace}/${name}`,
    owner: rolloutLabelValue(name),
    target: { apiVersion: API_VERSION, kind: 'Rollout', name, namespace, uid: metadata?.uid },
  };
}
