import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, holdsFor, installCrds, kubectl, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { canaryRollout, type RolloutManifest } from '../harness/manifests.js';
import { startShippedController } from '../harness/shipped.js';

const IMAGE = 'registry.k8s.io/pause:3.9';
/** A value that must never leave the Secret and its copies: not in logs, Events or status. */
const SECRET_VALUE = `s3cr3t-${randomBytes(12).toString('hex')}`;

/** A Rollout whose pods read ConfigMap `settings` (env), `volumeConfigMap` (a volume) and Secret `creds` (envFrom). */
function rolloutManifest(name: string, configTracking?: { enabled: boolean }, volumeConfigMap = 'settings'): RolloutManifest {
  return canaryRollout(name, {
    replicas: 2,
    image: IMAGE,
    canary: { scaleDownDelaySeconds: 0, abortScaleDownDelaySeconds: 0, steps: [{ setWeight: 50 }, { pause: {} }] },
    spec: {
      revisionHistoryLimit: 0,
      ...(configTracking && { configTracking }),
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: IMAGE,
              env: [{ name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'greeting' } } }],
              envFrom: [{ secretRef: { name: 'creds' } }],
              volumeMounts: [{ name: 'settings', mountPath: '/etc/settings' }],
            },
          ],
          volumes: [{ name: 'settings', configMap: { name: volumeConfigMap } }],
        },
      },
    },
  });
}

interface PodSpecRefs {
  volumes?: Array<{ configMap?: { name?: string } }>;
  containers?: Array<{ env?: Array<{ valueFrom?: { configMapKeyRef?: { name?: string } } }>; envFrom?: Array<{ secretRef?: { name?: string } }> }>;
}

/** The ConfigMap and Secret names a pod spec reads, in the three places the test Rollout names them. */
function refsOf(spec: PodSpecRefs | undefined): { volume?: string; env?: string; secret?: string } {
  const container = spec?.containers?.[0];
  return {
    volume: spec?.volumes?.[0]?.configMap?.name,
    env: container?.env?.[0]?.valueFrom?.configMapKeyRef?.name,
    secret: container?.envFrom?.[0]?.secretRef?.name,
  };
}

