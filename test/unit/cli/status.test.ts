import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import { verdictOf } from '../../../src/cli/status.js';

const rollout = (generation: number, status: RolloutStatus): Rollout => ({
  apiVersion: 'fledge.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'api', generation },
  spec: { selector: {}, template: { spec: {} }, strategy: { canary: {} } },
  status,
});

describe('status verdict', () => {
  it('is healthy only when the latest generation is observed and stable is current', () => {
    expect(verdictOf(rollout(2, { observedGeneration: 2, phase: 'Healthy', stableRevision: 'a', currentRevision: 'a' }))).toBe('healthy');
    // The controller has not seen the new template yet: an old Healthy must not end the wait.
    expect(verdictOf(rollout(3, { observedGeneration: 2, phase: 'Healthy', stableRevision: 'a', currentRevision: 'a' }))).toBe('progressing');
    expect(verdictOf(rollout(2, { observedGeneration: 2, phase: 'Healthy', stableRevision: 'a', currentRevision: 'b' }))).toBe('progressing');
  });

  it('is degraded when aborted or past the progress deadline, and progressing while paused', () => {
    expect(verdictOf(rollout(2, { observedGeneration: 2, phase: 'Degraded', abort: true }))).toBe('degraded');
    expect(verdictOf(rollout(2, { observedGeneration: 2, phase: 'Paused' }))).toBe('progressing');
  });
});
