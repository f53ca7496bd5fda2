import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/**
 * What GitOps tools read before and while Fledge works: kstatus (Flux, `kubectl wait`) calls an object without status
 * Current, so the CRDs default status to observedGeneration 0, below metadata.generation, until the controller looks.
 */
describe('status as GitOps tools read it, on the real apiserver', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let custom: k8s.CustomObjectsApi;
  let controller: ControllerProcess | undefined;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('gitops-status');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
  });
  afterAll(async () => {
    await controller?.kill();
    await ns?.remove();
  });

  const manifest = (name: string, steps: object[]): string =>
    JSON.stringify({
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } },
        strategy: { canary: { steps } },
      },
    });

  it('a new Rollout or AnalysisRun has observedGeneration 0 before the controller sees it; then the controller takes over', async () => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest('fresh', [{ setWeight: 50 }, { pause: {} }]) });
    expect(applied.code, applied.stderr).toBe(0);
    const fresh = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: 'fresh' })) as {
      metadata: { generation: number };
      status?: { observedGeneration?: number; phase?: string };
    };
    expect(fresh.metadata.generation).toBe(1);
    expect(fresh.status).toEqual({ observedGeneration: 0 });

    const run = await kubectl(['apply', '-n', ns.name, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'fresh-run' }, spec: { metrics: [{ name: 'm', successCondition: 'result > 0', provider: { prometheus: { query: 'up' } } }] } }),
    });
    expect(run.code, run.stderr).toBe(0);
    const freshRun = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', name: 'fresh-run' })) as {
      status?: { observedGeneration?: number };
    };
    expect(freshRun.status).toEqual({ observedGeneration: 0 });

    controller = await startController(ns.name);
    const statuses = rolloutStatuses(custom, ns.name);
    const healthy = await statuses.waitFor('fresh', 'Healthy', (s) => s.phase === 'Healthy');
    expect(healthy.observedGeneration).toBe(1);

    // A paused canary is not done: Reconciling stays True, so `kubectl wait --for=condition=Reconciling=False` waits.
    const patched = await kubectl(['patch', 'rollout', 'fresh', '-n', ns.name, '--type=merge', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}}}']);
    expect(patched.code, patched.stderr).toBe(0);
    const paused = await statuses.waitFor('fresh', 'Paused', (s) => s.phase === 'Paused' && s.observedGeneration === 2);
    expect(paused.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'RolloutPaused' });
    expect(paused.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'False' });
  });
});