describe('config tracking on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  /** Every controller process of the suite, in order: a test restarts it. */
  const controllers: ControllerProcess[] = [];
  const output = (): string => controllers.map((c) => c.output()).join('');
  // Debug: the most the controller ever logs is what must hold no Secret value.
  const startDebugController = async (): Promise<void> => void controllers.push(await startShippedController(ns.name, { extraArgs: ['--log-level=debug'] }));
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('config');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await startDebugController();
  });
  afterAll(async (ctx) => {
    for (const controller of controllers) await controller.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${output().slice(-20_000)}\n`);
    await ns.remove();
  });

  const apply = async (manifest: object | string): Promise<void> => {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: typeof manifest === 'string' ? manifest : JSON.stringify(manifest) });
    expect(res.code, res.stderr).toBe(0);
  };
  const settings = (greeting: string): object => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { greeting } });

  const rolloutObject = async (name: string): Promise<{ status?: RolloutStatus }> =>
    (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus };
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> =>
    eventually(
      `${name}: ${what}`,
      async () => {
        const s = (await rolloutObject(name)).status ?? {};
        return check(s) ? s : undefined;
      },
      { timeoutMs: 90_000 },
    );
  const replicaSetOf = async (name: string, revision: string | undefined): Promise<k8s.V1ReplicaSet | undefined> =>
    (await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${name}` })).items.find(
      (rs) => rs.metadata?.labels?.['fledge.dev/pod-template-hash'] === revision,
    );
  const configMapData = async (name: string): Promise<Record<string, string> | undefined> =>
    (await core.readNamespacedConfigMap({ name, namespace: ns.name }).catch(() => undefined))?.data;
  const patchStatus = async (name: string, patch: object): Promise<void> => {
    const res = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: patch })]);
    expect(res.code, res.stderr).toBe(0);
  };

  it('a ConfigMap change is a canary on new copies; an abort keeps the stable pods on the old one; a promotion collects it', async () => {
    await apply(settings('hello'));
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { PASSWORD: SECRET_VALUE } });
    await apply(rolloutManifest('tracked'));
    await apply(rolloutManifest('untracked', { enabled: false }));
    const first = await waitFor('tracked', 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision);
    const untracked = await waitFor('untracked', 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision);

    // The stable ReplicaSet reads content-named copies, owned by the Rollout and immutable, with the sources' data.
    const stable = await replicaSetOf('tracked', first.stableRevision);
    const old = refsOf(stable?.spec?.template?.spec as PodSpecRefs);
    expect(old.volume).toMatch(/^settings-[a-z0-9]{10}$/);
    expect(old.env).toBe(old.volume);
    expect(old.secret).toMatch(/^creds-[a-z0-9]{10}$/);
    const oldCopy = await core.readNamespacedConfigMap({ name: old.volume ?? '', namespace: ns.name });
    expect(oldCopy.data).toEqual({ greeting: 'hello' });
    expect(oldCopy.immutable).toBe(true);
    expect(oldCopy.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Rollout', name: 'tracked' });
    const secretCopy = await core.readNamespacedSecret({ name: old.secret ?? '', namespace: ns.name });
    expect(Buffer.from(secretCopy.data?.PASSWORD ?? '', 'base64').toString()).toBe(SECRET_VALUE);
    // Opted out: the template is used as written.
    expect(refsOf((await replicaSetOf('untracked', untracked.stableRevision))?.spec?.template?.spec as PodSpecRefs)).toEqual({ volume: 'settings', env: 'settings', secret: 'creds' });

    // A change that leaves the content alone (a label), and a controller restart: the same revision, no canary.
    const labelled = await kubectl(['label', 'configmap', 'settings', '-n', ns.name, 'touched=yes']);
    expect(labelled.code, labelled.stderr).toBe(0);
    await (controllers.at(-1) as ControllerProcess).kill();
    await startDebugController();
    await eventually('the restarted controller to reconcile', async () => (/"msg":"reconciling"/.test(controllers.at(-1)?.output() ?? '') ? true : undefined));
    await holdsFor(
      2_000,
      async () => {
        expect((await rolloutObject('tracked')).status).toMatchObject({ phase: 'Healthy', currentRevision: first.stableRevision, stableRevision: first.stableRevision });
        expect((await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'fledge.dev/rollout=tracked' })).items).toHaveLength(1);
      },
      { what: 'the same revision, Healthy, with one ReplicaSet' },
    );

    // New content: a new revision, and a canary on a new copy while the stable ReplicaSet keeps the old one.
    await apply(settings('hola'));
    const canary = await waitFor('tracked', 'a canary paused at 50%', (s) => s.phase === 'Paused' && s.currentRevision !== first.stableRevision);
    expect(canary.stableRevision).toBe(first.stableRevision);
    const fresh = refsOf((await replicaSetOf('tracked', canary.currentRevision))?.spec?.template?.spec as PodSpecRefs);
    expect(fresh.volume).toMatch(/^settings-[a-z0-9]{10}$/);
    expect(fresh.volume).not.toBe(old.volume);
    expect(fresh.secret).toBe(old.secret);
    expect(await configMapData(fresh.volume ?? '')).toEqual({ greeting: 'hola' });
    expect(await configMapData(old.volume ?? '')).toEqual({ greeting: 'hello' });
    expect(refsOf((await replicaSetOf('tracked', first.stableRevision))?.spec?.template?.spec as PodSpecRefs)).toEqual(old);

    // Abort: back to all stable, and the stable pods read the old copy.
    await patchStatus('tracked', { abort: true });
    await waitFor('tracked', 'aborted', (s) => s.phase === 'Degraded' && s.abort === true);
    const stablePods = await eventually('the stable pods back at full count', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `fledge.dev/pod-template-hash=${first.stableRevision}` });
      const live = pods.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
      return live.length === 2 ? live : undefined;
    });
    for (const pod of stablePods) expect(refsOf(pod.spec as PodSpecRefs)).toEqual(old);

    // The opted-out Rollout saw the same change and started nothing.
    const stillUntracked = (await rolloutObject('untracked')).status;
    expect(stillUntracked?.currentRevision).toBe(untracked.currentRevision);
    expect(stillUntracked?.phase).toBe('Healthy');
    expect((await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'fledge.dev/rollout=untracked' })).items).toHaveLength(1);

    // Retry and promote: the new revision becomes stable, the old ReplicaSet goes (revisionHistoryLimit 0), and so does its copy.
    await patchStatus('tracked', { abort: false });
    await waitFor('tracked', 'the canary again', (s) => s.abort !== true && s.currentRevision === canary.currentRevision && s.phase === 'Paused');
    await patchStatus('tracked', { promote: 'full' });
    await waitFor('tracked', 'Healthy on the new revision', (s) => s.phase === 'Healthy' && s.stableRevision === canary.currentRevision);
    await eventually('the old copy to be collected', async () => ((await configMapData(old.volume ?? '')) === undefined ? true : undefined), { timeoutMs: 60_000 });
    expect(await replicaSetOf('tracked', first.stableRevision)).toBeUndefined();
    expect(await configMapData(fresh.volume ?? '')).toEqual({ greeting: 'hola' });
    // The Secret did not change: its copy is still the one in use.
    expect((await core.readNamespacedSecret({ name: old.secret ?? '', namespace: ns.name })).metadata?.name).toBe(old.secret);
  });

  it('holds a Rollout whose ConfigMap does not exist, with a condition naming it, and goes on once it appears', async () => {
    await apply(rolloutManifest('waiting', undefined, 'later'));
    const held = await waitFor('waiting', 'held for its ConfigMap', (s) => s.conditions?.some((c) => c.reason === 'ConfigSourceMissing') === true);
    expect(held.message).toContain('ConfigMap/later not found');
    expect((await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'fledge.dev/rollout=waiting' })).items).toEqual([]);
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' }, data: { greeting: 'late' } });
    const healthy = await waitFor('waiting', 'Healthy once it exists', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision);
    expect(healthy.conditions?.some((c) => c.reason === 'ConfigSourceMissing')).toBe(false);
    const volume = refsOf((await replicaSetOf('waiting', healthy.stableRevision))?.spec?.template?.spec as PodSpecRefs).volume;
    expect(await configMapData(volume ?? '')).toEqual({ greeting: 'late' });
    // Two Rollouts reading one Secret each get their own copy.
    const waitingSecret = refsOf((await replicaSetOf('waiting', healthy.stableRevision))?.spec?.template?.spec as PodSpecRefs).secret;
    const tracked = (await rolloutObject('tracked')).status;
    const trackedSecret = refsOf((await replicaSetOf('tracked', tracked?.stableRevision))?.spec?.template?.spec as PodSpecRefs).secret;
    expect(waitingSecret).toMatch(/^creds-[a-z0-9]{10}$/);
    expect(trackedSecret).toMatch(/^creds-[a-z0-9]{10}$/);
    expect(waitingSecret).not.toBe(trackedSecret);
    // Deleting the Rollout takes its copies with it (the garbage collector follows their ownerReference).
    const deleted = await kubectl(['delete', 'rollout', 'waiting', '-n', ns.name]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually('the copies of a deleted Rollout to go', async () => {
      const left = await core.listNamespacedConfigMap({ namespace: ns.name, labelSelector: 'fledge.dev/rollout=waiting' });
      return left.items.length === 0 ? true : undefined;
    });
    expect(await configMapData('later')).toEqual({ greeting: 'late' });
    await eventually("the deleted Rollout's Secret copy to go", async () =>
      (await core.readNamespacedSecret({ name: waitingSecret ?? '', namespace: ns.name }).catch(() => undefined)) === undefined ? true : undefined,
    );
    expect((await core.readNamespacedSecret({ name: trackedSecret ?? '', namespace: ns.name })).metadata?.name).toBe(trackedSecret);
  });

  it('never writes the Secret value to its log, Events or status', async () => {
    const encoded = Buffer.from(SECRET_VALUE).toString('base64');
    const logged = output();
    expect(logged).toContain('copying config for a new revision');
    expect(logged).toContain('"level":"debug"');
    expect(logged).not.toContain(SECRET_VALUE);
    expect(logged).not.toContain(encoded);
    const events = JSON.stringify((await core.listNamespacedEvent({ namespace: ns.name })).items);
    expect(events).toContain('tracked');
    expect(events).not.toContain(SECRET_VALUE);
    expect(events).not.toContain(encoded);
    const rollouts = JSON.stringify(await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts' }));
    expect(rollouts).not.toContain(SECRET_VALUE);
    expect(rollouts).not.toContain(encoded);
  });
});
