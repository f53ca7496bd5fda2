import { describe, expect, it } from 'vitest';
import type { CanaryStep, CanaryWebhook, WebhookType } from '../../../src/api/rollout.js';
import { FakeCluster, MINUTE, makeRollout } from './fake-cluster.js';

const STEPS: CanaryStep[] = [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }];

const hook = (type: WebhookType, extra: Partial<CanaryWebhook> = {}): CanaryWebhook => ({ name: type, type, url: `http://hooks.test/${type}`, ...extra });

/** api:1 healthy, then api:2 applied and reconciled until it waits for something. */
function canaryWith(hooks: CanaryWebhook[], steps: CanaryStep[] = STEPS): FakeCluster {
  const cluster = new FakeCluster(makeRollout({ replicas: 10, steps, canary: { webhooks: hooks } }));
  cluster.converge();
  cluster.setImage('api:2');
  cluster.converge();
  return cluster;
}

describe('decide: webhook gates', () => {
  it('holds a new canary at no pods while confirm-rollout is closed, and starts it once the gate opens', () => {
    const cluster = canaryWith([hook('confirm-rollout')]);
    expect(cluster.status).toMatchObject({ phase: 'Paused', currentStepIndex: 0, webhooks: { waitingFor: { type: 'confirm-rollout', step: 0 } } });
    expect(cluster.countOf('api:2')?.replicas ?? 0).toBe(0);
    expect(cluster.wantedCalls.map((call) => [call.hook.type, call.mode, call.payload.phase])).toEqual([['confirm-rollout', 'poll', 'Waiting']]);

    cluster.answer('confirm-rollout', 'failed', 'HTTP 403: not yet');
    cluster.converge();
    expect(cluster.status.message).toBe('canary at 0%, waiting before step 0/4 for confirm-rollout webhooks: confirm-rollout closed (HTTP 403: not yet)');
    expect(cluster.condition('Paused')).toEqual({ status: 'True', reason: 'WebhookGate' });
    expect(cluster.countOf('api:2')?.replicas ?? 0).toBe(0);

    cluster.answer('confirm-rollout', 'passed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, phase: 'Paused' });
    expect(cluster.status.webhooks).toBeUndefined();
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    expect(cluster.reasons()).toEqual(expect.arrayContaining(['WebhookGate', 'WebhookGatePassed']));
  });

  it('never increases the weight past a closed confirm-traffic-increase gate, and each step asks afresh', () => {
    const cluster = canaryWith([hook('confirm-traffic-increase')]);
    // The first setWeight raises the weight from 0: gated too.
    expect(cluster.status.webhooks?.waitingFor).toMatchObject({ type: 'confirm-traffic-increase', step: 0 });
    cluster.answer('confirm-traffic-increase', 'passed');
    cluster.converge();
    cluster.advance(5 * MINUTE);
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 2, canaryWeight: 20, webhooks: { waitingFor: { type: 'confirm-traffic-increase', step: 2 } } });
    // The gate's answer at step 0 is not an answer at step 2.
    expect(cluster.webhookResults.size).toBe(0);
    cluster.answer('confirm-traffic-increase', 'failed');
    for (let i = 0; i < 5; i++) cluster.converge();
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    cluster.answer('confirm-traffic-increase', 'passed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 3, canaryWeight: 50 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 5, available: 5 });
  });

  it('waits for confirm-promotion at the last step\'s weight, and promotes once it opens', () => {
    const cluster = canaryWith([hook('confirm-promotion')], [{ setWeight: 30 }]);
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, canaryWeight: 30, stableRevision: expect.any(String), webhooks: { waitingFor: { type: 'confirm-promotion', step: 1 } } });
    expect(cluster.status.message).toContain('waiting before promotion for confirm-promotion webhooks');
    expect(cluster.countOf('api:2')).toEqual({ replicas: 3, available: 3 });
    expect(cluster.wantedCalls[0]?.payload).toMatchObject({ name: 'api', namespace: 'shop', phase: 'WaitingPromotion', checksum: cluster.status.currentRevision });
    cluster.answer('confirm-promotion', 'passed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Healthy', stableRevision: cluster.status.currentRevision });
  });

  it('lets abort win over a closed gate', () => {
    const cluster = canaryWith([hook('confirm-rollout')]);
    cluster.checkBudgets = false;
    cluster.patchStatus({ abort: true });
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(cluster.status.message).toContain('while waiting for confirm-rollout webhooks');
    expect(cluster.wantedCalls).toEqual([]);
  });

  it('a person\'s promote passes the gate waited at', () => {
    const cluster = canaryWith([hook('confirm-rollout')]);
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1 });
  });
});

