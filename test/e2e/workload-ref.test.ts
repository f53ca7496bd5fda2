import { describe, expect, it } from 'vitest';
import { LABEL_POD_TEMPLATE_HASH } from '../../src/api/labels.js';
import { controllerSuite, eventually, kubectl, rolloutStatuses } from '../harness/e2e.js';

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';

const deploymentManifest = (name: string, image: string, replicas = 3): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  });

const rolloutManifest = (name: string, scaleDown: string): string =>
  JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name, scaleDown },
      strategy: { canary: { steps: [{ setWeight: 33 }, { pause: {} }] } },
    },
  });

describe('workloadRef: a Rollout runs an existing Deployment’s pod template (real control plane)', () => {
  const suite = controllerSuite('workload-ref');
  const { apps, custom, apply } = suite;
  const deploymentReplicas = async (name: string): Promise<number | undefined> => (await apps.readNamespacedDeployment({ name, namespace: suite.ns.name })).spec?.replicas;

  it('progressively: the Deployment shrinks as the Rollout’s pods come up; a template change in the Deployment is a canary', async () => {
    const { waitFor } = rolloutStatuses(custom, suite.ns.name);
    await apply(deploymentManifest('legacy', V1));
    await eventually('the Deployment’s pods available', async () => ((await apps.readNamespacedDeployment({ name: 'legacy', namespace: suite.ns.name })).status?.availableReplicas === 3 ? true : undefined));
    await apply(rolloutManifest('legacy', 'progressively'));
    const healthy = await waitFor('legacy', 'Healthy on the Deployment’s template', (s) => s.phase === 'Healthy' && (s.availableReplicas ?? 0) === 3);
    expect(await eventually('the Deployment scaled to 0', async () => ((await deploymentReplicas('legacy')) === 0 ? 0 : undefined))).toBe(0);
    const rs = await apps.listNamespacedReplicaSet({ namespace: suite.ns.name, labelSelector: `${LABEL_POD_TEMPLATE_HASH}=${healthy.stableRevision}` });
    expect(rs.items[0]?.spec?.template?.spec?.containers[0]?.image).toBe(V1);
    const events = await kubectl(['get', 'events', '-n', suite.ns.name, '--field-selector', 'reason=WorkloadScaledDown', '-o', 'jsonpath={.items[*].message}']);
    expect(events.stdout).toContain('Deployment legacy scaled from 3');

    // The team edits the Deployment as before: the Rollout canaries the change.
    await kubectl(['set', 'image', '-n', suite.ns.name, 'deployment/legacy', `app=${V2}`]);
    const paused = await waitFor('legacy', 'canary paused', (s) => s.phase === 'Paused' && s.currentRevision !== healthy.stableRevision);
    expect(paused.stableRevision).toBe(healthy.stableRevision);
    const canaryRs = await apps.listNamespacedReplicaSet({ namespace: suite.ns.name, labelSelector: `${LABEL_POD_TEMPLATE_HASH}=${paused.currentRevision}` });
    expect(canaryRs.items[0]?.spec?.template?.spec?.containers[0]?.image).toBe(V2);
    expect(canaryRs.items[0]?.spec?.replicas).toBe(1);
    expect(await deploymentReplicas('legacy')).toBe(0);
  });

  it('onsuccess: the Deployment goes to 0 once the Rollout is fully available; a missing Deployment holds the Rollout', async () => {
    const { waitFor } = rolloutStatuses(custom, suite.ns.name);
    await apply(rolloutManifest('late', 'onsuccess'));
    const invalid = await waitFor('late', 'invalid while the Deployment is missing', (s) => s.phase === 'Degraded');
    expect(invalid.message).toContain('workloadRef: Deployment late not found');

    await apply(deploymentManifest('late', V1, 2));
    await waitFor('late', 'Healthy once the Deployment exists', (s) => s.phase === 'Healthy' && (s.availableReplicas ?? 0) === 3);
    expect(await eventually('the Deployment scaled to 0', async () => ((await deploymentReplicas('late')) === 0 ? 0 : undefined))).toBe(0);
  });
});
