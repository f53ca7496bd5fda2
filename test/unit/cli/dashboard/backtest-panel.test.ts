import { describe, expect, it } from 'vitest';
import type { BacktestReport, WindowVerdict } from '../../../../src/analysis/backtest.js';
import type { AnalysisRunSpec } from '../../../../src/api/analysis.js';
import { outcomeSentence, type RolloutBacktest } from '../../../../src/cli/backtest.js';
import { backtestPanel } from '../../../../src/cli/dashboard/page-data.js';

const spec = {
  metrics: [
    { name: 'success-rate', successCondition: 'result >= 0.99', provider: { prometheus: { query: 'q' } } },
    { name: 'latency', failureCondition: 'result > 0.3 && result < 9', provider: { prometheus: { query: 'q' } } },
  ],
} as unknown as AnalysisRunSpec;

const verdict = (label: string, phase: WindowVerdict['phase']): WindowVerdict => ({
  label,
  start: '2026-11-24T10:00:00.000Z',
  end: '2026-11-24T10:00:30.000Z',
  phase,
  deciding: [],
  metrics: [
    {
      name: 'success-rate',
      phase,
      series: [
        { time: '2026-11-24T10:00:03.000Z', value: '0.995', phase: 'Successful' },
        { time: '2026-11-24T10:00:06.000Z', phase: 'Error' },
        { time: '2026-11-24T10:00:09.000Z', value: '[0.95]', phase: 'Failed' },
      ],
    },
    { name: 'latency', phase: 'Successful', series: [{ time: '2026-11-24T10:00:03.000Z', value: '0.1', phase: 'Successful' }] },
  ],
});

const report: BacktestReport = {
  windows: [verdict('api-aaa-1-s1', 'Successful'), verdict('api-bbb-1-s1', 'Failed')],
  summary: { windows: 2, successful: 1, failed: 1, inconclusive: 0, error: 0 },
  queryErrors: [],
};

const result: RolloutBacktest = {
  releases: [
    { window: { label: 'api-aaa-1-s1', startMs: 0, endMs: 1, spec }, revision: 'aaa', live: 'Successful' },
    { window: { label: 'api-bbb-1-s1', startMs: 0, endMs: 1, spec }, revision: 'bbb', live: 'Failed' },
  ],
  report,
  outcome: { releases: 2, aborted: 1, held: 0 },
};

describe('the backtest panel', () => {
  const panel = backtestPanel(result);

  it('keeps what `backtest --rollout -o json` prints, and adds the releases line', () => {
    expect(panel.summary).toEqual(report.summary);
    expect(panel.releases).toEqual(result.outcome);
    expect(panel.live).toEqual([
      { revision: 'aaa', live: 'Successful' },
      { revision: 'bbb', live: 'Failed' },
    ]);
    expect(panel.sentence).toBe('this analysis would have aborted 1 of your last 2 releases');
  });

  it('gives each window its revision and live verdict beside the replayed one', () => {
    expect(panel.windows.map((w) => [w.label, w.revision, w.phase, w.live])).toEqual([
      ['api-aaa-1-s1', 'aaa', 'Successful', 'Successful'],
      ['api-bbb-1-s1', 'bbb', 'Failed', 'Failed'],
    ]);
  });

  it('plots every replayed measurement, a value-less one on the baseline, with the template’s simple threshold only', () => {
    const [rate, latency] = panel.windows[1]?.metrics ?? [];
    expect(rate?.points).toEqual([
      { time: '2026-11-24T10:00:03.000Z', value: 0.995, phase: 'Successful' },
      { time: '2026-11-24T10:00:06.000Z', phase: 'Error' },
      { time: '2026-11-24T10:00:09.000Z', value: 0.95, phase: 'Failed' },
    ]);
    expect(rate?.points.length).toBe(rate?.series.length);
    expect(rate?.threshold).toEqual({ op: '>=', value: 0.99, condition: 'success', expression: 'result >= 0.99' });
    expect(latency?.threshold).toBeUndefined();
  });
});

describe('the releases line', () => {
  it('says how many releases the analysis would have aborted, and held when any', () => {
    expect(outcomeSentence({ releases: 10, aborted: 2, held: 0 })).toBe('this analysis would have aborted 2 of your last 10 releases');
    expect(outcomeSentence({ releases: 3, aborted: 0, held: 1 })).toBe('this analysis would have aborted 0 of your last 3 releases and held 1 as inconclusive');
  });
});
