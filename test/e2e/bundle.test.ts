import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bundleController } from '../../scripts/bundle-controller.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, installCrds, prometheusUrl, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { recordReleaseHistory } from '../harness/release-history.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

// What the image runs is the bundle (scripts/bundle-controller.ts), not src/ through tsx: this runs that file.
describe('the bundled controller, as the image runs it', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let simulator: Simulator;

  beforeAll(async () => {
    const main = join(mkdtempSync(join(tmpdir(), 'fledge-bundle-')), 'main.mjs');
    await bundleController(main);
    await installCrds();
    ns = await createTestNamespace('bundle');
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name, ['--prometheus-address', prometheusUrl()], { main });
  }, 120_000);

  afterAll(async (ctx) => {
    await controller?.kill();
    await simulator?.stop();
    if (ctx.tasks.some((t) => t.result?.state !== 'pass')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    await ns?.remove();
  });

  it('promotes a good release on its analysis, aborts a bad one to stable, and serves its metrics', async () => {
    const { goodRun, badRun } = await recordReleaseHistory(ns.name);
    expect(goodRun.status?.phase).toBe('Successful');
    expect(badRun.status?.phase).toBe('Failed');

    const custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const rollout = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: 'history' })) as {
      status?: RolloutStatus;
    };
    const apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    const stable = (await apps.listNamespacedReplicaSet({ namespace: ns.name })).items.filter((rs) => (rs.status?.replicas ?? 0) > 0);
    expect(stable.map((rs) => rs.spec?.template?.spec?.containers[0]?.image)).toEqual(['demo:v2']);
    expect(stable[0]?.metadata?.labels?.['fledge.dev/pod-template-hash']).toBe(rollout.status?.stableRevision);

    const metrics = await fetch(controller.metricsUrl() ?? '').then((r) => r.text());
    expect(metrics).toMatch(/^fledge_rollout_aborts_total\{[^}]*name="history"[^}]*\} 1$/m);
  }, 300_000);
});
