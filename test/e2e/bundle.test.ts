import { describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { controllerSuite, prometheusUrl } from '../harness/e2e.js';
import { recordReleaseHistory } from '../harness/release-history.js';
import { startShippedController } from '../harness/shipped.js';

// What the image runs is the bundle (scripts/bundle-controller.ts), not src/ through tsx, and the way deploy/ runs
// it: the Deployment's args, read-only root, uid 65532, its ServiceAccount's token and memory limit (harness/shipped.ts).
describe('the bundled controller, as the image runs it', () => {
  const suite = controllerSuite('bundle', () => [`--prometheus-address=${prometheusUrl()}`], {
    simulator: true,
    start: (namespace, args) => startShippedController(namespace, { extraArgs: args }),
  });

  it('promotes a good release on its analysis, aborts a bad one to stable, and serves its metrics', async () => {
    const { goodRun, badRun } = await recordReleaseHistory(suite.ns.name);
    expect(goodRun.status?.phase).toBe('Successful');
    expect(badRun.status?.phase).toBe('Failed');

    const rollout = (await suite.custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: suite.ns.name, plural: 'rollouts', name: 'history' })) as {
      status?: RolloutStatus;
    };
    const stable = (await suite.apps.listNamespacedReplicaSet({ namespace: suite.ns.name })).items.filter((rs) => (rs.status?.replicas ?? 0) > 0);
    expect(stable.map((rs) => rs.spec?.template?.spec?.containers[0]?.image)).toEqual(['demo:v2']);
    expect(stable[0]?.metadata?.labels?.['fledge.dev/pod-template-hash']).toBe(rollout.status?.stableRevision);

    const metrics = await fetch(suite.controller.metricsUrl() ?? '').then((r) => r.text());
    expect(metrics).toMatch(/^fledge_rollout_aborts_total\{[^}]*name="history"[^}]*\} 1$/m);
  }, 300_000);
});
