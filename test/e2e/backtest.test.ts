import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BacktestReport } from '../../src/analysis/backtest.js';
import type { AnalysisRun } from '../../src/api/analysis.js';
import { controllerSuite, plugin, prometheusUrl } from '../harness/e2e.js';
import { historyTemplate, recordReleaseHistory } from '../harness/release-history.js';

const INTERVAL_MS = 3000;

const firstFailed = (series: Array<{ time: string; phase: string }> | undefined): number | undefined => {
  const failed = series?.find((point) => point.phase === 'Failed');
  return failed === undefined ? undefined : Date.parse(failed.time);
};

describe('kubectl fledge backtest against the real Prometheus', () => {
  const suite = controllerSuite('backtest', () => ['--prometheus-address', prometheusUrl()], { simulator: true });
  let dir: string;
  let goodRun: AnalysisRun;
  let badRun: AnalysisRun;
  let badImageAt: number;

  const backtest = async (args: string[]): Promise<BacktestReport & { releases?: { releases: number; aborted: number; held: number } }> => {
    const res = await plugin(['backtest', '-n', suite.ns.name, '--prometheus-address', prometheusUrl(), '--step', '1s', '-o', 'json', ...args]);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as BacktestReport;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fledge-backtest-'));
    ({ goodRun, badRun, badImageAt } = await recordReleaseHistory(suite.ns.name));
  }, 300_000);

  it('-f over the whole history: passes the good phase and fails where the live analysis failed', async () => {
    const file = join(dir, 'template.yaml');
    writeFileSync(file, historyTemplate(0.99));
    const from = Date.parse(goodRun.status?.startedAt ?? '');
    const to = Date.parse(badRun.status?.completedAt ?? '') + 10_000;
    const report = await backtest(['-f', file, '--args', `namespace=${suite.ns.name}`, '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()]);
    const liveFailedAt = firstFailed(badRun.status?.metricResults?.[0]?.measurements.map((m) => ({ time: m.startedAt, phase: m.phase }))) as number;
    const failedWindow = report.windows.find((window) => window.phase === 'Failed');
    expect(failedWindow, JSON.stringify(report.summary)).toBeDefined();
    const replayFailedAt = firstFailed(failedWindow?.metrics[0]?.series) as number;
    process.stderr.write(`backtest: live failed at ${new Date(liveFailedAt).toISOString()}, the replay at ${new Date(replayFailedAt).toISOString()}\n`);
    expect(Math.abs(replayFailedAt - liveFailedAt)).toBeLessThanOrEqual(INTERVAL_MS + 1000);
    // Every window over the good phase (it ended before the bad image was set) passes, on values near 1.
    const good = report.windows.filter((window) => Date.parse(window.end) < badImageAt);
    expect(good.length).toBeGreaterThan(0);
    expect(good.map((window) => window.phase)).toEqual(good.map(() => 'Successful'));
    expect(report.summary.failed).toBeGreaterThanOrEqual(1);
    expect(report.summary.closestPass?.margin).toBeGreaterThanOrEqual(0);
    expect(failedWindow?.margin?.margin).toBeLessThan(0);
  });

  it('--rollout: replays the Rollout’s own runs, with the verdicts it reached live; a stricter template would abort both', async () => {
    const report = await backtest(['--rollout', 'history']);
    expect(report.windows.map((window) => window.label)).toEqual([goodRun.metadata.name, badRun.metadata.name]);
    expect(report.windows.map((window) => window.phase)).toEqual(['Successful', 'Failed']);
    expect(report.releases).toEqual({ releases: 2, aborted: 1, held: 0 });
    const live = badRun.status?.metricResults?.[0]?.measurements ?? [];
    const replay = report.windows[1]?.metrics[0]?.series ?? [];
    const liveIndex = live.findIndex((m) => m.phase === 'Failed');
    const replayIndex = replay.findIndex((m) => m.phase === 'Failed');
    expect(Math.abs(replayIndex - liveIndex), `live ${JSON.stringify(live)} replay ${JSON.stringify(replay)}`).toBeLessThanOrEqual(1);
    expect(report.windows[0]?.start).toBe(new Date(Date.parse(goodRun.status?.startedAt ?? '')).toISOString());

    const strict = join(dir, 'strict.yaml');
    writeFileSync(strict, historyTemplate(1.01));
    const stricter = await backtest(['--rollout', 'history', '-f', strict]);
    expect(stricter.windows.map((window) => window.phase)).toEqual(['Failed', 'Failed']);
    expect(stricter.releases).toEqual({ releases: 2, aborted: 2, held: 0 });
  });

  it('prints a table and the releases line for people', async () => {
    const res = await plugin(['backtest', '--rollout', 'history', '-n', suite.ns.name, '--prometheus-address', prometheusUrl()]);
    expect(res.code, res.stderr).toBe(0);
    process.stderr.write(`kubectl fledge backtest --rollout history:\n${res.stdout}`);
    expect(res.stdout).toMatch(/^WINDOW\s+START\s+VERDICT\s+DECIDED\s+DECIDING VALUES\s+MARGIN\s+LIVE/);
    expect(res.stdout).toMatch(/✖ Failed\s+\+\d+s\s+success-rate=0\.9\d*/);
    expect(res.stdout).toContain('✖ 1 failed, ⚠ 0 errored, ? 0 inconclusive, ✔ 1 passed of 2 windows; closest pass: success-rate');
    expect(res.stdout).toContain('this analysis would have aborted 1 of your last 2 releases');
  });
});
