import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { evaluateRun } from '../../../src/analysis/plan.js';
import { buildJob, jobName, jobProgress, jobProvider, LABEL_ANALYSIS_RUN_UID } from '../../../src/analysis/providers/job.js';
import type { MeasureContext } from '../../../src/analysis/providers/provider.js';
import type { AnalysisRun, JobProvider } from '../../../src/api/analysis.js';
import { fakeAnalysisReconciler, FakeKube } from '../fake-kube.js';

const spec: JobProvider['job'] = {
  metadata: { labels: { team: 'shop' }, annotations: { purpose: 'smoke' } },
  spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'smoke', image: 'curl', args: ['{{args.url}}'] }] } } },
};

const context = (index = 0, uid = 'uid-api-run'): MeasureContext => ({
  run: { name: 'api-run', namespace: 'shop', uid },
  metric: { name: 'smoke', provider: { job: spec } },
  index,
  args: { url: 'http://api-canary/healthz' },
  conditions: {},
});

const withConditions = (name: string, ...conditions: Array<[string, string, string?]>): k8s.V1Job => ({
  metadata: { name },
  status: { conditions: conditions.map(([type, status, reason]) => ({ type, status, ...(reason !== undefined && { reason }) })) },
});

describe('job provider: names and verdicts', () => {
  it('names a measurement’s Job <run>-<metric>-<index>, deterministically, a valid name of at most 63 characters', () => {
    expect(jobName('api-run', 'smoke', 0)).toBe('api-run-smoke-0');
    expect(jobName('api-run', 'smoke', 3)).toBe('api-run-smoke-3');
    const long = jobName('checkout-service-canary-analysis-7f9c8d6b5-background', 'end-to-end-smoke-test', 12);
    expect(long).toBe(jobName('checkout-service-canary-analysis-7f9c8d6b5-background', 'end-to-end-smoke-test', 12));
    expect(long).not.toBe(jobName('checkout-service-canary-analysis-7f9c8d6b5-background', 'end-to-end-smoke-test', 13));
    for (const name of [long, jobName('api-run', 'Smoke_Test', 0), jobName('api.run', 'smoke', 0), jobName('r', '__', 0)]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(jobName('api-run', 'Smoke_Test', 0)).not.toBe(jobName('api-run', 'smoke-test', 0));
  });

  it('maps Complete to Successful and Failed to Failed; anything else, FailureTarget included, is still running', () => {
    expect(jobProgress(withConditions('j', ['Complete', 'True']))).toEqual({ phase: 'Done', verdict: { phase: 'Successful', message: 'Job j completed' } });
    expect(jobProgress(withConditions('j', ['FailureTarget', 'True'], ['Failed', 'True', 'BackoffLimitExceeded']))).toEqual({
      phase: 'Done',
      verdict: { phase: 'Failed', message: 'Job j failed: BackoffLimitExceeded' },
    });
    expect(jobProgress(withConditions('j', ['FailureTarget', 'True']))).toEqual({ phase: 'Running', metadata: { job: 'j' } });
    expect(jobProgress(withConditions('j', ['Complete', 'False']))).toEqual({ phase: 'Running', metadata: { job: 'j' } });
    expect(jobProgress({ metadata: { name: 'j' } })).toEqual({ phase: 'Running', metadata: { job: 'j' } });
  });

  it('needs no condition, the Job’s outcome being the verdict, but a condition it is given must still type-check', () => {
    const run = (metric: Record<string, unknown>): AnalysisRun =>
      ({ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'r' }, spec: { metrics: [{ name: 'smoke', provider: { job: spec }, ...metric }] } }) as AnalysisRun;
    expect(evaluateRun(run({}), undefined, 0).status.phase).toBe('Pending');
    expect(evaluateRun(run({ successCondition: 'result >' }), undefined, 0).status.phase).toBe('Error');
  });

  it('builds the Job from the template: its labels and annotations, the run’s uid label, owned by the run, args rendered', () => {
    const job = buildJob(spec, context());
    expect(job.metadata).toEqual({
      name: 'api-run-smoke-0',
      namespace: 'shop',
      labels: { team: 'shop', [LABEL_ANALYSIS_RUN_UID]: 'uid-api-run' },
      annotations: { purpose: 'smoke' },
      ownerReferences: [{ apiVersion: 'fledge.dev/v1alpha1', kind: 'AnalysisRun', name: 'api-run', uid: 'uid-api-run', controller: true }],
    });
    expect(job.spec?.template.spec?.containers[0]?.args).toEqual(['http://api-canary/healthz']);
  });
});

