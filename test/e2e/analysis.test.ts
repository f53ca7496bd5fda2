import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, kubectl, prometheusUrl, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

const repoRoot = join(import.meta.dirname, '..', '..');

/** A TCP relay to the real Prometheus that the test can cut, as if Prometheus had stopped. */
async function relayTo(target: URL): Promise<{ address: string; cut: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('analysis against real Prometheus and the workload simulator', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let simulator: Simulator;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('analysis');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name, ['--prometheus-address', prometheusUrl()]);
  });
  afterAll(async (ctx) => {
    await controller.kill();
    await simulator.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-30_000)}\n`);
    await ns.remove();
  });

  const apply = async (text: string): Promise<void> => {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  };
  const status = async (name: string): Promise<RolloutStatus> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus })
      .status ?? {};
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean, timeoutMs = 120_000): Promise<RolloutStatus> =>
    eventually(`${name}: ${what}`, async () => {
      const s = await status(name);
      return check(s) ? s : undefined;
    }, { timeoutMs, intervalMs: 250 });
  const runs = async (rollout: string): Promise<AnalysisRun[]> =>
    ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', labelSelector: `fledge.dev/rollout=${rollout}` })) as {
      items: AnalysisRun[];
    }).items;
  const setImage = async (name: string, container: string, image: string): Promise<void> => {
    const patch = { spec: { template: { spec: { containers: [{ name: container, image }] } } } };
    const res = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--type=merge', '-p', JSON.stringify(patch)]);
    expect(res.code, res.stderr).toBe(0);
  };
  const sizes = async (rollout: string): Promise<Map<string, { replicas: number; available: number }>> => {
    const list = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${rollout}` });
    return new Map(list.items.map((rs) => [rs.metadata?.labels?.['fledge.dev/pod-template-hash'] ?? '', { replicas: rs.spec?.replicas ?? 0, available: rs.status?.availableReplicas ?? 0 }]));
  };
  const rolloutEvents = async (name: string): Promise<k8s.CoreV1Event[]> =>
    (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` })).items;

  it('promotes a good version after the example templates pass (success rate and p99 latency)', async () => {
    await apply(readFileSync(join(repoRoot, 'examples/canary-with-analysis.yaml'), 'utf8'));
    const first = await waitFor('checkout', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('checkout', 'checkout', 'demo:v2');
    const analyzing = await waitFor('checkout', 'analysis step', (s) => s.currentStepIndex === 1 && s.stepAnalysisRun !== undefined);
    const done = await waitFor('checkout', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
    expect(done.stableRevision).toBe(analyzing.currentRevision);
    const run = (await runs('checkout')).find((candidate) => candidate.metadata.name === analyzing.stepAnalysisRun);
    expect(run?.status?.phase).toBe('Successful');
    const results = run?.status?.metricResults ?? [];
    expect(results.map((r) => [r.name, r.phase, r.successful]).sort()).toEqual([
      ['p99-latency', 'Successful', 3],
      ['success-rate', 'Successful', 3],
    ]);
    const rate = Number(results.find((r) => r.name === 'success-rate')?.measurements[0]?.value);
    expect(rate).toBe(1);
  });

  it('aborts a bad version on its own: traffic back to 100% stable, Degraded, the metric and value in the reason', async () => {
    const stable = (await status('checkout')).stableRevision as string;
    await setImage('checkout', 'checkout', 'demo:v3-bad');
    const canary = (await waitFor('checkout', 'canary started', (s) => s.currentRevision !== stable)).currentRevision as string;
    const aborted = await waitFor('checkout', 'aborted', (s) => s.phase === 'Degraded');
    const stableAgainAt = await eventually('100% stable', async () => {
      const rs = await sizes('checkout');
      return rs.get(stable)?.available === 5 && rs.get(canary)?.replicas === 0 ? Date.now() : undefined;
    }, { intervalMs: 100 });
    expect(aborted.abort).toBe(true);
    expect(aborted.stableRevision).toBe(stable);
    expect(aborted.message).toMatch(/^aborted: analysis failed at step 1\/5 \(analysis\): metric (success-rate|p99-latency) failed .*last value [0-9.]+/);
    const progressing = aborted.conditions?.find((c) => c.type === 'Progressing');
    expect(progressing).toMatchObject({ status: 'False', reason: 'RolloutAborted' });
    const failedRun = (await runs('checkout')).find((run) => run.status?.phase === 'Failed');
    const firstBad = failedRun?.status?.metricResults?.flatMap((r) => r.measurements).filter((m) => m.phase === 'Failed').map((m) => Date.parse(m.startedAt)).sort()[0];
    expect(firstBad).toBeDefined();
    process.stderr.write(`analysis abort: first bad measurement to 100% stable took ${stableAgainAt - (firstBad as number)} ms\n`);
    expect((await rolloutEvents('checkout')).some((e) => e.reason === 'RolloutAborted' && /analysis failed/.test(e.message ?? ''))).toBe(true);
  });

  it('aborts mid-pause on a failing background analysis', async () => {
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: background}
spec:
  replicas: 4
  selector: {matchLabels: {app: background}}
  template: {metadata: {labels: {app: background}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      analysis:
        startingStep: 1
        templates: [{templateName: success-rate}]
        args:
        - {name: namespace, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      steps:
      - setWeight: 25
      - pause: {}
      - setWeight: 100
`);
    await waitFor('background', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('background', 'app', 'demo:v2-bad');
    const paused = await waitFor('background', 'paused', (s) => s.phase === 'Paused' && s.backgroundAnalysisRun !== undefined);
    expect(paused.currentStepIndex).toBe(1);
    const aborted = await waitFor('background', 'aborted', (s) => s.phase === 'Degraded');
    expect(aborted.message).toMatch(/^aborted: background analysis failed at step 1\/3 \(pause\): metric success-rate failed/);
  });

  it('records Error measurements when Prometheus stops mid-run, and never promotes', async () => {
    const relay = await relayTo(new URL(prometheusUrl()));
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: through-relay}
spec:
  args: [{name: namespace}, {name: canary-hash}]
  metrics:
  - name: success-rate
    initialDelay: 4s
    interval: 2s
    count: 30
    consecutiveErrorLimit: 2
    successCondition: result >= 0.95
    provider:
      prometheus:
        address: ${relay.address}
        timeout: 2s
        query: sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}",code!~"5.."}[10s])) / sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s]))
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: outage}
spec:
  replicas: 4
  selector: {matchLabels: {app: outage}}
  template: {metadata: {labels: {app: outage}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: through-relay}]
          args:
          - {name: namespace, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      - setWeight: 100
`);
    const first = await waitFor('outage', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('outage', 'app', 'demo:v2');
    const analyzing = await waitFor('outage', 'analysis step', (s) => s.stepAnalysisRun !== undefined);
    await eventually('a successful measurement through the relay', async () => {
      const run = (await runs('outage')).find((r) => r.metadata.name === analyzing.stepAnalysisRun);
      return (run?.status?.metricResults?.[0]?.successful ?? 0) >= 1 ? true : undefined;
    });
    await relay.cut();
    const aborted = await waitFor('outage', 'aborted on errors', (s) => s.phase === 'Degraded');
    expect(aborted.stableRevision).toBe(first.stableRevision);
    expect(aborted.message).toMatch(/analysis errored .*metric success-rate errored/);
    const run = (await runs('outage')).find((r) => r.metadata.name === analyzing.stepAnalysisRun);
    expect(run?.status?.phase).toBe('Error');
    const errors = run?.status?.metricResults?.[0]?.measurements.filter((m) => m.phase === 'Error') ?? [];
    expect(errors.length).toBe(3);
    expect(errors[0]?.message).toMatch(/ECONNREFUSED|socket hang up|ECONNRESET/);
  });

  it('reports a broken CEL condition on the run, the Rollout and an Event, without taking a measurement', async () => {
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: broken}
spec:
  metrics:
  - name: error-rate
    successCondition: result <= "low"
    provider: {prometheus: {query: vector(0)}}
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: broken}
spec:
  replicas: 2
  selector: {matchLabels: {app: broken}}
  template: {metadata: {labels: {app: broken}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: broken}]}
`);
    await waitFor('broken', 'Healthy', (s) => s.phase === 'Healthy');
    await setImage('broken', 'app', 'demo:v2');
    const aborted = await waitFor('broken', 'aborted', (s) => s.phase === 'Degraded');
    expect(aborted.message).toContain('invalid condition "result <= \\"low\\"": metric error-rate successCondition: does not type-check to bool');
    expect(aborted.conditions?.find((c) => c.type === 'Progressing')?.message).toContain('does not type-check to bool');
    const [run] = await runs('broken');
    expect(run?.status?.phase).toBe('Error');
    expect(run?.status?.metricResults?.[0]).toMatchObject({ count: 0, measurements: [] });
    expect((await rolloutEvents('broken')).some((e) => e.reason === 'RolloutAborted' && (e.message ?? '').includes('does not type-check'))).toBe(true);
    const runEvents = (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${run?.metadata.name}` })).items;
    expect(runEvents.some((e) => e.reason === 'AnalysisRunError')).toBe(true);
  });

  it('measures through the web provider against a local HTTP server', async () => {
    let score = 0.99;
    const server: Server = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      // The token comes from a Secret through a template argument; without it the endpoint refuses.
      if (req.headers.authorization !== 'Bearer s3cret-token') {
        res.statusCode = 401;
        res.end(JSON.stringify({ error: 'unauthorized' }));
        return;
      }
      // A JSON number: `result > 0.9` compares doubles (a string would stay a string, as in Argo).
      res.end(JSON.stringify({ service: req.url, result: { score } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/score/{{args.service}}`;
    try {
      await apply(`apiVersion: v1
kind: Secret
metadata: {name: score-api}
stringData: {token: s3cret-token}
---
apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: web-score}
spec:
  args:
  - {name: service, value: checkout}
  - {name: token, valueFrom: {secretKeyRef: {name: score-api, key: token}}}
  metrics:
  - name: score
    interval: 1s
    count: 2
    successCondition: result > 0.9
    provider: {web: {url: "${url}", jsonPath: $.result.score, timeout: 2s, headers: [{key: Authorization, value: "Bearer {{args.token}}"}]}}
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: web-score}]}
`);
      const initial = await waitFor('web', 'Healthy', (s) => s.phase === 'Healthy');
      await setImage('web', 'app', 'demo:v2');
      const promoted = await waitFor('web', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== initial.stableRevision && s.stableRevision === s.currentRevision);
      const good = (await runs('web')).find((run) => run.metadata.labels?.['fledge.dev/pod-template-hash'] === promoted.stableRevision);
      expect(good?.status?.metricResults?.[0]).toMatchObject({ successful: 2, measurements: [{ value: '0.99' }, { value: '0.99' }] });
      // The Secret's value is used, never stored: the run's spec keeps only the reference.
      expect(JSON.stringify(good)).not.toContain('s3cret-token');
      expect(good?.spec.args).toContainEqual({ name: 'token', valueFrom: { secretKeyRef: { name: 'score-api', key: 'token' } } });

      score = 0.5;
      await setImage('web', 'app', 'demo:v3');
      const aborted = await waitFor('web', 'aborted', (s) => s.phase === 'Degraded');
      expect(aborted.message).toContain('metric score failed');
      expect(aborted.message).toContain('value 0.5');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
