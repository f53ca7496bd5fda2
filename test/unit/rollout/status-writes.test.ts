import type * as k8s from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../src/api/rollout.js';
import type { Announcement } from '../../../src/rollout/decide/machine.js';
import { eventsToRecord, MOVING_EVENT_HOLD_MS, movingEventHoldMs } from '../../../src/rollout/decide/recorded-events.js';
import { statusChange } from '../../../src/rollout/decide/status.js';
import { COUNTS_STALENESS_MS, statusWriteDue } from '../../../src/rollout/decide/status-writes.js';
import { propertyParameters } from '../property.js';
import { makeRollout, revisionOf } from './fake-cluster.js';
import { KEY, reconcilerOn } from './fake-reconciler.js';

const condition = (type: string, status: 'True' | 'False', reason: string, message = ''): NonNullable<RolloutStatus['conditions']>[number] => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-03-01T12:00:00Z',
});

describe('statusChange', () => {
  const base: RolloutStatus = { phase: 'Progressing', currentStepIndex: 0, replicas: 4, readyReplicas: 3, actualWeight: 25, conditions: [condition('Progressing', 'True', 'NewReplicaSetCreated')] };

  it('calls pod counts, the weight they make, the message and a condition reason observed', () => {
    expect(statusChange(base, base)).toBe('none');
    expect(statusChange(base, { ...base, replicas: 5, readyReplicas: 4, actualWeight: 40, message: 'moving', progressStartTime: '2026-03-01T12:00:01Z' })).toBe('observed');
    expect(statusChange(base, { ...base, conditions: [condition('Progressing', 'True', 'ReplicaSetUpdated', 'now 2/4')] })).toBe('observed');
  });

  it('calls a phase, a step, a revision, an abort and a condition turning True or False decided', () => {
    expect(statusChange(base, { ...base, phase: 'Paused' })).toBe('decided');
    expect(statusChange(base, { ...base, replicas: 5, currentStepIndex: 1 })).toBe('decided');
    expect(statusChange(base, { ...base, stableRevision: 'abc' })).toBe('decided');
    expect(statusChange(base, { ...base, abort: true })).toBe('decided');
    expect(statusChange(base, { ...base, conditions: [condition('Progressing', 'False', 'ProgressDeadlineExceeded')] })).toBe('decided');
    expect(statusChange(base, { ...base, conditions: [...(base.conditions ?? []), condition('Available', 'True', 'MinimumReplicasAvailable')] })).toBe('decided');
  });
});

describe('statusWriteDue', () => {
  const written: RolloutStatus = { phase: 'Progressing', currentStepIndex: 0, replicas: 1, readyReplicas: 0 };
  const due = (desired: RolloutStatus, heldSince?: number, announces = false) =>
    statusWriteDue({ written, desired, announces, heldSince, now: 100_000, stalenessMs: COUNTS_STALENESS_MS });

  it('writes a decided change, and any change that announces something, at once', () => {
    expect(due({ ...written, phase: 'Paused' }, 99_000)).toEqual({ kind: 'now' });
    expect(due({ ...written, readyReplicas: 1 }, undefined, true)).toEqual({ kind: 'now' });
    expect(due(written)).toEqual({ kind: 'none' });
  });

  it('holds a change of counts alone for the bound, counted from when it was first held', () => {
    expect(due({ ...written, readyReplicas: 1 })).toEqual({ kind: 'later', at: 100_000 + COUNTS_STALENESS_MS });
    expect(due({ ...written, readyReplicas: 1 }, 90_000)).toEqual({ kind: 'later', at: 90_000 + COUNTS_STALENESS_MS });
    expect(due({ ...written, readyReplicas: 1 }, 100_000 - COUNTS_STALENESS_MS)).toEqual({ kind: 'now' });
    expect(statusWriteDue({ written, desired: { ...written, readyReplicas: 1 }, announces: false, heldSince: undefined, now: 5, stalenessMs: 0 })).toEqual({ kind: 'now' });
  });
});

