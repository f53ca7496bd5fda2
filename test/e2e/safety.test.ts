import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, holdsFor, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/** The three safety fixes of issue 9 that are about the rollout core, on the real control plane. */
describe('safety on the real control plane: huge delays, edited steps, dry-run templates', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let metricServer: Server;
  let metricUrl: string;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('safety');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    core = kc.makeApiClient(k8s.CoreV1Api);
    // A web metric that always answers well: what matters here is whether the analysis runs at all.
    metricServer = createServer((_req, res) => res.end(JSON.stringify({ ok: 1 })));
    await new Promise<void>((resolve) => metricServer.listen(0, '127.0.0.1', resolve));
    metricUrl = `http://127.0.0.1:${(metricServer.address() as AddressInfo).port}/ok`;
    controller = await startController(ns.name);
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: web-ok}
spec:
  metrics:
  - name: ok
    successCondition: result >= 1
    provider: {web: {url: "${metricUrl}", jsonPath: "$.ok"}}
---
apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: shadow-only}
spec:
  metrics:
  - name: shadow
    dryRun: true
    count: 2
    interval: 1s
    successCondition: result >= 5
    provider: {web: {url: "${metricUrl}", jsonPath: "$.ok"}}
`);
  });
  afterAll(async (ctx) => {
    await controller.kill();
    metricServer.close();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-30_000)}\n`);
    await ns.remove();
  });

  async function apply(text: string): Promise<void> {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  }
  const rollout = (name: string, steps: string): string => `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: 2
  selector: {matchLabels: {app: ${name}}}
  template: {metadata: {labels: {app: ${name}}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy: {canary: {steps: ${steps}}}
`;
  // Built lazily: the namespace and the client exist only once beforeAll has run.
  const status = (name: string): Promise<RolloutStatus> => rolloutStatuses(custom, ns.name).status(name);
  const waitFor: ReturnType<typeof rolloutStatuses>['waitFor'] = (...args) => rolloutStatuses(custom, ns.name).waitFor(...args);
  const patch = async (name: string, body: object): Promise<void> => {
    const res = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--type=merge', '-p', JSON.stringify(body)]);
    expect(res.code, res.stderr).toBe(0);
  };
  const setImage = (name: string, image: string): Promise<void> => patch(name, { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } });
  const runs = async (name: string): Promise<AnalysisRun[]> =>
    ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', labelSelector: `fledge.dev/rollout=${name}` })) as {
      items: AnalysisRun[];
    }).items;
  const rolloutReconciles = async (): Promise<number> => {
    const { data } = await axios.get<string>(controller.metricsUrl() ?? '');
    const line = data.split('\n').find((l) => l.startsWith('fledge_reconcile_duration_seconds_count{controller="rollout"}'));
    return Number(line?.split(' ').at(-1) ?? Number.NaN);
  };

  it('waits out an 800 h pause without a hot loop: a handful of reconciles in 5 s, not thousands', async () => {
    await apply(rollout('long-pause', '[{setWeight: 50}, {pause: {duration: 800h}}]'));
    await waitFor('long-pause', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('long-pause', 'demo:v2');
    const paused = await waitFor('long-pause', 'paused for 800 h', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    expect(paused.message).toMatch(/pausing until 2026-12-|pausing until 20\d\d-/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = await rolloutReconciles();
    await holdsFor(
      5_000,
      async () => {
        expect((await rolloutReconciles()) - before, 'rollout reconciles since the first sample').toBeLessThanOrEqual(3);
        expect((await status('long-pause')).phase).toBe('Paused');
      },
      { what: 'at most 3 rollout reconciles, Paused' },
    );
    process.stderr.write(`800 h pause: ${(await rolloutReconciles()) - before} rollout reconciles in 5 s\n`);
  });

  it('restarts a canary whose steps are edited mid-flight, and runs the new analysis step before promoting', async () => {
    await apply(rollout('edited', '[{setWeight: 50}, {pause: {duration: 1s}}, {setWeight: 50}, {pause: {}}, {setWeight: 100}]'));
    const first = await waitFor('edited', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('edited', 'demo:v2');
    const held = await waitFor('edited', 'paused at step 3/5', (s) => s.phase === 'Paused' && s.currentStepIndex === 3);
    let stableMovedAt: number | undefined;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await status('edited');
        if (stableMovedAt === undefined && s.stableRevision !== first.stableRevision) stableMovedAt = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await patch('edited', { spec: { strategy: { canary: { steps: [{ setWeight: 50 }, { analysis: { templates: [{ templateName: 'web-ok' }] } }, { setWeight: 50 }] } } } });
    const done = await waitFor('edited', 'promoted after the new steps', (s) => s.phase === 'Healthy' && s.stableRevision === held.currentRevision);
    watching = false;
    await watcher;
    const events = (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=edited' })).items;
    const restarted = events.find((e) => e.reason === 'RolloutStepsChanged');
    expect(restarted?.message).toBe(`steps changed while the canary was at step 3: restarting the canary of revision ${held.currentRevision} from step 0/3`);
    // The new analysis step ran, for the new attempt, and passed before the revision became stable.
    const stepRuns = (await runs('edited')).filter((run) => run.metadata.name?.endsWith('-s1'));
    expect(stepRuns).toHaveLength(1);
    expect(stepRuns[0]?.metadata.name).toBe(`edited-${held.currentRevision}-${(held.attempt ?? 0) + 1}-s1`);
    expect(stepRuns[0]?.status?.phase).toBe('Successful');
    expect(done.stepsHash).not.toBe(held.stepsHash);
    // Stable stayed on the first revision until the new analysis had passed (status times are whole seconds).
    expect(stableMovedAt).toBeDefined();
    expect(Date.parse(stepRuns[0]?.status?.completedAt ?? '')).toBeLessThanOrEqual((stableMovedAt ?? 0) + 1000);
    expect(Date.parse(stepRuns[0]?.status?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(restarted?.lastTimestamp ? String(restarted.lastTimestamp) : '') - 1000);
  });

  it('finishes a run of dry-run metrics only, so the Rollout moves on instead of waiting forever', async () => {
    await apply(rollout('shadowed', '[{setWeight: 50}, {analysis: {templates: [{templateName: shadow-only}]}}, {setWeight: 100}]'));
    await waitFor('shadowed', 'Healthy', (s) => s.phase === 'Healthy');
    const first = await status('shadowed');
    await setImage('shadowed', 'demo:v2');
    const done = await waitFor('shadowed', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
    const stepRuns = (await runs('shadowed')).filter((run) => run.metadata.name?.startsWith(`shadowed-${done.stableRevision}-`));
    expect(stepRuns).toHaveLength(1);
    expect(stepRuns[0]?.status).toMatchObject({ phase: 'Successful', message: 'only dry-run metrics; dry run: shadow Failed' });
    expect(stepRuns[0]?.status?.metricResults?.[0]).toMatchObject({ dryRun: true, phase: 'Failed', count: 1, failed: 1 });
  });
});
