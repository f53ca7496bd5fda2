import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Rollout } from '../../../src/api/rollout.js';
import { configContentHash, configCopyName } from '../../../src/rollout/config/tracking.js';
import { podTemplateHash } from '../../../src/rollout/decide/revision.js';
import { makeRollout } from './fake-cluster.js';
import { reconcilerOn } from './fake-reconciler.js';

/** The api Rollout with its pods reading ConfigMap `settings` (a volume) and Secret `creds` (envFrom). */
function readingConfig(configTracking?: { enabled: boolean }): Rollout {
  const rollout = makeRollout({ replicas: 2, steps: [{ setWeight: 50 }, { pause: {} }] });
  rollout.spec.template.spec = {
    containers: [{ name: 'api', image: 'api:1', envFrom: [{ secretRef: { name: 'creds' } }] }],
    volumes: [{ name: 'settings', configMap: { name: 'settings' } }],
  };
  if (configTracking) rollout.spec.configTracking = configTracking;
  return rollout;
}

const settings = (greeting: string): object => ({ metadata: { name: 'settings', namespace: 'shop' }, data: { greeting } });
const creds = { metadata: { name: 'creds', namespace: 'shop' }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } };

interface ReadSpec {
  volumes: Array<{ configMap: { name: string } }>;
  containers: Array<{ envFrom: Array<{ secretRef: { name: string } }> }>;
}
const readsOf = (rs: k8s.V1ReplicaSet | undefined): { configMap?: string; secret?: string } => {
  const spec = rs?.spec?.template?.spec as ReadSpec | undefined;
  return { configMap: spec?.volumes[0]?.configMap.name, secret: spec?.containers[0]?.envFrom[0]?.secretRef.name };
};

