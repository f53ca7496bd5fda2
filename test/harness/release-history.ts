// A Rollout with a past: a good release promoted, then a bad one the live analysis aborted, in Prometheus and in
// AnalysisRuns. For the backtests, which replay that past.
import * as k8s from '@kubernetes/client-node';
import { expect } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { eventually, kubectl, prometheusUrl, testKubeConfig } from './e2e.js';

/**
 * The whole namespace's success ratio: 1 while every pod is good, about 0.95 while one pod in four or five runs a
 * `-bad` image (20% errors). So the history shows a good phase, then a bad one, whatever the pods' hashes.
 */
const successRatio = (namespace: string): string =>
  `sum(rate(http_requests_total{namespace="${namespace}",code!~"5.."}[10s])) / sum(rate(http_requests_total{namespace="${namespace}"}[10s]))`;

export const historyTemplate = (threshold: number): string => `apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: namespace-success}
spec:
  args: [{name: namespace}]
  metrics:
  - name: success-rate
    initialDelay: 3s
    interval: 3s
    count: 6
    successCondition: result >= ${threshold}
    provider:
      prometheus:
        query: ${successRatio('{{args.namespace}}')}
`;

const rollout = `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: history}
spec:
  replicas: 4
  selector: {matchLabels: {app: history}}
  template: {metadata: {labels: {app: history}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: namespace-success}]
          args: [{name: namespace, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}]
      - setWeight: 100
`;

export interface ReleaseHistory {
  goodRun: AnalysisRun;
  badRun: AnalysisRun;
  /** When the bad image was set: windows that end before it saw only good pods. */
  badImageAt: number;
}

/**
 * Rollout `history` in `namespace` (a controller and the workload simulator must be running there): v1, then v2
 * promoted by its analysis, then v3-bad aborted by it. Returns once Prometheus has scraped past the failure.
 */
export async function recordReleaseHistory(namespace: string): Promise<ReleaseHistory> {
  const custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const rollouts = { group: 'fledge.dev', version: 'v1alpha1', namespace, plural: 'rollouts', name: 'history' };
  const waitFor = (what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> =>
    eventually(`history: ${what}`, async () => {
      const s = ((await custom.getNamespacedCustomObject(rollouts)) as { status?: RolloutStatus }).status ?? {};
      // Thrown rather than undefined, so a timeout says where the Rollout was.
      if (!check(s)) throw new Error(`phase ${s.phase ?? 'none'}: ${s.message ?? ''}`);
      return s;
    }, { timeoutMs: 120_000, intervalMs: 250 });
  const run = async (args: string[], input?: string): Promise<void> => {
    const res = await kubectl(args, input === undefined ? {} : { input });
    expect(res.code, res.stderr).toBe(0);
  };
  const setImage = (image: string): Promise<void> =>
    run(['patch', 'rollout', 'history', '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'app', image }] } } } })]);

  await run(['apply', '-n', namespace, '-f', '-'], `${historyTemplate(0.99)}---\n${rollout}`);
  const first = await waitFor('Healthy', (s) => s.phase === 'Healthy');
  // v2's analysis starts 3 s after its weight is set; on a loaded machine Prometheus may not yet have two scrapes of
  // v1's pods by then, and a no-data measurement would hold v2 as Inconclusive instead of promoting it.
  await eventually('Prometheus has the success ratio of v1', async () => {
    const answer = (await fetch(`${prometheusUrl()}/api/v1/query?query=${encodeURIComponent(successRatio(namespace))}`).then((r) => r.json())) as {
      data?: { result?: Array<{ value?: [number, string] }> };
    };
    return answer.data?.result?.[0]?.value?.[1] === '1' ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  await setImage('demo:v2');
  await waitFor('v2 promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
  // Long enough that the 10 s rate window only sees v2 before the bad image arrives.
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  const badImageAt = Date.now();
  await setImage('demo:v3-bad');
  await waitFor('v3-bad aborted', (s) => s.phase === 'Degraded');
  const runs = ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace, plural: 'analysisruns', labelSelector: 'fledge.dev/rollout=history' })) as {
    items: AnalysisRun[];
  }).items;
  const goodRun = runs.find((r) => r.status?.phase === 'Successful');
  const badRun = runs.find((r) => r.status?.phase === 'Failed');
  expect(goodRun, 'the good release passed live').toBeDefined();
  expect(badRun, 'the bad release failed live').toBeDefined();
  // Prometheus has scraped past the failure before anything reads it back.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return { goodRun: goodRun as AnalysisRun, badRun: badRun as AnalysisRun, badImageAt };
}
