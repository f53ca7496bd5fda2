import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { AuditLog } from '../../bench/scale/audit.js';
import { readState } from '../harness/cluster.js';
import {
  createTestNamespace,
  eventually,
  holdsFor,
  installCrds,
  kubectl,
  prometheusUrl,
  serviceAccountKubeconfig,
  startController,
  testKubeConfig,
  type ControllerProcess,
} from '../harness/e2e.js';
import { launchChromium, raw, screenshotDir, startDashboard, type DashboardProcess } from '../harness/dashboard.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

describe('kubectl fledge dashboard in Chromium, on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let simulator: Simulator;
  let dashboard: DashboardProcess;
  let browser: Browser;
  let page: Page;
  let custom: k8s.CustomObjectsApi;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('dashboard');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name, ['--prometheus-address', prometheusUrl()]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    // A script error or a Content-Security-Policy violation shows in the console: the page must have none.
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  });
  afterAll(async (ctx) => {
    await browser?.close();
    await dashboard?.stop();
    await controller?.kill();
    await simulator?.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-20_000)}\n`);
    await ns?.remove();
  });

  const apply = async (text: string): Promise<void> => {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  };
  const status = async (name: string): Promise<RolloutStatus> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus })
      .status ?? {};
  const waitFor = (name: string, what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> =>
    eventually(`${name}: ${what}`, async () => {
      const s = await status(name);
      return check(s) ? s : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
  const currentStep = (): Promise<string | null> => page.locator('li[data-step-state="current"]').getAttribute('data-step', { timeout: 1000 }).catch(() => null);

  it('lists the Rollout, follows its canary step by step without a reload, and plots every measurement of the AnalysisRun', async () => {
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: namespace}, {name: canary-hash}]
  metrics:
  - name: success-rate
    initialDelay: 3s
    interval: 3s
    count: 4
    # Three failed measurements before the verdict, so the plot of a bad version has some to show.
    failureLimit: 2
    successCondition: result >= 0.95
    provider:
      prometheus:
        query: sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}",code!~"5.."}[10s])) / sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s]))
  - name: p99-latency
    initialDelay: 3s
    interval: 3s
    count: 4
    failureCondition: result > 0.5
    provider:
      prometheus:
        query: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s])))
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: demo:v1}]}}
  strategy:
    canary:
      steps:
      - setWeight: 25
      - analysis:
          templates: [{templateName: success-rate}]
          args:
          - {name: namespace, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      - pause: {}
      - setWeight: 100
`);
    await waitFor('web', 'Healthy', (s) => s.phase === 'Healthy');
    dashboard = await startDashboard(inject('kubeconfig'), ns.name);
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    await page.goto(dashboard.url);
    const row = page.locator(`tr[data-rollout="${ns.name}/web"]`);
    await row.locator('td.status.Healthy').waitFor({ timeout: 30_000 });
    await row.locator('a').click();
    await page.locator('[data-field="phase"].Healthy').waitFor();
    expect(await page.locator('li[data-step-state="done"]').count()).toBe(4);
    // A reload would lose this; the page must follow the canary through its event stream alone.
    await page.evaluate(() => ((globalThis as unknown as { sameDocument: boolean }).sameDocument = true));

    const patch = { spec: { template: { spec: { containers: [{ name: 'web', image: 'demo:v2' }] } } } };
    expect((await kubectl(['patch', 'rollout', 'web', '-n', ns.name, '--type=merge', '-p', JSON.stringify(patch)])).code).toBe(0);
    // Every step the page shows as current, in order, as the controller moves through them.
    const seen: string[] = [];
    await eventually('the page reaches the pause step', async () => {
      const step = await currentStep();
      if (step !== null && seen.at(-1) !== step) seen.push(step);
      return step === '2' ? step : undefined;
    }, { timeoutMs: 120_000, intervalMs: 100 });
    expect(seen).toContain('1');
    expect(seen).toEqual([...seen].sort());
    expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    const paused = await status('web');
    expect(paused.phase).toBe('Paused');
    expect(paused.currentStepIndex).toBe(2);
    await page.locator('[data-field="phase"].Paused').waitFor();
    expect(await page.locator('[data-field="traffic"]').textContent()).toMatch(/^25% by pod count \(desired 25%\)/);
    expect(await page.locator('tr[data-revision] td.images').allTextContents()).toEqual(['demo:v2', 'demo:v1']);
    expect(await page.locator('svg.bar rect.canary').first().getAttribute('width')).toBe('25');

    const runs = (
      (await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', labelSelector: 'fledge.dev/rollout=web' })) as {
        items: AnalysisRun[];
      }
    ).items;
    expect(runs).toHaveLength(1);
    const run = runs[0] as AnalysisRun;
    expect(run.status?.phase).toBe('Successful');
    const card = page.locator(`.run[data-run="${run.metadata.name}"]`);
    await card.locator('[data-field="run-phase"].Successful').waitFor();
    for (const metric of run.status?.metricResults ?? []) {
      const plot = card.locator(`.metric[data-metric="${metric.name}"] svg`);
      const phases = await plot.locator('g.point').evaluateAll((points) => points.map((point) => point.getAttribute('data-phase')));
      expect(phases, metric.name).toEqual(metric.measurements.map((m) => m.phase));
      expect(phases.length, metric.name).toBeGreaterThanOrEqual(4);
    }
    // The threshold of `result >= 0.95` is drawn, labelled with the condition it comes from.
    expect(await card.locator('.metric[data-metric="success-rate"] .threshold-label').textContent()).toBe('success: result >= 0.95');
    await page.screenshot({ path: join(screenshotDir, 'dashboard.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('aborts the Rollout from its button, after a confirmation, with the same request as `kubectl fledge abort`', async () => {
    await page.locator('button[data-action="abort"]').click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor();
    expect(await page.locator('#confirm-text').textContent()).toBe(`Abort rollout ${ns.name}/web: go back to 100% stable (status.abort: true)?`);
    expect((await status('web')).abort).toBeUndefined();
    await page.locator('#confirm-ok').click();
    const aborted = await waitFor('web', 'aborted', (s) => s.abort === true && s.phase === 'Degraded');
    expect(aborted.stableRevision).not.toBe(aborted.currentRevision);
    await page.locator('[data-field="phase"].Degraded').waitFor();
    expect(await page.locator('[data-field="notice"]').textContent()).toBe('rollout web aborted: going back to 100% stable');
    expect(await page.locator('button[data-action="retry"]').isEnabled()).toBe(true);
    expect(await page.locator('button[data-action="abort"]').isDisabled()).toBe(true);
    expect(consoleErrors).toEqual([]);
  });

  it('refuses a POST without its token, from another Origin, or to another Host, and changes nothing', async () => {
    const url = new URL(`api/rollouts/${ns.name}/web/retry`, dashboard.url);
    const token = await page.locator('meta[name="fledge-token"]').getAttribute('content');
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const own = { host: url.host, origin: url.origin };
    const noToken = await raw(url.href, 'POST', own);
    expect(noToken).toEqual({ status: 403, body: JSON.stringify({ message: 'missing or wrong token' }) });
    expect((await raw(url.href, 'POST', { ...own, origin: 'http://evil.example', 'x-fledge-token': token as string })).status).toBe(403);
    expect((await raw(url.href, 'POST', { host: `evil.example:${url.port}`, origin: `http://evil.example:${url.port}`, 'x-fledge-token': token as string })).status).toBe(403);
    expect((await raw(dashboard.url, 'GET', { host: `rebound.example:${url.port}` })).status).toBe(403);
    // Given time to act, none of them did.
    await holdsFor(2_000, async () => (await status('web')).abort === true, { what: 'the Rollout staying aborted' });
    // The token, Origin and Host of the page do act: the retry goes through.
    const accepted = await raw(url.href, 'POST', { ...own, 'x-fledge-token': token as string });
    expect(accepted.status, accepted.body).toBe(200);
    await waitFor('web', 'retried', (s) => s.abort !== true);
  });

  it("shows the apiserver's refusal when the user's RBAC does not allow the button's request", async () => {
    await apply(`apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: rollout-viewer}
rules:
- {apiGroups: [fledge.dev], resources: [rollouts, analysisruns], verbs: [get, list, watch]}
- {apiGroups: [apps], resources: [replicasets], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: rollout-viewer}
subjects: [{kind: ServiceAccount, name: viewer}]
`);
    const viewer = await startDashboard(await serviceAccountKubeconfig('viewer', ns.name), ns.name);
    const viewerPage = await browser.newPage();
    try {
      await viewerPage.goto(`${viewer.url}#/${ns.name}/web`);
      await viewerPage.locator('button[data-action="pause"]:not([disabled])').click();
      await viewerPage.locator('#confirm-ok').click();
      const notice = await viewerPage.locator('[data-field="notice"].error').textContent();
      expect(notice).toMatch(/forbidden: User "system:serviceaccount:[^"]+:viewer" cannot patch resource "rollouts"/);
      const spec = ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: 'web' })) as { spec: { paused?: boolean } }).spec;
      expect(spec.paused).toBeUndefined();
    } finally {
      await viewerPage.close();
      await viewer.stop();
    }
  });

  it('marks the failed measurements of a bad version below the threshold, and follows the abort they cause', async () => {
    const before = await status('web');
    const patch = { spec: { template: { spec: { containers: [{ name: 'web', image: 'demo:v3-errors10' }] } } } };
    expect((await kubectl(['patch', 'rollout', 'web', '-n', ns.name, '--type=merge', '-p', JSON.stringify(patch)])).code).toBe(0);
    const aborted = await waitFor('web', 'aborted by its analysis', (s) => s.abort === true && s.currentRevision !== before.currentRevision);
    expect(aborted.message).toMatch(/analysis failed/);
    const runs = (
      (await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', labelSelector: 'fledge.dev/rollout=web' })) as {
        items: AnalysisRun[];
      }
    ).items;
    const failed = runs.find((run) => run.status?.phase === 'Failed') as AnalysisRun;
    const measurements = failed.status?.metricResults?.find((metric) => metric.name === 'success-rate')?.measurements ?? [];
    expect(measurements.filter((m) => m.phase === 'Failed')).toHaveLength(3);
    await page.locator('[data-field="phase"].Degraded').waitFor();
    const plot = page.locator(`.run[data-run="${failed.metadata.name}"] .metric[data-metric="success-rate"] svg`);
    await plot.locator('g.point').nth(measurements.length - 1).waitFor();
    expect(await plot.locator('g.point').evaluateAll((points) => points.map((point) => point.getAttribute('data-phase')))).toEqual(measurements.map((m) => m.phase));
    // SVG y grows downwards: a failed value (0.9 against result >= 0.95) sits below the threshold line.
    const lineY = Number(await plot.locator('line.threshold').getAttribute('y1'));
    const failedYs = await plot.locator('g.point[data-phase="Failed"] path').evaluateAll((paths) => paths.map((path) => Number(/^M[-\d.]+ ([-\d.]+)/.exec(path.getAttribute('d') ?? '')?.[1]) + 4));
    expect(failedYs).toHaveLength(3);
    for (const y of failedYs) expect(y).toBeGreaterThan(lineY);
    await page.screenshot({ path: join(screenshotDir, 'dashboard-failed.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('costs the API server three watches and no requests per second with 100 Rollouts listed and the page open', async () => {
    const state = readState();
    expect(state, 'the harness cluster state (with its audit log)').toBeDefined();
    const cluster = state as NonNullable<typeof state>;
    const many = await createTestNamespace('dashboard-cost');
    try {
      const rollouts = Array.from(
        { length: 100 },
        (_, i) => `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: app-${i}}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-${i}}}
  template: {metadata: {labels: {app: app-${i}}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy: {canary: {steps: [{setWeight: 50}, {pause: {}}]}}
`,
      ).join('---\n');
      expect((await kubectl(['apply', '-n', many.name, '-f', '-'], { input: rollouts })).code).toBe(0);
      // The dashboard authenticates as the audited user: every line of the audit log from then on is one of its requests.
      const kubeconfig = join(mkdtempSync(join(tmpdir(), 'fledge-dashboard-audited-')), 'kubeconfig');
      writeFileSync(kubeconfig, readFileSync(cluster.kubeconfig, 'utf8').replace(/token: .*/, `token: ${cluster.auditedToken}`), { mode: 0o600 });
      const audit = new AuditLog(cluster.auditLog);
      const before = audit.mark();
      const costly = await startDashboard(kubeconfig, many.name);
      const listPage = await browser.newPage();
      try {
        await listPage.goto(costly.url);
        await eventually('100 rows', async () => ((await listPage.locator('#rollouts tbody tr').count()) === 100 ? true : undefined), { timeoutMs: 30_000 });
        // The namespace filter: another namespace's name hides every row, this one's shows them again.
        await listPage.locator('#ns-filter').fill('kube-system');
        expect(await listPage.locator('#rollouts tbody tr').count()).toBe(0);
        await listPage.locator('#ns-filter').fill(many.name);
        expect(await listPage.locator('#rollouts tbody tr').count()).toBe(100);
        await listPage.locator(`tr[data-rollout="${many.name}/app-7"] a`).click();
        await listPage.locator('ol.steps li').first().waitFor();
        const started = audit.mark();
        const startup = audit.count(before, started);
        const windowMs = 30_000;
        await holdsFor(
          windowMs,
          () => {
            expect(audit.count(started, audit.mark()).byVerbResource, 'the requests since start-up').toEqual({});
          },
          { every: 1_000, what: 'the dashboard making no request while the page is open and nothing changes' },
        );
        const idle = audit.count(started, audit.mark());
        process.stderr.write(
          `dashboard cost, 100 Rollouts: start-up ${JSON.stringify(startup.byVerbResource)}; then ${idle.total} requests in ${windowMs / 1000}s with the page open (${((idle.total * 1000) / windowMs).toFixed(2)}/s): ${JSON.stringify(idle.byVerbResource)}\n`,
        );
        expect(startup.byVerbResource).toMatchObject({ 'list rollouts': 1, 'watch rollouts': 1, 'list replicasets': 1, 'watch replicasets': 1, 'list analysisruns': 1, 'watch analysisruns': 1 });
        expect(startup.total).toBe(6);
        expect(idle.total).toBe(0);
      } finally {
        await listPage.close();
        await costly.stop();
      }
    } finally {
      await many.remove();
    }
  });
});
