import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BacktestReport } from '../../src/analysis/backtest.js';
import { createTestNamespace, installCrds, plugin, prometheusUrl, startController, type ControllerProcess } from '../harness/e2e.js';
import { launchChromium, raw, screenshotDir, startDashboard, type DashboardProcess } from '../harness/dashboard.js';
import { recordReleaseHistory, type ReleaseHistory } from '../harness/release-history.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

type CommandJson = BacktestReport & { releases: { releases: number; aborted: number; held: number }; live: Array<{ revision: string; live: string }> };

describe('the dashboard’s backtest panel, against the real Prometheus and the command’s own answer', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let simulator: Simulator;
  let dashboard: DashboardProcess;
  let browser: Browser;
  let page: Page;
  let history: ReleaseHistory;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('dash-backtest');
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name, ['--prometheus-address', prometheusUrl()]);
    history = await recordReleaseHistory(ns.name);
    dashboard = await startDashboard(inject('kubeconfig'), ns.name, ['--prometheus-address', prometheusUrl()]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  }, 300_000);

  afterAll(async (ctx) => {
    await browser?.close();
    await dashboard?.stop();
    await controller?.kill();
    await simulator?.stop();
    if (ctx.tasks.some((t) => t.result?.state !== 'pass')) process.stderr.write(`controller output:\n${controller?.output().slice(-20_000)}\n`);
    await ns?.remove();
  });

  it('runs on a click, and shows per past release the command’s verdicts, its measurements as plot points, and its releases line', async () => {
    await page.goto(`${dashboard.url}#/${ns.name}/history`);
    await page.locator('[data-field="phase"]').waitFor();
    // Nothing queries Prometheus until the user asks.
    expect(await page.locator('#backtest [data-window]').count()).toBe(0);
    const started = Date.now();
    await page.locator('button[data-backtest]').click();
    await page.locator('[data-field="bt-summary"]').waitFor({ timeout: 30_000 });
    process.stderr.write(`dashboard backtest: answered in ${Date.now() - started} ms\n`);

    const res = await plugin(['backtest', '--rollout', 'history', '-n', ns.name, '--prometheus-address', prometheusUrl(), '-o', 'json']);
    expect(res.code, res.stderr).toBe(0);
    const command = JSON.parse(res.stdout) as CommandJson;

    // One window per past AnalysisRun, oldest first, as the command lists them.
    const labels = await page.locator('#backtest [data-window]').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-window')));
    expect(labels).toEqual([history.goodRun.metadata.name, history.badRun.metadata.name]);
    expect(labels).toEqual(command.windows.map((window) => window.label));

    for (const [index, window] of command.windows.entries()) {
      const card = page.locator(`#backtest [data-window="${window.label}"]`);
      expect(await card.locator('[data-field="bt-verdict"]').textContent()).toBe(window.phase);
      expect(await card.locator('[data-field="bt-live"]').textContent()).toBe(command.live[index]?.live);
      const decided = window.decidedAt === undefined ? 'not decided' : `+${Math.round((Date.parse(window.decidedAt) - Date.parse(window.start)) / 1000)}s`;
      expect(await card.locator('[data-field="bt-decided"]').textContent()).toBe(decided);
      for (const metric of window.metrics) {
        const plot = card.locator(`[data-metric="${metric.name}"]`);
        expect(await plot.locator('g.point').count(), `${window.label} ${metric.name}`).toBe(metric.series.length);
        expect(await plot.locator('g.point').evaluateAll((points) => points.map((point) => point.getAttribute('data-phase')))).toEqual(metric.series.map((point) => point.phase));
        // The template's `result >= 0.99` is drawn as the threshold.
        expect(await plot.locator('.threshold-label').textContent()).toBe('success: result >= 0.99');
      }
    }
    // The replay agrees with what happened live: the good release passed, the bad one failed.
    expect(command.windows.map((window) => window.phase)).toEqual(['Successful', 'Failed']);
    expect(command.live.map((entry) => entry.live)).toEqual([history.goodRun.status?.phase, history.badRun.status?.phase]);
    expect(command.windows[1]?.metrics[0]?.series.length).toBeGreaterThan(0);
    expect(await page.locator('[data-field="bt-summary"]').textContent()).toBe(
      `this analysis would have aborted ${command.releases.aborted} of your last ${command.releases.releases} releases`,
    );
    expect(command.releases).toEqual({ releases: 2, aborted: 1, held: 0 });

    await page.screenshot({ path: join(screenshotDir, 'dashboard-backtest.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it('answers the backtest API only to its own Host and with the page’s token', async () => {
    const url = new URL(`/api/backtest?namespace=${ns.name}&rollout=history`, dashboard.url);
    const own = { host: url.host };
    expect((await raw(url.href, 'GET', own)).status).toBe(403);
    expect((await raw(url.href, 'GET', { ...own, 'x-fledge-token': 'not-the-token' })).status).toBe(403);
    const token = await page.locator('meta[name="fledge-token"]').getAttribute('content');
    expect((await raw(url.href, 'GET', { host: `rebound.example:${url.port}`, 'x-fledge-token': token as string })).status).toBe(403);
    const missing = await raw(new URL(`/api/backtest?namespace=${ns.name}&rollout=nothing`, dashboard.url).href, 'GET', { ...own, 'x-fledge-token': token as string });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ message: `rollout ${ns.name}/nothing is not listed by this dashboard` });
  });
});
