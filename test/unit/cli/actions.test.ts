import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import { planAbort, planPause, planPromote, planRestart, planResume, planRetry, planSetImage, planUndo } from '../../../src/cli/actions.js';

function rollout(status: RolloutStatus, paused = false): Rollout {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'api', namespace: 'shop' },
    spec: {
      replicas: 4,
      paused,
      selector: { matchLabels: { app: 'api' } },
      template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:2' }, { name: 'proxy', image: 'envoy:1' }] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    },
    status,
  };
}

const healthy: RolloutStatus = { phase: 'Healthy', stableRevision: 'a', currentRevision: 'a' };
const canary: RolloutStatus = { phase: 'Paused', stableRevision: 'a', currentRevision: 'b', currentStepIndex: 1 };
const aborted: RolloutStatus = { ...canary, phase: 'Degraded', abort: true };

describe('steering plans', () => {
  it('promote writes a status request, and refuses a Healthy, aborted or spec-paused rollout', () => {
    expect(planPromote(rollout(canary), false)).toEqual({
      kind: 'patch',
      subresource: 'status',
      patch: { status: { promote: 'step' } },
      done: 'rollout api promoted past step 1/2',
    });
    expect(planPromote(rollout(canary), true)).toMatchObject({ patch: { status: { promote: 'full' } } });
    expect(planPromote(rollout(healthy), false)).toEqual({ kind: 'refuse', message: 'rollout api has no canary in progress (phase Healthy): nothing to promote' });
    expect(planPromote(rollout(aborted), false)).toMatchObject({ kind: 'refuse', message: expect.stringContaining('kubectl fledge retry api') });
    expect(planPromote(rollout(canary, true), false)).toMatchObject({ kind: 'refuse', message: expect.stringContaining('resume') });
  });

  it('abort and retry write status; each refuses when it makes no sense', () => {
    expect(planAbort(rollout(canary))).toMatchObject({ subresource: 'status', patch: { status: { abort: true } } });
    expect(planAbort(rollout(healthy))).toMatchObject({ kind: 'refuse' });
    expect(planAbort(rollout(aborted))).toEqual({ kind: 'refuse', message: 'rollout api is already aborted' });
    expect(planRetry(rollout(aborted))).toMatchObject({ subresource: 'status', patch: { status: { abort: false } } });
    expect(planRetry(rollout(canary))).toEqual({ kind: 'refuse', message: 'rollout api is not aborted: there is nothing to retry' });
  });

  it('pause, resume and restart change spec', () => {
    expect(planPause(rollout(canary))).toMatchObject({ subresource: 'spec', patch: { spec: { paused: true } } });
    expect(planPause(rollout(canary, true))).toMatchObject({ kind: 'refuse' });
    expect(planResume(rollout(canary, true))).toMatchObject({ subresource: 'spec', patch: { spec: { paused: false } } });
    expect(planResume(rollout(canary))).toMatchObject({ kind: 'refuse', message: expect.stringContaining('kubectl fledge promote api') });
    expect(planRestart(rollout(healthy), new Date('2026-05-01T10:00:00.123Z'))).toMatchObject({ patch: { spec: { restartAt: '2026-05-01T10:00:00Z' } } });
  });

  it('set image rewrites the whole container list with the new image, and refuses unknown containers', () => {
    const plan = planSetImage(rollout(healthy), ['api=api:3']);
    expect(plan).toMatchObject({
      subresource: 'spec',
      patch: { spec: { template: { spec: { containers: [{ name: 'api', image: 'api:3' }, { name: 'proxy', image: 'envoy:1' }] } } } },
    });
    expect(planSetImage(rollout(healthy), ['web=api:3'])).toEqual({ kind: 'refuse', message: 'rollout api has no container web (has: api, proxy)' });
    expect(planSetImage(rollout(healthy), ['api=api:2'])).toMatchObject({ kind: 'refuse', message: 'rollout api already runs api=api:2' });
    expect(planSetImage(rollout(healthy), ['api'])).toMatchObject({ kind: 'refuse' });
  });

  it('undo copies an earlier revision’s template without the pod-template-hash label', () => {
    const rs = (hash: string, revision: number, image: string): k8s.V1ReplicaSet => ({
      metadata: { name: `api-${hash}`, labels: { 'fledge.dev/pod-template-hash': hash }, annotations: { 'fledge.dev/revision': String(revision) } },
      spec: {
        selector: {},
        template: { metadata: { labels: { app: 'api', 'fledge.dev/pod-template-hash': hash } }, spec: { containers: [{ name: 'api', image }] } },
      },
    });
    const sets = [rs('a', 1, 'api:1'), rs('b', 2, 'api:2'), rs('c', 3, 'api:3')];
    const current = { ...healthy, stableRevision: 'c', currentRevision: 'c' };
    expect(planUndo(rollout(current), sets, undefined)).toMatchObject({
      patch: { spec: { template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image: 'api:2' }] } } } },
      done: 'rollout api template set back to revision 2',
    });
    expect(planUndo(rollout(current), sets, 1)).toMatchObject({ patch: { spec: { template: { spec: { containers: [{ image: 'api:1' }] } } } } });
    expect(planUndo(rollout(current), sets, 3)).toEqual({ kind: 'refuse', message: 'revision 3 is already the current template of rollout api' });
    expect(planUndo(rollout(current), sets, 9)).toEqual({ kind: 'refuse', message: 'rollout api has no revision 9 (known: 3, 2, 1)' });
  });
});
