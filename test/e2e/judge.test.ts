import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { BacktestReport } from '../../src/analysis/backtest.js';
import type { AnalysisRun, MetricResult } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { controllerSuite, eventually, kubectl, plugin, prometheusUrl, rolloutStatuses } from '../harness/e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const example = readFileSync(join(repoRoot, 'examples/canary-with-judge.yaml'), 'utf8');

/**
 * The same Rollout as the example, judged instead by the threshold users write today: the canary's error ratio under
 * 5%, three times 10 s apart.
 */
const thresholdTwin = `
apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: errors-under-5-percent}
spec:
  args:
  - name: namespace
  - name: canary-hash
  metrics:
  - name: error-ratio
    initialDelay: 10s
    interval: 10s
    count: 3
    successCondition: result < 0.05
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}",code=~"5.."}[10s]))
          /
          sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s]))
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: orders-threshold}
spec:
  replicas: 4
  selector: {matchLabels: {app: orders-threshold}}
  template: {metadata: {labels: {app: orders-threshold}}, spec: {containers: [{name: orders, image: demo:v1-errors06}]}}
  strategy:
    canary:
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: errors-under-5-percent}]
          args:
          - name: namespace
            valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
          - name: canary-hash
            valueFrom: {podTemplateHashValue: Latest}
      - setWeight: 100
`;

