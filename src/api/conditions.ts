import type { Condition } from './meta.js';
import { toTimestamp } from './time.js';

export type ConditionStatus = Condition['status'];

export interface DesiredCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

/**
 * Sets one condition, keeping its position. lastTransitionTime moves only when the status flips
 * (Kubernetes API conventions), so a steady reconcile writes nothing new.
 */
export function setCondition(
  conditions: readonly Condition[],
  desired: DesiredCondition,
  now: number,
  observedGeneration: number | undefined,
): Condition[] {
  const existing = findCondition(conditions, desired.type);
  const next: Condition = {
    type: desired.type,
    status: desired.status,
    reason: desired.reason,
    message: desired.message,
    ...(observedGeneration !== undefined && { observedGeneration }),
    lastTransitionTime:
      existing !== undefined && existing.status === desired.status ? existing.lastTransitionTime : toTimestamp(now),
  };
  return existing === undefined
    ? [...conditions, next]
    : conditions.map((condition) => (condition.type === desired.type ? next : condition));
}

export function setConditions(
  conditions: readonly Condition[],
  desired: readonly DesiredCondition[],
  now: number,
  observedGeneration: number | undefined,
): Condition[] {
  return desired.reduce<Condition[]>((acc, condition) => setCondition(acc, condition, now, observedGeneration), [...conditions]);
}
