import { createHash } from 'node:crypto';
import type { CanaryStep, CanaryWebhook, PodTemplate } from '../../api/rollout.js';

/** Kubernetes' SafeEncodeString alphabet: no vowels (no accidental words), no look-alike characters. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const HASH_LENGTH = 10;

/** JSON with object keys sorted at every depth, so equal templates hash equally however they were built. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) sorted[key] = sortKeys(child);
    }
    return sorted;
  }
  return value;
}

/** The revision identity of a pod template: stable across processes and restarts (no maps, no randomness). */
export function podTemplateHash(template: PodTemplate): string {
  return safeHash(template);
}

/** The identity of a canary plan: a canary whose steps change under it starts again from step 1. */
export function stepsHash(steps: readonly CanaryStep[]): string {
  return safeHash(steps);
}

/** The identity of a webhook's definition: an edited hook is called afresh, never answered by the old one's result. */
export function webhookHash(hook: CanaryWebhook): string {
  return safeHash(hook);
}

/**
 * The pod-template hash of one experiment template: unique to the Rollout, the experiment (revision, attempt, step)
 * and the template, so its pods are told apart from the Rollout's revisions and from other experiments'.
 */
export function experimentPodTemplateHash(rollout: string, experiment: string, template: string): string {
  return safeHash({ rollout, experiment, template });
}

/** The identity of a tracked ConfigMap's or Secret's content: its copy is named by it. */
export function contentHash(content: unknown): string {
  return safeHash(content);
}

function safeHash(value: unknown): string {
  const digest = createHash('sha256').update(canonicalJson(value)).digest();
  let encoded = '';
  for (let i = 0; i < HASH_LENGTH; i++) {
    encoded += SAFE_ALPHABET[(digest[i] as number) % SAFE_ALPHABET.length];
  }
  return encoded;
}
