import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, kubectl, serviceAccountKubeconfig, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/** A self-signed CA that signed nothing the apiserver serves. */
function unrelatedCa(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fledge-wrong-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=not-the-cluster-ca'], {
    cwd: dir,
    stdio: 'ignore',
  });
  return readFileSync(join(dir, 'ca.crt'), 'utf8');
}

const rolloutManifest = (name: string): string =>
  JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } },
      strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
    },
  });

describe('control plane: caches', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('ctl');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: rolloutManifest('web') });
    expect(applied.code, applied.stderr).toBe(0);
  });
  afterAll(async (ctx) => {
    await Promise.all(controllers.map((controller) => controller.kill()));
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await ns.remove();
  });

  const statusOf = async (name: string): Promise<RolloutStatus | undefined> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus })
      .status;
  const readyz = async (controller: ControllerProcess): Promise<number> => {
    const base = await eventually('health url', async () => controller.healthUrl());
    return (await axios.get(`${base}/readyz`, { validateStatus: () => true, timeout: 2_000 })).status;
  };
  /** Polls /readyz for `ms`: every answer, and whether the process stayed up. */
  const watchReadiness = async (controller: ControllerProcess, ms: number): Promise<number[]> => {
    const answers: number[] = [];
    const until = Date.now() + ms;
    while (Date.now() < until) {
      expect(controller.exited(), 'the controller keeps running').toBe(false);
      answers.push(await readyz(controller));
      await new Promise((r) => setTimeout(r, 200));
    }
    return answers;
  };

  it('does not trust an apiserver its CA did not sign: /readyz stays 503, nothing is reconciled, nothing crashes', async () => {
    const kubeconfig = await serviceAccountKubeconfig('fledge-controller', 'fledge-system', { caData: unrelatedCa() });
    const controller = await startController(ns.name, [], { kubeconfig });
    controllers.push(controller);
    const answers = await watchReadiness(controller, 8_000);
    expect(answers.length).toBeGreaterThan(10);
    expect(new Set(answers)).toEqual(new Set([503]));
    const output = controller.output();
    expect(output).toMatch(/"msg":"informer stopped; restarting".*certificate/);
    expect(output).toContain('"msg":"waiting for caches to sync; not reconciling"');
    expect(output).not.toContain('"msg":"caches synced"');
    expect(output).not.toContain('"msg":"reconciling"');
    expect(await statusOf('web')).toBeUndefined();
    await controller.kill();
  });

  it('does not reconcile while one cache cannot list (no RBAC for Services): no status, no ReplicaSet, and says which cache it waits for', async () => {
    // The deploy/ rules for the namespaced resources, minus Services.
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'fledge-no-services' },
      rules: [
        { apiGroups: ['fledge.dev'], resources: ['rollouts', 'analysisruns', 'analysistemplates'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['fledge.dev'], resources: ['rollouts/status', 'analysisruns/status'], verbs: ['patch'] },
        { apiGroups: ['fledge.dev'], resources: ['analysisruns'], verbs: ['create', 'patch', 'delete'] },
        { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'fledge-no-services' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'fledge-no-services' },
      subjects: [{ kind: 'ServiceAccount', name: 'fledge-no-services', namespace: ns.name }],
    };
    const sa = await kubectl(['create', 'serviceaccount', 'fledge-no-services', '-n', ns.name]);
    expect(sa.code, sa.stderr).toBe(0);
    const rbac = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }) });
    expect(rbac.code, rbac.stderr).toBe(0);
    const kubeconfig = await serviceAccountKubeconfig('fledge-no-services', ns.name);
    const controller = await startController(ns.name, ['--no-cluster-templates'], { kubeconfig });
    controllers.push(controller);
    const answers = await watchReadiness(controller, 8_000);
    expect(new Set(answers)).toEqual(new Set([503]));
    const output = controller.output();
    expect(output).toMatch(/"msg":"waiting for caches to sync; not reconciling".*"informers":\["services"\]/);
    expect(output).not.toContain('"msg":"reconciling"');
    expect(await statusOf('web')).toBeUndefined();
    expect((await apps.listNamespacedReplicaSet({ namespace: ns.name })).items).toEqual([]);
    await controller.kill();
  });

  it('with a kubeconfig it can use, is ready once every cache has listed, and only then reconciles', async () => {
    const startedAt = Date.now();
    const controller = await startController(ns.name);
    controllers.push(controller);
    await eventually('ready', async () => ((await readyz(controller).catch(() => 0)) === 200 ? true : undefined), { intervalMs: 50 });
    const readyMs = Date.now() - startedAt;
    const status = await eventually('web Healthy', async () => {
      const s = await statusOf('web');
      return s?.phase === 'Healthy' ? s : undefined;
    });
    expect(status.observedGeneration).toBe(1);
    const output = controller.output();
    const loggedAt = (msg: string): number => {
      const line = output.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
      return line === undefined ? NaN : Date.parse((JSON.parse(line) as { time: string }).time);
    };
    const syncMs = loggedAt('caches synced') - loggedAt('serving metrics and probes');
    process.stderr.write(`caches: synced ${syncMs} ms after the probes were served; /readyz 200 ${readyMs} ms after the process was spawned\n`);
    expect(syncMs).toBeGreaterThanOrEqual(0);
    expect(output.indexOf('"msg":"caches synced"')).toBeGreaterThan(-1);
    expect(output.indexOf('"msg":"caches synced"')).toBeLessThan(output.indexOf('"msg":"reconciling"'));
  });

  it('caches only the Services a Rollout names, labelled when first pointed at a revision, not every Service in the namespace', async () => {
    const controller = controllers.at(-1) as ControllerProcess;
    const service = (name: string): object => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }] } });
    const unrelated = Array.from({ length: 25 }, (_, i) => service(`unrelated-${i}`));
    const created = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...unrelated, service('shop-stable'), service('shop-canary')] }) });
    expect(created.code, created.stderr).toBe(0);
    const manifest = JSON.parse(rolloutManifest('shop')) as { spec: { strategy: { canary: Record<string, unknown> } } };
    manifest.spec.strategy.canary.stableService = 'shop-stable';
    manifest.spec.strategy.canary.canaryService = 'shop-canary';
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(applied.code, applied.stderr).toBe(0);
    const healthy = await eventually('shop Healthy', async () => {
      const s = await statusOf('shop');
      return s?.phase === 'Healthy' ? s : undefined;
    });
    const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    for (const name of ['shop-stable', 'shop-canary']) {
      const svc = await core.readNamespacedService({ name, namespace: ns.name });
      expect(svc.metadata?.labels?.['fledge.dev/rollout']).toBe('shop');
      expect(svc.spec?.selector?.['fledge.dev/pod-template-hash']).toBe(healthy.stableRevision);
    }
    const metricsUrl = await eventually('metrics url', async () => controller.metricsUrl());
    const cached = await eventually('the two named Services cached', async () => {
      const text = (await axios.get<string>(metricsUrl, { responseType: 'text' })).data;
      const count = Number(/fledge_cache_objects\{informer="services"\} (\d+)/.exec(text)?.[1]);
      return count === 2 ? count : undefined;
    });
    process.stderr.write(`caches: ${cached} Services cached out of ${unrelated.length + 2} in the namespace\n`);
  });
});