describe('the judge: canary against baseline, on real Prometheus and the workload simulator', () => {
  const suite = controllerSuite('judge', () => ['--prometheus-address', prometheusUrl()], { simulator: true });
  const { custom, apps, apply } = suite;
  const rollouts = () => rolloutStatuses(custom, suite.ns.name);
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> => rollouts().waitFor(name, what, check, 180_000);
  const status = (name: string): Promise<RolloutStatus> => rollouts().status(name);
  const run = async (name: string): Promise<AnalysisRun> =>
    (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: suite.ns.name, plural: 'analysisruns', name })) as AnalysisRun;
  const setImage = async (name: string, image: string): Promise<void> => {
    const patch = { spec: { template: { spec: { containers: [{ name: 'orders', image }] } } } };
    const res = await kubectl(['patch', 'rollout', name, '-n', suite.ns.name, '--type=merge', '-p', JSON.stringify(patch)]);
    expect(res.code, res.stderr).toBe(0);
  };
  const baselines = async (): Promise<k8s.V1ReplicaSet[]> =>
    (await apps.listNamespacedReplicaSet({ namespace: suite.ns.name, labelSelector: 'fledge.dev/rollout=orders,fledge.dev/role=baseline' })).items;
  const resultOf = (analysis: AnalysisRun, metric: string): MetricResult | undefined => analysis.status?.metricResults?.find((r) => r.name === metric);

  it('on a bad day (every version fails 6%), the threshold aborts a good release and the judge promotes it', async () => {
    await apply(example);
    await apply(thresholdTwin);
    const firstJudged = await waitFor('orders', 'Healthy', (s) => s.phase === 'Healthy');
    const firstThreshold = await waitFor('orders-threshold', 'Healthy', (s) => s.phase === 'Healthy');
    await Promise.all([setImage('orders', 'demo:v2-errors06'), setImage('orders-threshold', 'demo:v2-errors06')]);

    const aborted = await waitFor('orders-threshold', 'aborted', (s) => s.phase === 'Degraded');
    expect(aborted.abort).toBe(true);
    expect(aborted.stableRevision).toBe(firstThreshold.stableRevision);
    expect(aborted.message).toMatch(/metric error-ratio failed.*last value 0\.0[5-7]/);

    const analysing = await waitFor('orders', 'judging', (s) => s.stepAnalysisRun !== undefined && s.currentRevision !== firstJudged.stableRevision);
    // Beside the canary, a baseline of the stable template with the canary's one pod.
    const [baseline] = await baselines();
    expect(baseline?.spec?.replicas).toBe(1);
    expect(baseline?.spec?.template?.spec?.containers[0]?.image).toBe('demo:v1-errors06');
    expect(baseline?.spec?.template?.metadata?.labels).toMatchObject({ role: 'baseline', 'fledge.dev/role': 'baseline' });
    const promoted = await waitFor('orders', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision === analysing.currentRevision);
    expect(promoted.abort ?? false).toBe(false);
    await eventually('the baseline removed at the promotion', async () => ((await baselines()).length === 0 ? true : undefined));
    const judged = await run(analysing.stepAnalysisRun as string);
    expect(judged.status?.phase).toBe('Successful');
    const errors = resultOf(judged, 'error-ratio');
    expect(errors).toMatchObject({ phase: 'Successful', successful: 6, failed: 0 });
    expect(errors?.judgement).toMatchObject({ mode: 'sequential', class: 'Pass' });
    // Both sides err at 6%: the judge saw the bad day on the baseline too.
    expect(errors?.judgement?.baseline.mean).toBeGreaterThan(0.05);
    expect(errors?.judgement?.canary.mean).toBeGreaterThan(0.05);
    expect(errors?.judgement?.eValue).toBeLessThan(100);
    const latency = resultOf(judged, 'p90-latency');
    expect(latency?.judgement).toMatchObject({ mode: 'fixed', class: 'Pass' });
    expect(latency?.judgement?.canary.n).toBeGreaterThanOrEqual(20);
    process.stderr.write(`judge, bad day: ${errors?.judgement?.explanation}\njudge, bad day: ${latency?.judgement?.explanation}\n`);
  });

  it('aborts a real regression (6% → 30% errors) on the sequential judge, its verdict explained', async () => {
    const stable = (await status('orders')).stableRevision as string;
    await setImage('orders', 'demo:v3-errors30');
    const analysing = await waitFor('orders', 'judging', (s) => s.stepAnalysisRun !== undefined && s.currentRevision !== stable);
    const aborted = await waitFor('orders', 'aborted', (s) => s.phase === 'Degraded');
    expect(aborted.abort).toBe(true);
    expect(aborted.stableRevision).toBe(stable);
    expect(aborted.message).toMatch(/metric error-ratio failed/);
    const judged = await run(analysing.stepAnalysisRun as string);
    const errors = resultOf(judged, 'error-ratio');
    expect(errors?.judgement).toMatchObject({ mode: 'sequential', class: 'High' });
    expect(errors?.judgement?.eValue).toBeGreaterThanOrEqual(100);
    expect(errors?.judgement?.lower).toBeGreaterThan(1);
    // The anytime-valid test stops at the first look with clear evidence, not at the end of the six.
    expect(errors?.count).toBeLessThan(6);
    await eventually('the baseline removed at the abort', async () => ((await baselines()).length === 0 ? true : undefined));
    process.stderr.write(`judge, regression: aborted after ${errors?.count} looks: ${errors?.judgement?.explanation}\n`);
  });

  it('backtest replays the judge over the Rollout’s own runs: the bad day passes, the regression fails on the look it failed live', async () => {
    const res = await plugin(['backtest', '-n', suite.ns.name, '--prometheus-address', prometheusUrl(), '--rollout', 'orders', '-o', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as BacktestReport;
    const live = await Promise.all(report.windows.map((window) => run(window.label)));
    expect(report.windows.map((window) => window.phase)).toEqual(['Successful', 'Failed']);
    expect(live.map((analysis) => analysis.status?.phase)).toEqual(['Successful', 'Failed']);
    const replayed = report.windows[1]?.metrics.find((metric) => metric.name === 'error-ratio')?.series ?? [];
    const measured = resultOf(live[1] as AnalysisRun, 'error-ratio')?.measurements ?? [];
    // Live, a look is read once its interval has ended and Prometheus has scraped it; a late scrape can move a verdict by one look.
    expect(Math.abs(replayed.findIndex((look) => look.phase === 'Failed') - measured.findIndex((m) => m.phase === 'Failed')), JSON.stringify({ replayed, measured })).toBeLessThanOrEqual(1);
  });
});

