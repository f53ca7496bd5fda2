import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { gatewayRollout, gatewayRoute, gatewayServices } from '../harness/dataplane.js';
import { sendMany, startLoad, tally, type LoadGenerator } from '../harness/load.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

/**
 * Gateway API with a real data plane: Traefik (built from its Go module) routes real requests to real HTTP servers
 * listening on the pods' IPs, and Prometheus scrapes Traefik's own counters, which judge the canary.
 */

const log = (line: string): void => void process.stderr.write(`traffic gateway e2e: ${line}\n`);

/** Binomial tolerance: 4.5 standard deviations, so an honest 5% split fails this about once in 150,000 runs. */
function withinBinomial(hits: number, n: number, p: number): { low: number; high: number; ok: boolean } {
  const sd = Math.sqrt(n * p * (1 - p));
  const low = n * p - 4.5 * sd;
  const high = n * p + 4.5 * sd;
  return { low, high, ok: hits >= low && hits <= high };
}

// FLEDGE_TEST_KUBECONFIG's cluster has no harness Gateway, and its pod IPs are not on this machine.
describe.skipIf(inject('gatewayUrl') === '')('Gateway API through a real Traefik, real pods answering', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let simulator: Simulator;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  let statuses: ReturnType<typeof rolloutStatuses>;
  const gatewayUrl = (): string => inject('gatewayUrl');

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('gateway');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    statuses = rolloutStatuses(custom, ns.name);
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name, ['--prometheus-address', inject('prometheusUrl')]);
  });
  afterAll(async (ctx) => {
    await controller?.kill();
    await simulator?.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    await ns?.remove();
  });

  const apply = async (objects: object[]): Promise<void> => {
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const patchStatus = async (name: string, patch: object): Promise<void> => {
    const patched = await kubectl(['patch', 'rollout', name, '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: patch })]);
    expect(patched.code, patched.stderr).toBe(0);
  };
  const replicasOf = async (app: string, revision: string | undefined): Promise<number | undefined> => {
    const list = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${app}` });
    return list.items.find((rs) => rs.metadata?.labels?.['fledge.dev/pod-template-hash'] === revision)?.spec?.replicas;
  };
  /** Every one of `n` requests answered by `version`: what users see once the gateway has taken up a change. */
  const allAnsweredBy = async (host: string, version: string, n = 40): Promise<boolean> => {
    const answers = await sendMany({ url: gatewayUrl(), host }, n, 8);
    return answers.every((answer) => answer.status === 200 && answer.version === version);
  };

  it('5% of real requests reach the one canary pod of ten, header-matched requests all do, and an abort sends everything back at once', { timeout: 240_000 }, async () => {
    const app = 'split';
    const host = `${app}.${ns.name}.fledge.test`;
    const steps = [
      { setWeight: 5 },
      { setHeaderRoute: { name: 'beta-testers', match: [{ headerName: 'X-Canary', headerValue: { exact: 'always' } }] } },
      { pause: {} },
    ];
    const canary = { steps, abortScaleDownDelaySeconds: 5 };
    const spec = (image: string): object =>
      gatewayRollout(app, image, 10, { ...canary, trafficRouting: { gatewayAPI: { httpRoute: app }, managedRoutes: [{ name: 'beta-testers' }] } });
    await apply([...gatewayServices(app), gatewayRoute(app, host), spec('demo:v1')]);
    await statuses.waitFor(app, 'Healthy', (s) => s.phase === 'Healthy', 120_000);
    await eventually('v1 answers through the gateway', async () => ((await allAnsweredBy(host, 'v1')) ? true : undefined), { timeoutMs: 60_000 });

    await apply([spec('demo:v2')]);
    const paused = await statuses.waitFor(app, 'paused after the header route', (s) => s.phase === 'Paused' && s.currentStepIndex === 2, 120_000);
    expect(paused.actualWeight).toBe(5);
    expect(await replicasOf(app, paused.currentRevision)).toBe(1);
    expect(await replicasOf(app, paused.stableRevision)).toBe(10);

    // A Gateway marks a route Accepted when it reads it; Traefik serves the new rules a moment later (its provider
    // throttle). Header-matched requests reaching the canary show the last change, the header rule, is being served.
    await eventually('the header route served', async () => {
      const probe = await sendMany({ url: gatewayUrl(), host, headers: { 'X-Canary': 'always' } }, 20, 4);
      return probe.every((answer) => answer.version === 'v2') ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    const n = 2000;
    const started = Date.now();
    const answers = await sendMany({ url: gatewayUrl(), host }, n, 16);
    const counts = tally(answers);
    const v2 = counts.get('v2') ?? 0;
    const range = withinBinomial(v2, n, 0.05);
    log(`setWeight 5 with 1 canary pod of 10 stable: ${v2}/${n} requests (${((100 * v2) / n).toFixed(2)}%) answered by v2, ${counts.get('v1') ?? 0} by v1, in ${Date.now() - started} ms; accepted ${range.low.toFixed(0)}..${range.high.toFixed(0)}`);
    expect(counts.get('') ?? 0, 'every request answered by a pod').toBe(0);
    expect(range.ok, `${v2} of ${n} on the canary`).toBe(true);

    const beta = await sendMany({ url: gatewayUrl(), host, headers: { 'X-Canary': 'always' } }, 200, 8);
    expect(tally(beta)).toEqual(new Map([['v2', 200]]));

    const abortAt = Date.now();
    await patchStatus(app, { abort: true });
    await eventually('all traffic back on v1', async () => ((await allAnsweredBy(host, 'v1', 60)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    const backMs = Date.now() - abortAt;
    log(`abort requested → 100% of requests on stable in ${backMs} ms`);
    // Header-matched requests too: the managed route went with the abort.
    expect(tally(await sendMany({ url: gatewayUrl(), host, headers: { 'X-Canary': 'always' } }, 40, 8))).toEqual(new Map([['v1', 40]]));
    // The canary's pod outlived its traffic, then went after abortScaleDownDelaySeconds.
    expect(await replicasOf(app, paused.currentRevision)).toBe(1);
    await eventually('canary scaled down after the delay', async () => ((await replicasOf(app, paused.currentRevision)) === 0 ? true : undefined), { timeoutMs: 30_000 });
    const aborted = await statuses.status(app);
    expect(aborted).toMatchObject({ phase: 'Degraded', actualWeight: 0 });
  });

  it('an experiment template’s weight reaches its pod through the gateway while the step runs, and only then', { timeout: 240_000 }, async () => {
    const app = 'experiment';
    const host = `${app}.${ns.name}.fledge.test`;
    // Argo's weighted experiment: 10% on the canary's one pod of ten, 20% on a preview of the canary template.
    const steps = [{ setWeight: 10 }, { experiment: { duration: '40s', templates: [{ name: 'preview', specRef: 'canary', weight: 20 }] } }, { pause: {} }];
    const spec = (image: string): object => gatewayRollout(app, image, 10, { steps });
    const share = async (n: number): Promise<number> => {
      const counts = tally(await sendMany({ url: gatewayUrl(), host }, n, 16));
      expect(counts.get('') ?? 0, 'every request answered by a pod').toBe(0);
      return counts.get('v2') ?? 0;
    };
    await apply([...gatewayServices(app), gatewayRoute(app, host), spec('demo:v1')]);
    await statuses.waitFor(app, 'Healthy', (s) => s.phase === 'Healthy', 120_000);
    await eventually('v1 answers through the gateway', async () => ((await allAnsweredBy(host, 'v1')) ? true : undefined), { timeoutMs: 60_000 });

    await apply([spec('demo:v2')]);
    const running = await statuses.waitFor(app, 'the experiment running', (s) => s.experiment?.availableAt !== undefined, 120_000);
    // Traefik serves a route change a moment after it accepts it (its provider throttle).
    await eventually('the preview’s share served', async () => ((await share(200)) >= 40 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    const n = 2000;
    const during = await share(n);
    const expected = withinBinomial(during, n, 0.3);
    log(`experiment step: ${during}/${n} requests (${((100 * during) / n).toFixed(2)}%) answered by v2 (canary 10% + preview 20%); accepted ${expected.low.toFixed(0)}..${expected.high.toFixed(0)}`);
    expect(expected.ok, `${during} of ${n} on v2 while the experiment runs`).toBe(true);
    expect((await statuses.status(app)).currentStepIndex, 'still at the experiment while measured').toBe(1);

    const after = await statuses.waitFor(app, 'paused after the experiment', (s) => s.phase === 'Paused' && s.currentStepIndex === 2, 120_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(running.experiment?.availableAt ?? '') + 40_000);
    expect(after.experiment).toBeUndefined();
    await eventually('the preview’s share gone', async () => ((await share(200)) <= 40 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    const since = await share(n);
    const back = withinBinomial(since, n, 0.1);
    log(`after the experiment: ${since}/${n} requests answered by v2; accepted ${back.low.toFixed(0)}..${back.high.toFixed(0)}`);
    expect(back.ok, `${since} of ${n} on v2 after the experiment`).toBe(true);
    await eventually('the preview’s ReplicaSet gone', async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${app},fledge.dev/role=experiment` });
      return list.items.length === 0 ? true : undefined;
    });
  });

  it('a baseline takes the canary’s share from the stable’s through the gateway, and leaves at promotion and at abort', { timeout: 300_000 }, async () => {
    const app = 'baselined';
    const host = `${app}.${ns.name}.fledge.test`;
    const steps = [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }];
    const spec = (image: string): object => gatewayRollout(app, image, 10, { steps, baseline: {} });
    const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    /** The route's backendRefs as Fledge wrote them: weight by Service. */
    const backends = async (): Promise<Record<string, number | undefined>> => {
      const route = (await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: ns.name, plural: 'httproutes', name: app })) as {
        spec: { rules: Array<{ backendRefs?: Array<{ name: string; weight?: number }> }> };
      };
      return Object.fromEntries((route.spec.rules[0]?.backendRefs ?? []).map((ref) => [ref.name, ref.weight]));
    };
    const baselineService = async (): Promise<k8s.V1Service | undefined> => (await core.listNamespacedService({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${app},fledge.dev/role=baseline` })).items[0];
    const baselinePods = async (): Promise<number | undefined> =>
      (await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `fledge.dev/rollout=${app},fledge.dev/role=baseline` })).items[0]?.spec?.replicas;
    const gone = async (what: string): Promise<void> => {
      await eventually(`the baseline’s ReplicaSet and Service gone ${what}`, async () => ((await baselinePods()) === undefined && (await baselineService()) === undefined ? true : undefined), { timeoutMs: 30_000 });
    };

    await apply([...gatewayServices(app), gatewayRoute(app, host), spec('demo:v1')]);
    await statuses.waitFor(app, 'Healthy', (s) => s.phase === 'Healthy', 120_000);
    await eventually('v1 answers through the gateway', async () => ((await allAnsweredBy(host, 'v1')) ? true : undefined), { timeoutMs: 60_000 });

    await apply([spec('demo:v2')]);
    const first = await statuses.waitFor(app, 'paused at 20%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1, 120_000);
    const baselineHash = `${first.stableRevision}-baseline`;
    const threeWays = { [`${app}-stable`]: 60, [`${app}-canary`]: 20, [`${app}-baseline`]: 20 };
    await eventually('the route split three ways', async () => (isDeepStrictEqual(await backends(), threeWays) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
    const service = await baselineService();
    expect(service?.metadata?.name).toBe(`${app}-baseline`);
    expect(service?.spec?.selector).toEqual({ app, 'fledge.dev/pod-template-hash': baselineHash, 'fledge.dev/role': 'baseline' });
    expect(service?.spec?.ports?.map(({ name, port, targetPort }) => ({ name, port, targetPort }))).toEqual([{ name: 'http', port: 80, targetPort: 8080 }]);
    expect(await baselinePods()).toBe(2);
    // Real requests: the baseline's two pods (stable template, v1) answer the canary's share, the stable's ten the rest.
    await eventually('the baseline served', async () => ((await sendMany({ url: gatewayUrl(), host }, 100, 8)).some((answer) => answer.hash === baselineHash) ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    const n = 2000;
    const answers = await sendMany({ url: gatewayUrl(), host }, n, 16);
    const canary = answers.filter((answer) => answer.version === 'v2').length;
    const baseline = answers.filter((answer) => answer.hash === baselineHash && answer.version === 'v1').length;
    log(`setWeight 20 with a baseline: ${canary}/${n} on the canary, ${baseline}/${n} on the baseline`);
    expect(answers.filter((answer) => answer.status !== 200).length, 'every request answered by a pod').toBe(0);
    expect(withinBinomial(canary, n, 0.2).ok, `${canary} of ${n} on the canary`).toBe(true);
    expect(withinBinomial(baseline, n, 0.2).ok, `${baseline} of ${n} on the baseline`).toBe(true);

    await patchStatus(app, { promote: 'step' });
    await statuses.waitFor(app, 'paused at 60%', (s) => s.phase === 'Paused' && s.currentStepIndex === 3, 120_000);
    expect(await backends(), 'past 50%: the baseline gets what the canary leaves').toEqual({ [`${app}-stable`]: 0, [`${app}-canary`]: 60, [`${app}-baseline`]: 40 });
    expect(await baselinePods()).toBe(6);

    await patchStatus(app, { promote: 'full' });
    await statuses.waitFor(app, 'Healthy on v2', (s) => s.phase === 'Healthy' && s.stableRevision === s.currentRevision, 120_000);
    await gone('after the promotion');
    expect(Object.keys(await backends())).toEqual([`${app}-stable`, `${app}-canary`]);

    await apply([spec('demo:v3')]);
    const third = await statuses.waitFor(app, 'v3 paused at 20%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1 && s.currentRevision !== first.currentRevision, 120_000);
    expect(await backends()).toEqual({ [`${app}-stable`]: 60, [`${app}-canary`]: 20, [`${app}-baseline`]: 20 });
    expect((await baselineService())?.spec?.selector?.['fledge.dev/pod-template-hash'], 'the new stable’s baseline').toBe(`${third.stableRevision}-baseline`);
    await patchStatus(app, { abort: true });
    await eventually('all traffic back on v2', async () => ((await allAnsweredBy(host, 'v2', 60)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 50 });
    await gone('after the abort');
    expect(await backends()).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
  });

  it('analysis on Traefik\'s own error counters promotes a good canary and aborts a bad one', { timeout: 300_000 }, async () => {
    const app = 'judged';
    const host = `${app}.${ns.name}.fledge.test`;
    const template = {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: { name: 'gateway-success-rate' },
      spec: {
        args: [{ name: 'service' }],
        metrics: [
          {
            name: 'success-rate',
            initialDelay: '5s',
            interval: '5s',
            count: 3,
            successCondition: 'result >= 0.95',
            provider: { prometheus: { query: traefikSuccessRate('{{args.service}}') } },
          },
        ],
      },
    };
    const steps = [
      { setWeight: 30 },
      { analysis: { templates: [{ templateName: 'gateway-success-rate' }], args: [{ name: 'service', value: `${ns.name}-${app}-canary-http-80` }] } },
    ];
    const spec = (image: string): object => gatewayRollout(app, image, 4, { steps, scaleDownDelaySeconds: 2, abortScaleDownDelaySeconds: 2 });
    await apply([...gatewayServices(app), gatewayRoute(app, host), template, spec('demo:v1')]);
    const v1 = await statuses.waitFor(app, 'Healthy', (s) => s.phase === 'Healthy', 120_000);
    await eventually('v1 answers through the gateway', async () => ((await allAnsweredBy(host, 'v1')) ? true : undefined), { timeoutMs: 60_000 });
    let load: LoadGenerator | undefined = startLoad({ url: gatewayUrl(), host }, 40);
    try {
      await apply([spec('demo:v2')]);
      const good = await statuses.waitFor(app, 'v2 promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== v1.stableRevision && s.stableRevision === s.currentRevision, 180_000);
      await eventually('v2 serves everything', async () => ((await allAnsweredBy(host, 'v2')) ? true : undefined), { timeoutMs: 30_000 });

      await apply([spec('demo:v3-errors50')]);
      const bad = await statuses.waitFor(app, 'v3 aborted', (s) => s.phase === 'Degraded' && s.abort === true, 180_000);
      expect(bad.stableRevision).toBe(good.stableRevision);
      expect(bad.message).toContain('success-rate');
      await eventually('v2 serves everything again', async () => ((await allAnsweredBy(host, 'v2')) ? true : undefined), { timeoutMs: 20_000 });
      // From the verdict (the failed AnalysisRun's completedAt) to the last request the bad version answered.
      const runs = (await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns' })) as {
        items: Array<{ status?: { phase?: string; completedAt?: string } }>;
      };
      const verdictAt = Date.parse(runs.items.find((run) => run.status?.phase === 'Failed')?.status?.completedAt ?? '');
      const lastBad = load.answers().filter((answer) => answer.version === 'v3-errors50').at(-1)?.at ?? 0;
      log(`verdict → last request answered by the bad canary: ${lastBad - verdictAt} ms`);
      expect(Number.isNaN(verdictAt)).toBe(false);
      // One reconcile, one route write, and Traefik's 2 s provider throttle; far less than an analysis interval.
      expect(lastBad - verdictAt).toBeLessThan(5_000);
      const seen = tally(load.answers());
      log(`requests during both canaries: ${JSON.stringify(Object.fromEntries(seen))}`);
      expect(seen.get('v3-errors50') ?? 0, 'the bad canary really served traffic before it was judged').toBeGreaterThan(0);
    } finally {
      await load?.stop();
      load = undefined;
    }
  });
});

/**
 * The share of non-5xx answers Traefik gave for one backend Service of an HTTPRoute, over 15 s. Traefik names such a
 * backend `<namespace>-<service>-<port name>-<port>@kubernetesgateway`.
 */
function traefikSuccessRate(service: string): string {
  return [
    `sum(rate(traefik_service_requests_total{service="${service}@kubernetesgateway",code!~"5.."}[15s]))`,
    '/',
    `sum(rate(traefik_service_requests_total{service="${service}@kubernetesgateway"}[15s]))`,
  ].join('\n');
}
