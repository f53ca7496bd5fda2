import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobName } from '../../src/analysis/providers/job.js';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, holdsFor, installCrds, kubectl, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/**
 * The job provider on the real control plane. kwok runs no containers: test/harness/kwok-stages.yaml makes a Job's Pod
 * succeed, fail (annotation fledge.test/job-outcome: fail) or run until deleted (hold), and the real Job controller
 * turns that into the Job's Complete or Failed condition.
 */
describe('analysis with the job provider', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let batch: k8s.BatchV1Api;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('analysis-job');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    batch = kc.makeApiClient(k8s.BatchV1Api);
    controller = await startController(ns.name);
    await apply((['pass', 'fail', 'hold'] as const).map((outcome) => template(outcome)).join('---\n'));
  });
  afterAll(async (ctx) => {
    await controller.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-30_000)}\n`);
    await ns.remove();
  });

  function template(outcome: 'pass' | 'fail' | 'hold'): string {
    const annotations = outcome === 'pass' ? '{}' : `{fledge.test/job-outcome: ${outcome}}`;
    return `apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke-${outcome}}
spec:
  args: [{name: service}]
  metrics:
  - name: smoke
    provider:
      job:
        metadata: {labels: {team: shop}}
        spec:
          backoffLimit: 0
          template:
            metadata: {annotations: ${annotations}}
            spec:
              restartPolicy: Never
              containers: [{name: smoke, image: curl, args: ['http://{{args.service}}/healthz']}]
`;
  }
  function rollout(name: string, outcome: 'pass' | 'fail' | 'hold'): string {
    return `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template: {metadata: {labels: {app: ${name}}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis:
          templates: [{templateName: smoke-${outcome}}]
          args: [{name: service, value: ${name}-canary}]
      - setWeight: 100
`;
  }
  async function apply(text: string): Promise<void> {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  }
  const status = async (name: string): Promise<RolloutStatus> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus }).status ?? {};
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> =>
    eventually(`${name}: ${what}`, async () => {
      const s = await status(name);
      return check(s) ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
  const analysisRun = async (name: string): Promise<AnalysisRun> =>
    (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', name })) as AnalysisRun;
  const jobsOf = async (run: AnalysisRun): Promise<k8s.V1Job[]> =>
    (await batch.listNamespacedJob({ namespace: ns.name, labelSelector: `fledge.dev/analysis-run-uid=${run.metadata.uid}` })).items;
  /** Starts a canary of `name` and waits for its analysis step's run. */
  async function canaryAtAnalysis(name: string, outcome: 'pass' | 'fail' | 'hold'): Promise<AnalysisRun> {
    await apply(rollout(name, outcome));
    await waitFor(name, 'Healthy', (s) => s.phase === 'Healthy');
    const patched = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'app', image: 'demo:v2' }] } } } })]);
    expect(patched.code, patched.stderr).toBe(0);
    const analyzing = await waitFor(name, 'analysis step', (s) => s.stepAnalysisRun !== undefined);
    return analysisRun(analyzing.stepAnalysisRun as string);
  }

  it('a Job that completes is a Successful measurement, and the canary is promoted', async () => {
    const run = await canaryAtAnalysis('passing', 'pass');
    const promoted = await waitFor('passing', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision && s.stepAnalysisRun === undefined);
    expect(promoted.currentStepIndex).toBe(3);
    const finished = await analysisRun(run.metadata.name as string);
    expect(finished.status?.phase).toBe('Successful');
    const measurement = finished.status?.metricResults?.[0]?.measurements[0];
    expect(measurement).toMatchObject({ phase: 'Successful', message: `Job ${jobName(run.metadata.name as string, 'smoke', 0)} completed` });
    const [job] = await jobsOf(run);
    expect(job?.metadata?.labels?.team).toBe('shop');
    expect(job?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'AnalysisRun', name: run.metadata.name, uid: run.metadata.uid, controller: true })]);
    expect(job?.spec?.template.spec?.containers[0]?.args).toEqual(['http://passing-canary/healthz']);
    const created = job?.metadata?.creationTimestamp as Date;
    const completed = job?.status?.completionTime as Date;
    const recorded = Date.parse(measurement?.finishedAt ?? '');
    process.stderr.write(
      `job provider: Job created → measurement recorded ${recorded - created.getTime()} ms; Job complete → recorded ${recorded - completed.getTime()} ms (timestamps in whole seconds)\n`,
    );
  });

  it('a Job that fails is a Failed measurement: the run fails and the Rollout aborts', async () => {
    const run = await canaryAtAnalysis('failing', 'fail');
    const aborted = await waitFor('failing', 'aborted', (s) => s.phase === 'Degraded');
    expect(aborted.abort).toBe(true);
    expect(aborted.message).toMatch(/analysis failed .*metric smoke failed/);
    expect(aborted.message).toContain(`Job ${jobName(run.metadata.name as string, 'smoke', 0)} failed: BackoffLimitExceeded`);
    const finished = await analysisRun(run.metadata.name as string);
    expect(finished.status?.metricResults?.[0]).toMatchObject({ phase: 'Failed', failed: 1, count: 1 });
  });

  it('a restarted controller resumes the running Job; terminating the run deletes it, and with no success measured it is Inconclusive', async () => {
    const run = await canaryAtAnalysis('holding', 'hold');
    const [job] = await eventually('the Job is running', async () => {
      const jobs = await jobsOf(run);
      return jobs.length === 1 && (jobs[0]?.status?.active ?? 0) > 0 ? jobs : undefined;
    });
    expect((await analysisRun(run.metadata.name as string)).status?.metricResults?.[0]?.inProgress?.metadata).toEqual({ job: job?.metadata?.name });
    // A restarted controller resumes the Job it started rather than creating another.
    await controller.kill();
    controller = await startController(ns.name);
    await eventually('the new controller is reconciling', async () => (controller.output().includes('"reconciling"') ? true : undefined));
    await holdsFor(
      2_000,
      async () => {
        expect((await jobsOf(run)).map((j) => j.metadata?.uid)).toEqual([job?.metadata?.uid]);
      },
      { what: 'the one Job the first controller started' },
    );
    const abort = await kubectl(['patch', 'rollout', 'holding', '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
    expect(abort.code, abort.stderr).toBe(0);
    await waitFor('holding', 'aborted', (s) => s.phase === 'Degraded');
    await eventually('the Job is deleted', async () => ((await jobsOf(run)).length === 0 ? true : undefined));
    const finished = await eventually('the run is terminated', async () => {
      const current = await analysisRun(run.metadata.name as string);
      return current.status?.phase === 'Inconclusive' ? current : undefined;
    });
    expect(finished.status?.metricResults?.[0]).toMatchObject({ phase: 'Inconclusive', count: 0 });
    expect(finished.status?.metricResults?.[0]?.inProgress).toBeUndefined();
  });
});