describe('eventsToRecord', () => {
  const said = (...reasons: string[]): Announcement[] => reasons.map((reason) => ({ type: 'Normal', reason, message: reason.toLowerCase() }));
  const reasons = (announcements: Announcement[]): string[] => eventsToRecord(announcements, MOVING_EVENT_HOLD_MS).map((a) => a.reason);

  it('writes a completed step only when the same reconcile does not say where the canary went next', () => {
    expect(reasons(said('RolloutStepCompleted', 'RolloutPaused'))).toEqual(['RolloutPaused']);
    expect(reasons(said('RolloutStepCompleted', 'RolloutStepCompleted', 'RolloutCompleted'))).toEqual(['RolloutCompleted']);
    expect(reasons(said('RolloutStepCompleted', 'WebhookGate'))).toEqual(['WebhookGate']);
    expect(reasons(said('RolloutStepsChanged', 'RolloutStepCompleted'))).toEqual(['RolloutStepsChanged', 'RolloutStepCompleted']);
    expect(reasons(said('RolloutStepCompleted', 'TrafficShifted'))).toEqual(['RolloutStepCompleted', 'TrafficShifted']);
    expect(reasons(said('RolloutStarted', 'RolloutPromoted'))).toEqual(['RolloutStarted', 'RolloutPromoted']);
  });

  it('lets an Event of a canary moving on wait for where it goes next, and nothing a person acts on', () => {
    const waits = (announcements: Announcement[]): Record<string, number> => Object.fromEntries(eventsToRecord(announcements, 7_000).map((a) => [a.reason, a.holdMs]));
    expect(waits(said('RolloutStarted', 'RolloutSuperseded', 'RolloutRetried', 'RolloutPromoted', 'RolloutStepCompleted'))).toEqual({
      RolloutStarted: 7_000,
      RolloutSuperseded: 7_000,
      RolloutRetried: 7_000,
      RolloutPromoted: 7_000,
      RolloutStepCompleted: 7_000,
    });
    expect(waits(said('RolloutPaused', 'RolloutCompleted', 'WebhookGate', 'RolloutStepsChanged', 'ExperimentStarted', 'RolloutInitialized'))).toEqual({
      RolloutPaused: 0,
      RolloutCompleted: 0,
      WebhookGate: 0,
      RolloutStepsChanged: 0,
      ExperimentStarted: 0,
      RolloutInitialized: 0,
    });
    expect(eventsToRecord([{ type: 'Warning', reason: 'RolloutStarted', message: 'x' }], 7_000)[0]?.holdMs, 'a Warning never waits').toBe(0);
  });

  it('lets them wait up to the progress deadline while the Rollout waits for its pods, and the usual hold otherwise', () => {
    expect(movingEventHoldMs(true, 600_000)).toBe(600_000);
    expect(movingEventHoldMs(false, 600_000)).toBe(MOVING_EVENT_HOLD_MS);
    expect(movingEventHoldMs(true, 5_000), 'never shorter than the usual hold').toBe(MOVING_EVENT_HOLD_MS);
  });
});

/** The bench's Rollout: 1 replica, [setWeight 50, pause {}]. */
const benchRollout = (): Rollout => makeRollout({ replicas: 1, steps: [{ setWeight: 50 }, { pause: {} }] });

type Env = ReturnType<typeof reconcilerOn>;

/** Sets a ReplicaSet's pods as the ReplicaSet controller and kubelet would report them. */
function pods(env: Env, name: string, counts: { replicas: number; ready: number }): void {
  const rs = env.kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', name) as k8s.V1ReplicaSet;
  env.kube.put('replicasets', { ...rs, status: { replicas: counts.replicas, readyReplicas: counts.ready, availableReplicas: counts.ready } });
}

/** Reconciles with the caches caught up; answers when the reconciler asked to look again (absolute time). */
async function reconcile(env: Env): Promise<number | undefined> {
  env.kube.sync();
  const result = await env.reconciler.reconcile(KEY);
  return result && 'requeueAfterMs' in result && result.requeueAfterMs !== undefined ? env.clock.now + result.requeueAfterMs : undefined;
}

async function healthyOn(env: Env): Promise<void> {
  for (let i = 0; i < 6 && env.status().phase !== 'Healthy'; i++) await env.step();
  expect(env.status().phase).toBe('Healthy');
}

