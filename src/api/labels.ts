import { createHash } from 'node:crypto';

/** Labels and annotations Fledge puts on the objects it owns; the plugin and the controller read the same ones. */
export const LABEL_POD_TEMPLATE_HASH = 'fledge.dev/pod-template-hash';
export const LABEL_ROLLOUT = 'fledge.dev/rollout';
export const ANNOTATION_REVISION = 'fledge.dev/revision';
export const ANNOTATION_SCALE_DOWN_AT = 'fledge.dev/scale-down-at';
/**
 * `baseline` on the baseline ReplicaSet and its pods (the stable template run beside the canary for the judge);
 * `experiment` on an experiment step's ReplicaSets, Services and pods.
 */
export const LABEL_ROLE = 'fledge.dev/role';
/** On an experiment's ReplicaSets, Services and pods: the name of its template in the step, which tells them apart. */
export const LABEL_EXPERIMENT_TEMPLATE = 'fledge.dev/experiment-template';
/** `step`, `background` or `experiment` on AnalysisRuns. */
export const LABEL_ANALYSIS_KIND = 'fledge.dev/analysis';

const MAX_LABEL_VALUE = 63;
const MAX_NAME = 253;

/**
 * The value of LABEL_ROLLOUT for a Rollout: its name, or, past the 63 characters a label value may
 * hold, a prefix of it and a hash of the whole, so two long names never share a value.
 */
export function rolloutLabelValue(name: string): string {
  return within63(name);
}

/** `name`, or past 63 characters (a label value's and a Service name's limit) a prefix of it and a hash of the whole. */
export function within63(name: string): string {
  if (name.length <= MAX_LABEL_VALUE) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, MAX_LABEL_VALUE - hash.length - 1)}-${hash}`;
}

/** `<rollout>-<suffix>`, shortening the Rollout's part so the whole stays a valid object name. */
export function ownedObjectName(rollout: string, suffix: string): string {
  return `${rollout.slice(0, MAX_NAME - suffix.length - 1)}-${suffix}`;
}

/** The selector for what a Rollout owns. */
export function ownedBy(name: string): string {
  return `${LABEL_ROLLOUT}=${rolloutLabelValue(name)}`;
}