describe('job provider: run, resume, terminate', () => {
  it('creates the Job and says Running; run again for the same measurement (a restart) finds it instead of creating a second', async () => {
    const kube = new FakeKube();
    const provider = jobProvider(kube.batch, spec);
    expect(await provider.run(context())).toEqual({ phase: 'Running', metadata: { job: 'api-run-smoke-0' } });
    kube.put('jobs', { ...kube.get<k8s.V1Job>('jobs', 'shop', 'api-run-smoke-0'), status: { conditions: [{ type: 'Complete', status: 'True' }] } });
    expect(await provider.run(context())).toMatchObject({ phase: 'Done', verdict: { phase: 'Successful' } });
    expect(kube.writes.filter((w) => w.kind === 'jobs' && w.verb === 'create').map((w) => w.outcome)).toEqual(['ok', 409]);
  });

  it('resumes from the Job’s conditions; a Job deleted under it or owned by another run is an Error', async () => {
    const kube = new FakeKube();
    const provider = jobProvider(kube.batch, spec);
    await provider.run(context());
    expect(await provider.resume(context(), { job: 'api-run-smoke-0' })).toEqual({ phase: 'Running', metadata: { job: 'api-run-smoke-0' } });
    kube.put('jobs', { ...kube.get<k8s.V1Job>('jobs', 'shop', 'api-run-smoke-0'), status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] } });
    expect(await provider.resume(context(), { job: 'api-run-smoke-0' })).toMatchObject({ phase: 'Done', verdict: { phase: 'Failed' } });
    expect(await provider.resume(context(0, 'uid-of-a-new-run'), { job: 'api-run-smoke-0' })).toMatchObject({
      phase: 'Done',
      verdict: { phase: 'Error', message: 'Job api-run-smoke-0 exists and belongs to another AnalysisRun' },
    });
    kube.remove('jobs', 'shop', 'api-run-smoke-0');
    expect(await provider.resume(context(), { job: 'api-run-smoke-0' })).toMatchObject({ phase: 'Done', verdict: { phase: 'Error' } });
  });

  it('a Job the apiserver refuses is an Error measurement, not a failed reconcile', async () => {
    const kube = new FakeKube();
    kube.refuseCreates.set('jobs', 'Job.batch "api-run-smoke-0" is invalid: spec.template.spec.restartPolicy: Required value');
    expect(await jobProvider(kube.batch, spec).run(context())).toEqual({
      phase: 'Done',
      verdict: { phase: 'Error', message: 'creating Job api-run-smoke-0: Job.batch "api-run-smoke-0" is invalid: spec.template.spec.restartPolicy: Required value' },
    });
  });

  it('terminate deletes the Job, and a Job already gone is fine', async () => {
    const kube = new FakeKube();
    const provider = jobProvider(kube.batch, spec);
    await provider.run(context());
    await provider.terminate(context(), { job: 'api-run-smoke-0' });
    expect(kube.get('jobs', 'shop', 'api-run-smoke-0')).toBeUndefined();
    await expect(provider.terminate(context(), { job: 'api-run-smoke-0' })).resolves.toBeUndefined();
  });
});

describe('AnalysisRunReconciler with a job metric', () => {
  function setup(runSpec: Partial<AnalysisRun['spec']> = {}) {
    const kube = new FakeKube();
    let now = Date.parse('2026-04-01T10:00:00Z');
    kube.put('analysisruns', {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'AnalysisRun',
      metadata: { name: 'api-run', namespace: 'shop' },
      spec: { metrics: [{ name: 'smoke', provider: { job: spec } }], args: [{ name: 'url', value: 'http://api-canary/healthz' }], ...runSpec },
    });
    const reconciler = fakeAnalysisReconciler(kube, { now: () => now, maxResponseBytes: 1024 });
    const reconcile = async () => {
      kube.sync();
      const result = await reconciler.reconcile('shop/api-run');
      now += 2000;
      return result;
    };
    const current = () => kube.get<AnalysisRun>('analysisruns', 'shop', 'api-run') as AnalysisRun;
    const finish = (type: 'Complete' | 'Failed') =>
      kube.put('jobs', { ...kube.get<k8s.V1Job>('jobs', 'shop', 'api-run-smoke-0'), status: { conditions: [{ type, status: 'True' }] } });
    return { kube, reconcile, current, finish };
  }

  it('holds no worker while the Job runs: Running with the Job in progress, then the Job’s verdict, timed from its start', async () => {
    const { kube, reconcile, current, finish } = setup();
    expect(await reconcile()).toEqual({ requeueAfterMs: 10_000 });
    expect(current().status?.phase).toBe('Running');
    expect(current().status?.metricResults?.[0]).toMatchObject({ phase: 'Running', count: 0, inProgress: { startedAt: '2026-04-01T10:00:00.000Z', metadata: { job: 'api-run-smoke-0' } } });
    await reconcile();
    expect(kube.writes.filter((w) => w.kind === 'jobs' && w.verb === 'create')).toHaveLength(1);
    finish('Complete');
    await reconcile();
    const result = current().status?.metricResults?.[0];
    expect(current().status?.phase).toBe('Successful');
    expect(result?.inProgress).toBeUndefined();
    expect(result?.measurements).toEqual([
      { phase: 'Successful', startedAt: '2026-04-01T10:00:00.000Z', finishedAt: '2026-04-01T10:00:04.000Z', message: 'Job api-run-smoke-0 completed' },
    ]);
  });

  it('a failed Job fails the run', async () => {
    const { reconcile, current, finish } = setup();
    await reconcile();
    finish('Failed');
    await reconcile();
    expect(current().status).toMatchObject({ phase: 'Failed', metricResults: [{ phase: 'Failed', failed: 1, count: 1 }] });
  });

  it('terminating the run deletes its running Job; with no success measured the verdict is Inconclusive', async () => {
    const { kube, reconcile, current } = setup();
    await reconcile();
    kube.put('analysisruns', { ...current(), spec: { ...current().spec, terminate: true } });
    await reconcile();
    expect(kube.get('jobs', 'shop', 'api-run-smoke-0')).toBeUndefined();
    expect(current().status).toMatchObject({ phase: 'Inconclusive', metricResults: [{ phase: 'Inconclusive', count: 0 }] });
    expect(current().status?.metricResults?.[0]?.inProgress).toBeUndefined();
  });
});