describe('RolloutReconciler status writes', () => {
  it('writes a template change to its pause in 3 API writes and 1 Event, the counts riding with the decided writes', async () => {
    const env = reconcilerOn(benchRollout());
    await healthyOn(env);
    const stable = `api-${revisionOf('api:1')}`;
    const canary = `api-${revisionOf('api:2')}`;
    env.setImage('api:2');
    const from = env.kube.writes.length;
    const eventsFrom = env.kube.events.length;
    const writes = (): string[] => env.kube.writesSince(from).map((w) => `${w.verb} ${w.kind}${w.kind === 'replicasets' ? ` ${w.name}` : ''}`);

    await reconcile(env);
    expect(writes(), 'a new revision is decided: written at once').toEqual([`create replicasets ${canary}`, 'patch rollouts/status']);
    expect(env.status()).toMatchObject({ phase: 'Progressing', currentRevision: revisionOf('api:2'), currentStepIndex: 0 });
    expect(env.kube.events.slice(eventsFrom), 'the start waits for where the canary goes next').toEqual([]);

    env.clock.now += 1_000;
    pods(env, canary, { replicas: 1, ready: 0 });
    const recheckAt = await reconcile(env);
    expect(writes(), 'the canary pod exists, not ready: only counts moved').toHaveLength(2);
    expect(recheckAt, 'looked at again when the bound runs out').toBe(env.clock.now + COUNTS_STALENESS_MS);

    env.clock.now += 2_000;
    pods(env, canary, { replicas: 1, ready: 1 });
    await reconcile(env);
    expect(writes().slice(2), 'the canary is available beside the stable (1 + 1 at 50%): paused, with the counts of its moment').toEqual(['patch rollouts/status']);
    expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 2 });
    expect(env.replicasOf('api:1'), 'the stable keeps its pod').toBe(1);
    expect(env.kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', stable)?.spec?.replicas).toBe(1);
    const told = env.kube.events.slice(eventsFrom);
    expect(told).toEqual([{ reason: 'RolloutPaused', message: expect.stringMatching(/^RolloutStarted: new revision .*; then canary at 50%: paused at step 1\/2/) }]);
  });

  it('holds the start while the canary pods come up, however slowly, and tells it with the pause', async () => {
    const env = reconcilerOn(benchRollout());
    await healthyOn(env);
    const canary = `api-${revisionOf('api:2')}`;
    env.setImage('api:2');
    const eventsFrom = env.kube.events.length;
    await reconcile(env);
    env.clock.now += 5 * MOVING_EVENT_HOLD_MS;
    pods(env, canary, { replicas: 1, ready: 0 });
    await reconcile(env);
    expect(env.kube.events.slice(eventsFrom), 'the Rollout waits for its pods: so does its start').toEqual([]);
    env.clock.now += 5 * MOVING_EVENT_HOLD_MS;
    pods(env, canary, { replicas: 1, ready: 1 });
    await reconcile(env);
    expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(env.kube.events.slice(eventsFrom)).toEqual([{ reason: 'RolloutPaused', message: expect.stringMatching(/^RolloutStarted: new revision .*; then canary at 50%: paused/) }]);
  });

  it('writes the start alone at the progress deadline at the latest, when the pods never come', async () => {
    const env = reconcilerOn(makeRollout({ replicas: 1, steps: [{ setWeight: 50 }, { pause: {} }], progressDeadlineSeconds: 120 }));
    await healthyOn(env);
    env.setImage('api:2');
    const eventsFrom = env.kube.events.length;
    const changedAt = env.clock.now;
    let recheckAt = await reconcile(env);
    // The Rollout looks again when it asked to (the counts' bound, then the deadline); its pod never becomes ready.
    const lookUntil = async (until: number): Promise<void> => {
      while (recheckAt !== undefined && recheckAt < until) {
        env.clock.now = recheckAt;
        recheckAt = await reconcile(env);
      }
      env.clock.now = until;
    };
    await lookUntil(changedAt + 120_000 - 1);
    expect(env.kube.events.slice(eventsFrom)).toEqual([]);
    await lookUntil(changedAt + 120_000);
    expect(env.kube.events.slice(eventsFrom).map((e) => e.reason), 'at most the progress deadline late').toEqual(['RolloutStarted']);
    await lookUntil(changedAt + 300_000);
    expect(env.kube.events.slice(eventsFrom).map((e) => e.reason), 'and the deadline is told once it passes').toEqual(['RolloutStarted', 'ProgressDeadlineExceeded']);
  });

  it('writes counts that moved alone once the bound has run out, and not before', async () => {
    const env = reconcilerOn(benchRollout());
    await healthyOn(env);
    const canary = `api-${revisionOf('api:2')}`;
    env.setImage('api:2');
    await reconcile(env);
    const from = env.kube.writes.length;
    pods(env, canary, { replicas: 1, ready: 0 });
    const recheckAt = (await reconcile(env)) as number;
    env.clock.now = recheckAt - 1;
    await reconcile(env);
    expect(env.kube.writesSince(from)).toEqual([]);
    env.clock.now = recheckAt;
    await reconcile(env);
    expect(env.kube.writesSince(from).map((w) => w.kind)).toEqual(['rollouts/status']);
    expect(env.status()).toMatchObject({ phase: 'Progressing', replicas: 2, updatedReplicas: 1, readyReplicas: 1 });
  });

  it('property: a template change costs 1 ReplicaSet write, 2 status writes plus one per bound the pods take, and 1 Event', async () => {
    // Pods that move within the counts' bound, and slower.
    const delay = fc.oneof(fc.integer({ min: 0, max: COUNTS_STALENESS_MS / 3 - 1 }), fc.integer({ min: 0, max: 2 * COUNTS_STALENESS_MS }), fc.integer({ min: 0, max: 8 * COUNTS_STALENESS_MS }));
    let withinBound = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ created: delay, ready: delay, resyncs: fc.array(fc.integer({ min: 0, max: 6 * COUNTS_STALENESS_MS }), { maxLength: 6 }) }),
        async ({ created, ready, resyncs }) => {
          const env = reconcilerOn(benchRollout());
          await healthyOn(env);
          const canary = `api-${revisionOf('api:2')}`;
          const start = env.clock.now;
          env.setImage('api:2');
          const from = env.kube.writes.length;
          const eventsFrom = env.kube.events.length;
          // What the pods do, and when: each a cache change that reconciles the Rollout, as would resyncs.
          const script: Array<{ at: number; change: () => void }> = [
            { at: start + created, change: () => pods(env, canary, { replicas: 1, ready: 0 }) },
            { at: start + created + ready, change: () => pods(env, canary, { replicas: 1, ready: 1 }) },
            ...resyncs.map((offset) => ({ at: start + offset, change: () => undefined })),
          ].sort((a, b) => a.at - b.at);
          let recheckAt = await reconcile(env);
          for (let i = 0; i < 40 && env.status().phase !== 'Paused'; i++) {
            const next = script[0];
            if (recheckAt !== undefined && (next === undefined || recheckAt < next.at)) {
              env.clock.now = recheckAt;
            } else if (next !== undefined) {
              script.shift();
              env.clock.now = Math.max(env.clock.now, next.at);
              next.change();
            } else break;
            recheckAt = await reconcile(env);
          }
          expect(env.status()).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
          const elapsed = env.clock.now - start;
          const written = env.kube.writesSince(from);
          const statusWrites = written.filter((w) => w.kind === 'rollouts/status').length;
          expect(written.filter((w) => w.kind === 'replicasets').map((w) => w.verb)).toEqual(['create']);
          expect(statusWrites).toBeGreaterThanOrEqual(2);
          // Counts (and words) move from the first look after the change on: one more write per bound at most.
          expect(statusWrites).toBeLessThanOrEqual(2 + Math.floor(elapsed / COUNTS_STALENESS_MS));
          const told = env.kube.events.slice(eventsFrom);
          // Every transition is told, in one Event however long the pods take (the progress deadline is 600 s).
          expect(told.map((e) => e.reason)).toEqual(['RolloutPaused']);
          expect(told[0]?.message).toMatch(/^RolloutStarted: new revision /);
          if (elapsed < COUNTS_STALENESS_MS) {
            withinBound++;
            expect(written.length + told.length, 'API writes of an update whose pods move within the counts bound, its Event included').toBeLessThanOrEqual(4);
          }
        },
      ),
      propertyParameters(100),
    );
    expect(withinBound, 'some updates had their pods move within the bound').toBeGreaterThan(10);
  });
});