describe('RolloutReconciler with config tracking', () => {
  it('creates immutable, owned copies before the ReplicaSet that reads them, and reads content again only when it moves', async () => {
    const { kube, step, status } = reconcilerOn(readingConfig());
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', creds);
    await step();
    const revision = status().currentRevision;
    const rs = kube.get<k8s.V1ReplicaSet>('replicasets', 'shop', `api-${revision}`);
    const copyName = configCopyName('settings', configContentHash('api', { data: { greeting: 'hello' } }));
    expect(readsOf(rs)).toEqual({ configMap: copyName, secret: configCopyName('creds', configContentHash('api', creds)) });
    const copy = kube.get<k8s.V1ConfigMap>('configmaps', 'shop', copyName);
    expect(copy?.data).toEqual({ greeting: 'hello' });
    expect(copy?.immutable).toBe(true);
    expect(copy?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Rollout', name: 'api', uid: 'uid-1', controller: true })]);
    const sourceVersion = kube.get<k8s.V1ConfigMap>('configmaps', 'shop', 'settings')?.metadata?.resourceVersion;
    expect(copy?.metadata?.labels).toEqual({ 'fledge.dev/rollout': 'api', 'fledge.dev/config-copy-of': 'settings', 'fledge.dev/config-source-version': sourceVersion });
    const secretCopy = kube.get<k8s.V1Secret>('secrets', 'shop', configCopyName('creds', configContentHash('api', creds)));
    expect(secretCopy).toMatchObject({ type: 'Opaque', data: creds.data, immutable: true });
    const copyCreates = kube.writes.filter((w) => w.verb === 'create' && (w.kind === 'configmaps' || w.kind === 'secrets'));
    const rsCreate = kube.writes.findIndex((w) => w.verb === 'create' && w.kind === 'replicasets');
    expect(copyCreates).toHaveLength(2);
    expect(kube.writes.indexOf(copyCreates[1] as (typeof kube.writes)[number])).toBeLessThan(rsCreate);

    // Unchanged sources: the same revision, and no more reads.
    const reads = kube.configReads.length;
    await step();
    await step();
    expect(status().currentRevision).toBe(revision);
    expect(kube.configReads.length).toBe(reads);
  });

  it('after a restart, reads no content it already copied: the copies say which source version they hold', async () => {
    const { kube, start, step, status } = reconcilerOn(readingConfig());
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', creds);
    await step();
    const revision = status().currentRevision;
    const restarted = start();
    kube.sync();
    const reads = kube.configReads.length;
    await restarted.reconcile('shop/api');
    expect(kube.configReads.length).toBe(reads);
    expect(status().currentRevision).toBe(revision);
    // A source that moved since is read again.
    kube.put('configmaps', settings('hola'));
    kube.sync();
    await restarted.reconcile('shop/api');
    expect(kube.configReads.slice(reads)).toEqual(['configmaps/settings', 'configmaps/settings']);
  });

  it('makes a deleted copy of the current revision again, from the source', async () => {
    const { kube, step } = reconcilerOn(readingConfig());
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', creds);
    await step();
    const copyName = configCopyName('settings', configContentHash('api', { data: { greeting: 'hello' } }));
    kube.remove('configmaps', 'shop', copyName);
    await step();
    expect(kube.get<k8s.V1ConfigMap>('configmaps', 'shop', copyName)?.data).toEqual({ greeting: 'hello' });
  });

  it('new content is a new revision: a canary on a new copy, the stable ReplicaSet still on the old one', async () => {
    const { kube, step, status } = reconcilerOn(readingConfig());
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', creds);
    await step();
    await step();
    const stable = status().stableRevision;
    expect(stable).toBe(status().currentRevision);
    kube.put('configmaps', settings('hola'));
    await step();
    await step();
    const canary = status().currentRevision;
    expect(canary).not.toBe(stable);
    expect(status().stableRevision).toBe(stable);
    const stableReads = readsOf(kube.get('replicasets', 'shop', `api-${stable}`));
    const canaryReads = readsOf(kube.get('replicasets', 'shop', `api-${canary}`));
    expect(stableReads.configMap).toBe(configCopyName('settings', configContentHash('api', { data: { greeting: 'hello' } })));
    expect(canaryReads.configMap).toBe(configCopyName('settings', configContentHash('api', { data: { greeting: 'hola' } })));
    expect(canaryReads.secret).toBe(stableReads.secret);
    expect(kube.get<k8s.V1ConfigMap>('configmaps', 'shop', stableReads.configMap ?? '')?.data).toEqual({ greeting: 'hello' });
  });

  it('deletes a copy once no ReplicaSet reads it, and keeps the ones in use', async () => {
    const rollout = readingConfig();
    rollout.spec.revisionHistoryLimit = 0;
    rollout.spec.strategy.canary.steps = [];
    const { kube, step } = reconcilerOn(rollout);
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', creds);
    for (let i = 0; i < 3; i++) await step();
    const oldCopy = configCopyName('settings', configContentHash('api', { data: { greeting: 'hello' } }));
    kube.put('configmaps', settings('hola'));
    for (let i = 0; i < 8 && kube.get('configmaps', 'shop', oldCopy) !== undefined; i++) await step();
    expect(kube.get('configmaps', 'shop', oldCopy)).toBeUndefined();
    expect(kube.get('configmaps', 'shop', configCopyName('settings', configContentHash('api', { data: { greeting: 'hola' } })))).toBeDefined();
    expect(kube.get('secrets', 'shop', configCopyName('creds', configContentHash('api', creds)))).toBeDefined();
    // The sources themselves are never touched.
    expect(kube.writes.filter((w) => w.name === 'settings' || w.name === 'creds')).toEqual([]);
  });

  it('holds a Rollout whose required ConfigMap is missing: no ReplicaSet, a condition and an Event naming it', async () => {
    const { kube, step, status } = reconcilerOn(readingConfig());
    kube.put('secrets', creds);
    await step();
    expect(kube.writes.filter((w) => w.kind === 'replicasets')).toEqual([]);
    const condition = status().conditions?.find((c) => c.reason === 'ConfigSourceMissing');
    expect(condition?.message).toMatch(/^ConfigMap\/settings not found/);
    expect(kube.events.map((e) => e.reason)).toContain('ConfigSourceMissing');
    kube.put('configmaps', settings('hello'));
    await step();
    expect(kube.writes.filter((w) => w.kind === 'replicasets' && w.verb === 'create')).toHaveLength(1);
    expect(status().conditions?.some((c) => c.reason === 'ConfigSourceMissing')).toBe(false);
  });

  it('uses the template as written when the Rollout opts out, or names no config: the revision is what it always was', async () => {
    const optedOut = reconcilerOn(readingConfig({ enabled: false }));
    optedOut.kube.put('configmaps', settings('hello'));
    await optedOut.step();
    expect(optedOut.status().currentRevision).toBe(podTemplateHash(readingConfig().spec.template));
    expect(optedOut.kube.configReads).toEqual([]);

    const plain = makeRollout({ replicas: 2 });
    const withoutConfig = reconcilerOn(plain);
    await withoutConfig.step();
    expect(withoutConfig.status().currentRevision).toBe(podTemplateHash(plain.spec.template));
    expect(withoutConfig.kube.writes.filter((w) => w.kind === 'configmaps' || w.kind === 'secrets')).toEqual([]);
  });

  it('turns a copy the apiserver refuses into a condition naming the source, without the apiserver quoting its content', async () => {
    const { kube, step, status } = reconcilerOn(readingConfig());
    kube.put('configmaps', settings('hello'));
    kube.put('secrets', { ...creds, type: 'kubernetes.io/service-account-token' });
    kube.refuseCreates.set('secrets', 'data[password]: Invalid value: "hunter2"');
    await step();
    const condition = status().conditions?.find((c) => c.reason === 'ConfigCopyRefused');
    expect(condition?.message).toBe(
      'the apiserver refuses a copy of Secret/creds (type kubernetes.io/service-account-token); set spec.configTracking.enabled: false to read it as written',
    );
    expect(kube.writes.filter((w) => w.kind === 'replicasets')).toEqual([]);
    expect(JSON.stringify([status(), kube.events])).not.toContain('hunter2');
  });

  it('never puts Secret content in status or Events', async () => {
    const { kube, step } = reconcilerOn(readingConfig());
    kube.put('secrets', creds);
    kube.put('configmaps', settings('hello'));
    await step();
    const said = JSON.stringify([kube.get('rollouts', 'shop', 'api'), kube.events]);
    expect(said).not.toContain('hunter2');
    expect(said).not.toContain(creds.data.password);
  });
});
