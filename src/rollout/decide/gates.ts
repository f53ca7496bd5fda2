import type { CanaryStep, WebhookType } from '../../api/rollout.js';
import { setWeightAt } from './steps.js';

/** Hooks that hold the canary where it is: confirm-* gates poll until they answer 2xx, pre-rollout is called once. */
export type GateType = 'confirm-rollout' | 'pre-rollout' | 'confirm-traffic-increase' | 'confirm-promotion';

/** The order in which the gates of one position are met. */
const GATE_ORDER: readonly GateType[] = ['confirm-rollout', 'pre-rollout', 'confirm-traffic-increase', 'confirm-promotion'];

/** Where in a canary the gates are looked for. */
export interface GatePosition {
  steps: readonly CanaryStep[];
  stepIndex: number;
  currentRevision: string | undefined;
  /** The types of spec.strategy.canary.webhooks. */
  hookTypes: readonly WebhookType[];
  /** The revision whose pre-rollout hooks passed. */
  preRolloutPassed: string | undefined;
  /** The gate last reached at this position (waited at, or passed). */
  gate: GateType | undefined;
}

/** A setWeight step that raises the weight above what the steps before it asked for. */
export function increasesWeight(steps: readonly CanaryStep[], stepIndex: number): boolean {
  const step = steps[stepIndex];
  return step !== undefined && 'setWeight' in step && setWeightAt(steps, stepIndex) > setWeightAt(steps, stepIndex - 1);
}

/** The gates the canary meets at its position, in order. */
export function gatesAt(position: GatePosition): GateType[] {
  const has = (type: WebhookType): boolean => position.hookTypes.includes(type);
  const { stepIndex, steps } = position;
  const gates: GateType[] = [];
  if (stepIndex === 0 && has('confirm-rollout')) gates.push('confirm-rollout');
  if (stepIndex === 0 && has('pre-rollout') && position.preRolloutPassed !== position.currentRevision) gates.push('pre-rollout');
  if (has('confirm-traffic-increase') && increasesWeight(steps, stepIndex)) gates.push('confirm-traffic-increase');
  if (stepIndex >= steps.length && has('confirm-promotion')) gates.push('confirm-promotion');
  return gates;
}

/** The next gate at this position after the one last reached, if any. */
export function nextGate(position: GatePosition): GateType | undefined {
  const after = position.gate === undefined ? -1 : GATE_ORDER.indexOf(position.gate);
  return gatesAt(position).find((gate) => GATE_ORDER.indexOf(gate) > after);
}