describe('RolloutReconciler with counts held back, against one that writes every change at once', () => {
  type Action =
    | { kind: 'reconcile' }
    | { kind: 'settle' }
    | { kind: 'podsStarting'; ready: number }
    | { kind: 'tick'; ms: number }
    | { kind: 'image'; version: number }
    | { kind: 'promote' };
  const action: fc.Arbitrary<Action> = fc.oneof(
    { weight: 5, arbitrary: fc.constant<Action>({ kind: 'reconcile' }) },
    { weight: 2, arbitrary: fc.constant<Action>({ kind: 'settle' }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }).map<Action>((ready) => ({ kind: 'podsStarting', ready })) },
    { weight: 3, arbitrary: fc.integer({ min: 100, max: 2 * COUNTS_STALENESS_MS }).map<Action>((ms) => ({ kind: 'tick', ms })) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }).map<Action>((version) => ({ kind: 'image', version })) },
    { weight: 1, arbitrary: fc.constant<Action>({ kind: 'promote' }) },
  );
  /** Everything but the time of the last progress, which the held-back one records when it writes. */
  const shown = ({ progressStartTime: _progress, ...rest }: RolloutStatus): RolloutStatus => rest;

  it('property: decided changes are written in the same reconcile, and counts are never staler than the bound', async () => {
    // A day's progress deadline: the held-back twin records progress when it writes it, up to the bound later.
    const rollout = (): Rollout => makeRollout({ replicas: 4, progressDeadlineSeconds: 86_400, steps: [{ setWeight: 25 }, { pause: { duration: '40s' } }, { setWeight: 75 }, { pause: {} }] });
    let heldRuns = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 60 }), async (actions) => {
        const reference = reconcilerOn(rollout(), { countsStalenessMs: 0 });
        const subject = reconcilerOn(rollout());
        const twins = [reference, subject];
        const requeues = new Map<Env, number>();
        let staleSince: number | undefined;
        let held = false;
        const replicaSets = (kube: Env['kube']): Record<string, number | undefined> =>
          Object.fromEntries(kube.all<k8s.V1ReplicaSet>('replicasets').map((rs) => [rs.metadata?.name ?? '', rs.spec?.replicas]));
        /** Both reconcile at the same moments, as one work queue would run them. */
        const reconcileBoth = async (): Promise<void> => {
          for (const twin of twins) {
            const at = await reconcile(twin);
            if (at === undefined) requeues.delete(twin);
            else requeues.set(twin, at);
          }
          expect(replicaSets(subject.kube)).toEqual(replicaSets(reference.kube));
          expect(subject.kube.events).toEqual(reference.kube.events);
          expect(statusChange(reference.status(), subject.status()), 'nothing decided waits').not.toBe('decided');
          if (isDeepStrictEqual(shown(subject.status()), shown(reference.status()))) staleSince = undefined;
          else {
            held = true;
            staleSince ??= subject.clock.now;
          }
          expect(subject.clock.now - (staleSince ?? subject.clock.now)).toBeLessThanOrEqual(COUNTS_STALENESS_MS);
        };
        for (const a of actions) {
          if (a.kind === 'tick') {
            // Time passes; every look asked for comes due on the way.
            const until = subject.clock.now + a.ms;
            for (let due = Math.min(...requeues.values()), looks = 0; due <= until && looks < 100; due = Math.min(...requeues.values()), looks++) {
              for (const twin of twins) twin.clock.now = Math.max(twin.clock.now, due);
              await reconcileBoth();
            }
            for (const twin of twins) twin.clock.now = until;
            continue;
          }
          for (const twin of twins) {
            if (a.kind === 'settle') twin.kube.settleReplicaSets();
            else if (a.kind === 'podsStarting') {
              for (const rs of twin.kube.all<k8s.V1ReplicaSet>('replicasets')) pods(twin, rs.metadata?.name ?? '', { replicas: rs.spec?.replicas ?? 0, ready: Math.min(rs.spec?.replicas ?? 0, a.ready) });
            } else if (a.kind === 'image') twin.setImage(`api:${a.version}`);
            else if (a.kind === 'promote') {
              const current = twin.kube.get<Rollout>('rollouts', 'shop', 'api') as Rollout;
              twin.kube.put('rollouts', { ...current, status: { ...current.status, promote: 'step' } });
            }
          }
          await reconcileBoth();
        }
        if (held) heldRuns++;
      }),
      propertyParameters(100),
    );
    expect(heldRuns, 'the sequences did hold counts back').toBeGreaterThan(20);
  });
});
