import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisRun } from '../../../src/api/analysis.js';
import { fakeAnalysisReconciler, FakeKube, wakeups } from '../fake-kube.js';

const KEY = 'shop/api-run';
let server: Server;
let url: string;

beforeAll(async () => {
  // A metric source on loopback answering a healthy success rate.
  server = createServer((_req, res) => res.end(JSON.stringify({ successRate: 0.99 })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function setup(spec: Partial<AnalysisRun['spec']>) {
  const kube = new FakeKube();
  kube.put('analysisruns', {
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'AnalysisRun',
    metadata: { name: 'api-run', namespace: 'shop' },
    spec: {
      metrics: [{ name: 'success-rate', interval: '10s', count: 3, successCondition: 'result > 0.95', provider: { web: { url, jsonPath: '$.successRate' } } }],
      ...spec,
    },
  });
  const { requeue, woken } = wakeups();
  const reconciler = fakeAnalysisReconciler(kube, { now: () => Date.now(), maxResponseBytes: 1024 * 1024, requeue });
  kube.sync();
  const remembered = (): number => (reconciler as unknown as { statusWrites: { size: number } }).statusWrites.size;
  const phase = (): string | undefined => kube.get<AnalysisRun>('analysisruns', 'shop', 'api-run')?.status?.phase;
  return { kube, reconciler, remembered, phase, woken };
}

describe('AnalysisRunReconciler and its own status writes', () => {
  it('waits while the cache is older than its write, and forgets the write once the cache shows the finished run', async () => {
    const { kube, reconciler, remembered, phase } = setup({ terminate: true });
    await reconciler.reconcile(KEY);
    expect(phase()).toBe('Inconclusive');
    expect(remembered()).toBe(1);
    const from = kube.writes.length;
    expect(await reconciler.reconcile(KEY)).toEqual({ requeueAfterMs: 100 });
    expect(kube.writesSince(from)).toEqual([]);
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(remembered(), 'a finished run leaves nothing behind').toBe(0);
  });

  it('forgets the write of a run deleted before its cache caught up', async () => {
    const { kube, reconciler, remembered, phase, woken } = setup({});
    // The first reconcile asks the metric source in the background; its answer wakes the run, whose next reconcile records it.
    const answered = woken();
    await reconciler.reconcile(KEY);
    expect(reconciler.outstandingMeasurements()).toBe(1);
    kube.sync();
    await answered;
    expect(await reconciler.reconcile(KEY)).toMatchObject({ requeueAfterMs: expect.any(Number) });
    expect(phase()).toBe('Running');
    expect(remembered()).toBe(1);
    kube.remove('analysisruns', 'shop', 'api-run');
    kube.sync();
    await reconciler.reconcile(KEY);
    expect(remembered()).toBe(0);
  });

  it('retries a 409 after the queue’s backoff: { retry: true }', async () => {
    const { kube, reconciler } = setup({});
    // Someone else (the Rollout terminating it) wrote after the cache saw the run.
    const current = kube.get<AnalysisRun>('analysisruns', 'shop', 'api-run') as AnalysisRun;
    kube.put('analysisruns', { ...current, metadata: { ...current.metadata, labels: { touched: 'yes' } } });
    expect(await reconciler.reconcile(KEY)).toEqual({ retry: true });
    expect(kube.writes.at(-1)).toMatchObject({ kind: 'analysisruns/status', outcome: 409 });
  });
});
