import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Rollout, RolloutStatus } from '../../../../src/api/rollout.js';
import { rolloutPage, rolloutRows } from '../../../../src/cli/dashboard/page-data.js';
import type { AnalysisRunObject } from '../../../../src/cli/view.js';

function rollout(name: string, namespace: string, status: RolloutStatus, paused = false): Rollout {
  return {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace, uid: `${name}-uid` },
    spec: {
      replicas: 4,
      paused,
      selector: { matchLabels: { app: name } },
      template: { spec: {} },
      strategy: { canary: { steps: [{ setWeight: 25 }, { analysis: { templates: [{ templateName: 'rate' }] } }, { pause: { duration: '30s' } }, { setWeight: 100 }] } },
    },
    status,
  };
}

const replicaSet = (hash: string, revision: number, image: string, replicas: number): k8s.V1ReplicaSet => ({
  metadata: { name: `api-${hash}`, labels: { 'fledge.dev/pod-template-hash': hash }, annotations: { 'fledge.dev/revision': String(revision) } },
  spec: { replicas, selector: {}, template: { spec: { containers: [{ name: 'api', image }] } } },
  status: { replicas, availableReplicas: replicas },
});

const run: AnalysisRunObject = {
  metadata: { name: 'api-c2-1-rate', creationTimestamp: '2026-11-24T10:00:00Z' },
  spec: { metrics: [{ name: 'success-rate', successCondition: 'result[0] >= 0.95' }, { name: 'latency', failureCondition: 'result > 0.3 && result < 9' }] },
  status: {
    phase: 'Running',
    metricResults: [
      {
        name: 'success-rate',
        phase: 'Running',
        measurements: [
          { phase: 'Successful', value: '0.99', finishedAt: '2026-11-24T10:00:05Z' },
          { phase: 'Error', finishedAt: '2026-11-24T10:00:07Z' },
          { phase: 'Failed', value: '[0.5, 0.9]', finishedAt: '2026-11-24T10:00:09Z' },
        ],
      },
      { name: 'latency', phase: 'Running', measurements: [{ phase: 'Inconclusive', value: 'NaN', finishedAt: '2026-11-24T10:00:05Z' }] },
    ],
  },
};

const canary: RolloutStatus = { phase: 'Progressing', stableRevision: 's1', currentRevision: 'c2', currentStepIndex: 1, canaryWeight: 25, actualWeight: 25, stepAnalysisRun: 'api-c2-1-rate' };

describe('dashboard page data', () => {
  it('marks steps done, current and pending from the step index, and every step done once settled', () => {
    const page = rolloutPage({ rollout: rollout('api', 'shop', canary), replicaSets: [], pods: [], analysisRuns: [] });
    expect(page.steps).toEqual([
      { text: 'setWeight 25', state: 'done' },
      { text: 'analysis', state: 'current' },
      { text: 'pause 30s', state: 'pending' },
      { text: 'setWeight 100', state: 'pending' },
    ]);
    const healthy = rolloutPage({ rollout: rollout('api', 'shop', { phase: 'Healthy', stableRevision: 'c2', currentRevision: 'c2', currentStepIndex: 4 }), replicaSets: [], pods: [], analysisRuns: [] });
    expect(healthy.steps.map((step) => step.state)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('plots every measurement with its time, number and phase, and the simple threshold only', () => {
    const page = rolloutPage({ rollout: rollout('api', 'shop', canary), replicaSets: [replicaSet('s1', 1, 'api:1', 3), replicaSet('c2', 2, 'api:2', 1)], pods: [], analysisRuns: [run] });
    const [rate, latency] = page.analysisRuns[0]?.metrics ?? [];
    expect(page.analysisRuns[0]?.kind).toBe('step');
    expect(rate?.points).toEqual([
      { time: '2026-11-24T10:00:05Z', value: 0.99, phase: 'Successful' },
      { time: '2026-11-24T10:00:07Z', phase: 'Error' },
      { time: '2026-11-24T10:00:09Z', value: 0.5, phase: 'Failed' },
    ]);
    expect(rate?.threshold).toEqual({ op: '>=', value: 0.95, condition: 'success', expression: 'result[0] >= 0.95' });
    expect(latency?.points).toEqual([{ time: '2026-11-24T10:00:05Z', phase: 'Inconclusive' }]);
    expect(latency?.threshold).toBeUndefined();
    expect(page.revisions.map((r) => [r.number, r.role, r.images])).toEqual([
      [2, 'canary', ['api:2']],
      [1, 'stable', ['api:1']],
    ]);
  });

  it("enables exactly the buttons whose command would act, and says why the others would refuse", () => {
    const inCanary = rolloutPage({ rollout: rollout('api', 'shop', canary), replicaSets: [], pods: [], analysisRuns: [] }).actions;
    expect(Object.entries(inCanary).filter(([, why]) => why === undefined).map(([name]) => name).sort()).toEqual(['abort', 'pause', 'promote', 'promote-full']);
    expect(inCanary.retry).toBe('rollout api is not aborted: there is nothing to retry');
    const aborted = rolloutPage({ rollout: rollout('api', 'shop', { ...canary, abort: true, phase: 'Degraded' }, true), replicaSets: [], pods: [], analysisRuns: [] }).actions;
    expect(Object.entries(aborted).filter(([, why]) => why === undefined).map(([name]) => name).sort()).toEqual(['resume', 'retry']);
  });

  it('lists rows by namespace then name, in the columns of `list rollouts`', () => {
    const rows = rolloutRows([rollout('b', 'shop', canary), rollout('z', 'a-ns', {}), rollout('a', 'shop', { phase: 'Degraded', abort: true, availableReplicas: 4 })]);
    expect(rows.map((row) => `${row.namespace}/${row.name}`)).toEqual(['a-ns/z', 'shop/a', 'shop/b']);
    expect(rows[1]).toEqual({ namespace: 'shop', name: 'a', phase: 'Degraded', aborted: true, step: '0/4', weight: 0, available: '4/4', message: '' });
  });
});