describe('decide: pre-rollout, rollout and rollback webhooks', () => {
  it('aborts when pre-rollout fails, before the canary has a pod or any weight', () => {
    const cluster = canaryWith([hook('pre-rollout')]);
    expect(cluster.wantedCalls.map((call) => [call.hook.type, call.mode, call.retries])).toEqual([['pre-rollout', 'once', 2]]);
    expect(cluster.status.phase).toBe('Progressing');
    cluster.answer('pre-rollout', 'failed', 'HTTP 500: migration failed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(cluster.status.message).toContain('webhook pre-rollout (pre-rollout) failed: HTTP 500: migration failed');
    expect(cluster.countOf('api:2')?.replicas ?? 0).toBe(0);
  });

  it('records a passed pre-rollout in status, so neither a restart, a steps edit nor a retry calls it again', () => {
    const cluster = canaryWith([hook('pre-rollout')]);
    cluster.answer('pre-rollout', 'passed');
    cluster.converge();
    const revision = cluster.status.currentRevision;
    expect(cluster.status.webhooks).toEqual({ preRolloutPassed: revision });
    cluster.webhookResults.clear();
    cluster.setSpec({ strategy: { canary: { ...cluster.rollout.spec.strategy.canary, steps: [{ setWeight: 40 }, { pause: {} }] } } });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, canaryWeight: 40 });
    cluster.checkBudgets = false;
    cluster.patchStatus({ abort: true });
    cluster.converge();
    cluster.patchStatus({ abort: false });
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1, webhooks: { preRolloutPassed: revision } });
    expect(cluster.wantedCalls.filter((call) => call.hook.type === 'pre-rollout')).toEqual([]);
    // A new revision runs it again.
    cluster.setImage('api:3');
    cluster.converge();
    expect(cluster.status.webhooks?.waitingFor?.type).toBe('pre-rollout');
  });

  it('completes a step only once its rollout hooks passed, and aborts when one fails', () => {
    const cluster = canaryWith([hook('rollout')]);
    expect(cluster.status).toMatchObject({ currentStepIndex: 0 });
    expect(cluster.countOf('api:2')).toEqual({ replicas: 2, available: 2 });
    cluster.answer('rollout', 'passed');
    cluster.converge();
    cluster.advance(5 * MINUTE);
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 1 });
    cluster.answer('rollout', 'passed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ currentStepIndex: 2 });
    cluster.checkBudgets = false;
    cluster.answer('rollout', 'failed', 'no answer within 10s');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(cluster.status.message).toContain('webhook rollout (rollout) failed: no answer within 10s');
  });

  it('aborts the moment a rollback hook answers 2xx, even at a closed gate', () => {
    const cluster = canaryWith([hook('rollback'), hook('confirm-traffic-increase')]);
    expect(cluster.wantedCalls.map((call) => call.hook.type).sort()).toEqual(['confirm-traffic-increase', 'rollback']);
    cluster.answer('rollback', 'failed', 'HTTP 404');
    cluster.converge();
    expect(cluster.status.abort).toBeUndefined();
    cluster.checkBudgets = false;
    cluster.answer('rollback', 'passed');
    cluster.converge();
    expect(cluster.status).toMatchObject({ phase: 'Degraded', abort: true });
    expect(cluster.status.message).toContain('webhook rollback (rollback) asked for a rollback');
  });

  it('runs load tests while the canary has pods, and stops them (by no longer wanting them) at the end', () => {
    const cluster = canaryWith([hook('load-test', { metadata: { rps: '5', duration: '1m' } }), hook('confirm-rollout')]);
    expect(cluster.wantedCalls.map((call) => call.hook.type)).toEqual(['confirm-rollout']);
    cluster.answer('confirm-rollout', 'passed');
    cluster.converge();
    expect(cluster.wantedCalls.map((call) => [call.hook.type, call.mode])).toEqual([['load-test', 'load']]);
    cluster.patchStatus({ promote: 'full' });
    cluster.converge();
    expect(cluster.wantedCalls).toEqual([]);
  });
});

describe('decide: event and post-rollout webhooks', () => {
  it('sends every announced Event to event hooks, and post-rollout at promotion and abort', () => {
    const cluster = canaryWith([hook('event'), hook('post-rollout')], [{ setWeight: 50 }, { pause: {} }]);
    cluster.patchStatus({ promote: 'step' });
    cluster.converge();
    const started = cluster.plans.find((plan) => plan.events.some((event) => event.reason === 'RolloutStarted'));
    expect(started?.notifications).toEqual([
      expect.objectContaining({
        hook: expect.objectContaining({ type: 'event' }),
        payload: expect.objectContaining({ name: 'api', namespace: 'shop', phase: 'Progressing', metadata: expect.objectContaining({ eventReason: 'RolloutStarted', eventType: 'Normal' }) }),
      }),
    ]);
    const completed = cluster.plans.find((plan) => plan.events.some((event) => event.reason === 'RolloutCompleted'));
    expect(completed?.notifications.map((n) => [n.hook.type, n.payload.phase])).toEqual(expect.arrayContaining([['post-rollout', 'Succeeded']]));
    cluster.checkBudgets = false;
    cluster.setImage('api:3');
    cluster.converge();
    cluster.patchStatus({ abort: true });
    const aborted = cluster.tick();
    expect(aborted.notifications.map((n) => [n.hook.type, n.payload.phase])).toEqual([
      ['event', 'Failed'],
      ['post-rollout', 'Failed'],
    ]);
  });
});
