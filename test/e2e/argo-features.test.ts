import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import { convertText } from '../../src/cli/convert.js';
import { LABEL_POD_TEMPLATE_HASH } from '../../src/api/labels.js';
import { controllerSuite, eventually, prometheusUrl, rolloutStatuses } from '../harness/e2e.js';

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';

/** Written as an Argo Rollouts user has it: converted, applied and run, nothing edited by hand. */
const argoManifest = (image: string): string => `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: uploader
  annotations:
    example.com/min-success: "0.95"
spec:
  replicas: 1
  selector:
    matchLabels: {app: uploader}
  template:
    metadata:
      labels: {app: uploader}
    spec:
      containers:
      - name: app
        image: ${image}
  strategy:
    canary:
      canaryMetadata:
        labels: {role: canary}
      stableMetadata:
        labels: {role: stable}
      antiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution: {}
      steps:
      - setWeight: 50
      - analysis:
          templates:
          - templateName: upload-success
          args:
          - name: image
            valueFrom:
              fieldRef:
                fieldPath: spec.template.spec.containers[0].image
          - name: threshold
            valueFrom:
              fieldRef:
                fieldPath: metadata.annotations['example.com/min-success']
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: upload-success
spec:
  args:
  - name: image
  - name: threshold
  - name: count
    value: "2"
  metrics:
  - name: success
    interval: 2s
    count: "{{args.count}}"
    successCondition: result[0] >= {{args.threshold}}
    provider:
      prometheus:
        address: ${prometheusUrl()}
        query: label_replace(vector(0.99), "image", "{{args.image}}", "", "")
`;

describe('Argo Rollouts features, converted and run on the real control plane', () => {
  const suite = controllerSuite('argo-features');
  const { apps, core, custom } = suite;

  const apply = async (image: string): Promise<void> => {
    const converted = convertText('uploader.yaml', argoManifest(image));
    expect(converted.findings.filter((finding) => finding.severity === 'untranslated')).toEqual([]);
    await suite.apply(converted.file.text);
  };
  const pods = async (revision: string): Promise<k8s.V1Pod[]> => (await core.listNamespacedPod({ namespace: suite.ns.name, labelSelector: `${LABEL_POD_TEMPLATE_HASH}=${revision}` })).items;

  it('fieldRef args, a threshold from an argument, antiAffinity and role metadata all act', async () => {
    const { waitFor } = rolloutStatuses(custom, suite.ns.name);
    await apply(V1);
    const first = await waitFor('uploader', 'Healthy on v1', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined);
    const stableRevision = first.stableRevision as string;
    const stableNode = await eventually('the stable pod scheduled', async () => (await pods(stableRevision))[0]?.spec?.nodeName);
    expect((await pods(stableRevision))[0]?.metadata?.labels?.role).toBe('stable');

    await apply(V2);
    const canary = await waitFor('uploader', 'a canary', (s) => s.currentRevision !== stableRevision);
    const canaryRevision = canary.currentRevision as string;
    // The scheduler put the canary's pod on a node the stable pod is not on, because of the term Fledge added.
    const canaryPod = await eventually('the canary pod scheduled', async () => {
      const [pod] = await pods(canaryRevision);
      return pod?.spec?.nodeName !== undefined ? pod : undefined;
    });
    expect(canaryPod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { labelSelector: { matchLabels: { [LABEL_POD_TEMPLATE_HASH]: stableRevision } }, topologyKey: 'kubernetes.io/hostname' },
    ]);
    expect(canaryPod.spec?.nodeName).not.toBe(stableNode);
    expect(canaryPod.metadata?.labels?.role).toBe('canary');

    const done = await waitFor('uploader', 'promoted after the analysis passed', (s) => s.phase === 'Healthy' && s.stableRevision === canaryRevision, 120_000);
    expect(done.stableRevision).toBe(canaryRevision);
    const [run] = ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: suite.ns.name, plural: 'analysisruns' })) as { items: AnalysisRun[] }).items;
    expect(run?.status?.phase).toBe('Successful');
    expect(run?.spec.args).toEqual(expect.arrayContaining([{ name: 'image', value: V2 }, { name: 'threshold', value: '0.95' }]));
    expect(run?.spec.metrics[0]).toMatchObject({ successCondition: 'result[0] >= 0.95', count: 2 });
    expect(run?.status?.metricResults?.[0]?.measurements.map((m) => m.phase)).toEqual(['Successful', 'Successful']);

    // Stable now, the old canary has nothing to keep away from, and its template says stable.
    const promoted = await eventually('the promoted ReplicaSet without the anti-affinity term', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: suite.ns.name, labelSelector: `${LABEL_POD_TEMPLATE_HASH}=${canaryRevision}` });
      const template = list.items[0]?.spec?.template;
      return template?.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution === undefined && template?.metadata?.labels?.role === 'stable' ? template : undefined;
    });
    expect(promoted.metadata?.labels?.role).toBe('stable');
    // The pod that ran as the canary was not replaced: it took the stable role's labels in place.
    const samePod = await core.readNamespacedPod({ name: canaryPod.metadata?.name ?? '', namespace: suite.ns.name });
    expect(samePod.metadata?.labels?.role).toBe('stable');
  });
});
