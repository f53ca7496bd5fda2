import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import {
  createTestNamespace,
  eventually,
  holdsFor,
  installCrds,
  kubectl,
  recordWatch,
  startController,
  testKubeConfig,
  type ControllerProcess,
} from '../harness/e2e.js';
import { canaryRollout, type CanaryRolloutOptions } from '../harness/manifests.js';

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';
const V3 = 'registry.k8s.io/pause:3.10.1';

type Steps = CanaryRolloutOptions['canary'];

const rolloutManifest = (name: string, image: string, canary: Steps, replicas = 10): string => JSON.stringify(canaryRollout(name, { replicas, image, canary }));

/** The seed example's steps, with the 5m pause kept: tests promote through it rather than wait. */
const SEED_STEPS: Steps = {
  steps: [{ setWeight: 20 }, { pause: { duration: '5m' } }, { setWeight: 50 }, { pause: {} }, { setWeight: 100 }],
};

describe('Rollout canary on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('canary');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    controller = await startController(ns.name);
  });
  afterAll(async (ctx) => {
    await controller.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-20_000)}\n`);
    await ns.remove();
  });

  const status = async (name: string): Promise<RolloutStatus> => {
    const obj = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as {
      status?: RolloutStatus;
    };
    return obj.status ?? {};
  };

  /** Spec and available replicas per pod-template hash. */
  const replicaSets = async (name: string): Promise<Map<string, { replicas: number; available: number }>> => {
    const list = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${name}` });
    return new Map(
      list.items.map((rs) => [
        rs.metadata?.labels?.['fledge.dev/pod-template-hash'] ?? '',
        { replicas: rs.spec?.replicas ?? 0, available: rs.status?.availableReplicas ?? 0 },
      ]),
    );
  };

  const apply = async (manifest: string): Promise<void> => {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest });
    expect(res.code, res.stderr).toBe(0);
  };

  const patchStatus = async (name: string, patch: object): Promise<void> => {
    const res = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: patch })]);
    expect(res.code, res.stderr).toBe(0);
  };

  const setImage = async (name: string, image: string): Promise<void> => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } };
    const res = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--type=merge', '-p', JSON.stringify(patch)]);
    expect(res.code, res.stderr).toBe(0);
  };

  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean, timeoutMs = 90_000): Promise<RolloutStatus> =>
    eventually(
      `${name}: ${what}`,
      async () => {
        const s = await status(name);
        return check(s) ? s : undefined;
      },
      { timeoutMs },
    );

  const healthyOn = async (name: string): Promise<RolloutStatus> =>
    waitFor(name, 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined && s.stableRevision === s.currentRevision);

  /** Waits until the canary RS and the stable RS have exactly these sizes, all available. */
  const sizes = async (name: string, stable: string, canary: string | undefined, want: { stable: number; canary: number }): Promise<void> => {
    await eventually(
      `${name}: stable=${want.stable} canary=${want.canary}`,
      async () => {
        const rs = await replicaSets(name);
        const s = rs.get(stable);
        const c = canary ? rs.get(canary) : undefined;
        const ok =
          s?.replicas === want.stable && s.available === want.stable && (canary === undefined || (c?.replicas === want.canary && c.available === want.canary));
        return ok ? true : undefined;
      },
      { timeoutMs: 90_000 },
    );
  };

  it('runs the seed example: 20% → pause → 50% → promote → 100% → Healthy, with the right ReplicaSet sizes', async () => {
    await apply(rolloutManifest('seed', V1, SEED_STEPS));
    const first = await healthyOn('seed');
    const stable = first.stableRevision as string;
    expect(first.stepProgress).toBe('5/5');
    await sizes('seed', stable, undefined, { stable: 10, canary: 0 });

    await setImage('seed', V2);
    const atPause = await waitFor('seed', 'paused at step 1', (s) => s.currentRevision !== stable && s.currentStepIndex === 1 && s.phase === 'Paused');
    const canary = atPause.currentRevision as string;
    expect(atPause.stableRevision).toBe(stable);
    expect(atPause.pauseStartTime).toBeDefined();
    await sizes('seed', stable, canary, { stable: 8, canary: 2 });
    expect((await status('seed')).actualWeight).toBe(20);

    await patchStatus('seed', { promote: 'step' });
    const atIndefinite = await waitFor('seed', 'paused at step 3', (s) => s.currentStepIndex === 3 && s.phase === 'Paused');
    expect(atIndefinite.stableRevision).toBe(stable);
    expect(atIndefinite.canaryWeight).toBe(50);
    await sizes('seed', stable, canary, { stable: 5, canary: 5 });
    await holdsFor(3_000, async () => (await status('seed')).currentStepIndex === 3, { what: 'an indefinite pause staying at step 3' });

    await patchStatus('seed', { promote: 'step' });
    const done = await healthyOn('seed');
    expect(done.stableRevision).toBe(canary);
    await sizes('seed', canary, stable, { stable: 10, canary: 0 });
    const ready = done.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(done.observedGeneration).toBeGreaterThanOrEqual(2);
  });

  it('aborts at 50% back to 100% stable, Degraded, and stays there', async () => {
    await apply(rolloutManifest('abort', V1, SEED_STEPS));
    const stable = (await healthyOn('abort')).stableRevision as string;
    await setImage('abort', V2);
    await waitFor('abort', 'paused at step 1', (s) => s.currentStepIndex === 1 && s.phase === 'Paused');
    await patchStatus('abort', { promote: 'step' });
    const at50 = await waitFor('abort', 'paused at 50%', (s) => s.currentStepIndex === 3 && s.phase === 'Paused');
    const canary = at50.currentRevision as string;
    await sizes('abort', stable, canary, { stable: 5, canary: 5 });

    await patchStatus('abort', { abort: true });
    const aborted = await waitFor('abort', 'Degraded', (s) => s.phase === 'Degraded');
    expect(aborted.stableRevision).toBe(stable);
    expect(aborted.conditions?.some((c) => c.reason === 'RolloutAborted')).toBe(true);
    expect(aborted.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'RolloutAborted' });
    expect(aborted.abortedAt).toBeDefined();
    await sizes('abort', stable, canary, { stable: 10, canary: 0 });
    // No retry loop: it stays aborted, with no canary Pods.
    await holdsFor(
      4_000,
      async () => {
        const [later, sets] = await Promise.all([status('abort'), replicaSets('abort')]);
        expect({ phase: later.phase, abort: later.abort, canaryReplicas: sets.get(canary)?.replicas }).toEqual({ phase: 'Degraded', abort: true, canaryReplicas: 0 });
      },
      { what: 'the abort, Degraded with the canary at 0 replicas' },
    );
    // The spec is left as Git declared it.
    const obj = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: 'abort' })) as {
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    expect(obj.spec.template.spec.containers[0]?.image).toBe(V2);
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=abort' });
    expect(events.items.some((e) => e.reason === 'RolloutAborted' && e.type === 'Warning')).toBe(true);

    // Retry: clearing the abort request starts the same canary again from step 1.
    await patchStatus('abort', { abort: false });
    const retried = await waitFor('abort', 'retried to step 1', (s) => s.phase === 'Paused' && s.currentStepIndex === 1 && s.abortedAt === undefined);
    expect(retried.currentRevision).toBe(canary);
    expect(retried.stableRevision).toBe(stable);
    await sizes('abort', stable, canary, { stable: 8, canary: 2 });
  });

  it('returns straight to stable when the template is reverted mid-canary', async () => {
    await apply(rolloutManifest('revert', V1, SEED_STEPS));
    const stable = (await healthyOn('revert')).stableRevision as string;
    await setImage('revert', V2);
    const paused = await waitFor('revert', 'paused at 20%', (s) => s.currentStepIndex === 1 && s.phase === 'Paused');
    const canary = paused.currentRevision as string;
    await setImage('revert', V1);
    const back = await healthyOn('revert');
    expect(back.stableRevision).toBe(stable);
    await sizes('revert', stable, canary, { stable: 10, canary: 0 });
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=revert' });
    expect(events.items.some((e) => /revert|stable/i.test(`${e.reason} ${e.message}`) && e.reason !== 'RolloutAborted')).toBe(true);
  });

  it('supersedes a canary when the template changes again mid-canary', async () => {
    await apply(rolloutManifest('supersede', V1, SEED_STEPS));
    const stable = (await healthyOn('supersede')).stableRevision as string;
    await setImage('supersede', V2);
    const first = await waitFor('supersede', 'v2 paused at 20%', (s) => s.currentStepIndex === 1 && s.phase === 'Paused');
    const v2 = first.currentRevision as string;
    await setImage('supersede', V3);
    const second = await waitFor('supersede', 'v3 paused at 20%', (s) => s.currentRevision !== v2 && s.currentStepIndex === 1 && s.phase === 'Paused');
    const v3 = second.currentRevision as string;
    expect(v3).not.toBe(stable);
    expect(second.stableRevision).toBe(stable);
    await sizes('supersede', stable, v3, { stable: 8, canary: 2 });
    expect((await replicaSets('supersede')).get(v2)?.replicas).toBe(0);
  });

  it('keeps a timed pause deadline across a SIGKILL of the controller (±2 s)', async () => {
    const steps: Steps = { steps: [{ setWeight: 20 }, { pause: { duration: '20s' } }, { setWeight: 60 }, { pause: {} }] };
    await apply(rolloutManifest('restart', V1, steps, 5));
    await healthyOn('restart');
    // Every status write, in order.
    const writes = await recordWatch<{ status?: RolloutStatus }>(`/apis/fledge.dev/v1alpha1/namespaces/${ns.name}/rollouts`, { fieldSelector: 'metadata.name=restart' });
    await setImage('restart', V2);
    const paused = await waitFor('restart', 'paused at step 1', (s) => s.currentStepIndex === 1 && s.pauseStartTime !== undefined);
    const deadline = new Date(paused.pauseStartTime as string).getTime() + 20_000;

    await new Promise((r) => setTimeout(r, 3000));
    await controller.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    controller = await startController(ns.name);

    await waitFor('restart', 'step 2 reached', (s) => (s.currentStepIndex ?? 0) >= 2, 60_000);
    // The first write past the pause, after the writes in it (the Healthy status before the canary counts steps done
    // too). Its Paused condition turned False when the controller ended the pause: the controller's own clock.
    const statuses = (await writes.stop()).map((r) => r.status ?? {});
    const lastInPause = statuses.findLastIndex((s) => s.currentStepIndex === 1 && s.pauseStartTime !== undefined);
    const left = statuses.find((s, i) => i > lastInPause && (s.currentStepIndex ?? 0) >= 2);
    const paused2 = left?.conditions?.find((c) => c.type === 'Paused');
    expect(paused2?.status, 'the Paused condition of the write that left the pause').toBe('False');
    const advanced = Date.parse(paused2?.lastTransitionTime as string);
    expect(advanced, 'the pause never ends early').toBeGreaterThanOrEqual(deadline);
    expect(advanced - deadline).toBeLessThanOrEqual(2000);
  });

  it('restarts every pod through spec.restartAt without starting a canary', async () => {
    await apply(rolloutManifest('restart-pods', V1, SEED_STEPS, 3));
    const stable = (await healthyOn('restart-pods')).stableRevision as string;
    const podNames = async (): Promise<string[]> =>
      (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `app=restart-pods` })).items
        .filter((p) => p.metadata?.deletionTimestamp === undefined)
        .map((p) => p.metadata?.name ?? '')
        .sort();
    const before = await podNames();
    expect(before).toHaveLength(3);

    // Creation timestamps have second precision: ask for a restart at least a second after the pods started.
    await new Promise((r) => setTimeout(r, 1100));
    const restartAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const res = await kubectl(['patch', 'rollout', 'restart-pods', '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { restartAt } })]);
    expect(res.code, res.stderr).toBe(0);
    const done = await waitFor('restart-pods', 'restartedAt recorded', (s) => s.restartedAt === restartAt);
    expect(done.stableRevision).toBe(stable);
    expect(done.currentRevision).toBe(stable);
    const after = await podNames();
    expect(after).toHaveLength(3);
    expect(after.filter((name) => before.includes(name))).toEqual([]);
    await healthyOn('restart-pods');
  });

  it('refuses an invalid Rollout at apply time with a clear message', async () => {
    const badWeight = rolloutManifest('bad-weight', V1, { steps: [{ setWeight: 150 }] });
    const weight = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: badWeight });
    expect(weight.code).not.toBe(0);
    expect(weight.stderr).toMatch(/setWeight/);
    expect(weight.stderr).toMatch(/100/);

    const badSelector = canaryRollout('bad-selector', { replicas: 10, image: V1, canary: SEED_STEPS });
    badSelector.spec.selector.matchLabels = { app: 'other' };
    const selector = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(badSelector) });
    expect(selector.code).not.toBe(0);
    expect(selector.stderr).toMatch(/selector/i);

    const twoActions = rolloutManifest('bad-step', V1, { steps: [{ setWeight: 20, pause: {} }] });
    const step = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: twoActions });
    expect(step.code).not.toBe(0);
    expect(step.stderr).toMatch(/exactly one/i);

    const badDuration = rolloutManifest('bad-duration', V1, { steps: [{ pause: { duration: '5 minutes' } }] });
    const duration = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: badDuration });
    expect(duration.code).not.toBe(0);
    expect(duration.stderr).toMatch(/duration/);

    const oneService = rolloutManifest('one-service', V1, { steps: [{ setWeight: 20 }], stableService: 'web', canaryService: 'web' });
    const shared = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: oneService });
    expect(shared.code).not.toBe(0);
    expect(shared.stderr).toMatch(/stableService and canaryService must be different Services/);

    // spec.replicas is defaulted by the apiserver, so the scale subresource (an HPA) always reads a number.
    const unsized = canaryRollout('unsized', { replicas: 10, image: V1, canary: SEED_STEPS });
    delete unsized.spec.replicas;
    await apply(JSON.stringify(unsized));
    const scale = await kubectl(['get', '--raw', `/apis/fledge.dev/v1alpha1/namespaces/${ns.name}/rollouts/unsized/scale`]);
    expect(scale.code, scale.stderr).toBe(0);
    expect((JSON.parse(scale.stdout) as { spec: { replicas: number } }).spec.replicas).toBe(1);

    await apply(rolloutManifest('immutable', V1, SEED_STEPS, 1));
    const moved = { spec: { selector: { matchLabels: { app: 'immutable', tier: 'web' } }, template: { metadata: { labels: { app: 'immutable', tier: 'web' } } } } };
    const immutable = await kubectl(['patch', 'rollout', 'immutable', '-n', ns.name, '--type=merge', '-p', JSON.stringify(moved)]);
    expect(immutable.code).not.toBe(0);
    expect(immutable.stderr).toMatch(/selector is immutable/);
  });
});
