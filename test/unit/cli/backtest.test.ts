import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { summarize, type WindowVerdict } from '../../../src/analysis/backtest.js';
import type { AnalysisRun } from '../../../src/api/analysis.js';
import type { Rollout } from '../../../src/api/rollout.js';
import { parseArgPairs, parseInstant, rangeWindows, readTemplates, releaseOutcome, releaseWindows, renderBacktest } from '../../../src/cli/backtest.js';
import { CliError } from '../../../src/cli/client.js';
import { colors } from '../../../src/cli/render.js';

const NOW = Date.parse('2026-04-08T12:00:00Z');

const TEMPLATES = `apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}, {name: canary-hash}]
  metrics:
  - name: success-rate
    interval: 1m
    count: 5
    successCondition: result >= 0.99
    provider: {prometheus: {query: 'ok{service="{{args.service}}",hash="{{args.canary-hash}}"}'}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: fledge.dev/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: latency}
spec:
  metrics:
  - name: p99
    interval: 1m
    count: 3
    successCondition: result <= 0.5
    provider: {prometheus: {query: p99}}
`;

const templatesFile = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'fledge-backtest-'));
  writeFileSync(join(dir, 'templates.yaml'), TEMPLATES);
  return dir;
};

describe('backtest flags', () => {
  it('reads now, times ago with days, and RFC 3339', () => {
    expect(parseInstant('now', NOW)).toBe(NOW);
    expect(parseInstant('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseInstant('1d12h', NOW)).toBe(NOW - 36 * 3_600_000);
    expect(parseInstant('90m', NOW)).toBe(NOW - 90 * 60_000);
    expect(parseInstant('2026-04-01T10:00:00Z', NOW)).toBe(Date.parse('2026-04-01T10:00:00Z'));
    expect(() => parseInstant('last tuesday', NOW)).toThrow(CliError);
    expect(() => parseInstant('7x', NOW)).toThrow(/not a time/);
  });

  it('reads --args name=value, values with = kept whole', () => {
    expect(parseArgPairs(['service=api', 'selector=a=b'])).toEqual(new Map([['service', 'api'], ['selector', 'a=b']]));
    expect(() => parseArgPairs(['=x'])).toThrow(/use name=value/);
  });
});

describe('-f: templates from files, windows over a range', () => {
  it('keeps AnalysisTemplates and ClusterAnalysisTemplates of a multi-document file, and joins them into one analysis', () => {
    const templates = readTemplates([templatesFile()]);
    expect(templates.map((t) => [t.name, t.clusterScope])).toEqual([
      ['success-rate', false],
      ['latency', true],
    ]);
    const windows = rangeWindows(templates, new Map([['service', 'api'], ['canary-hash', 'abc']]), NOW - 3_600_000, NOW, 60_000);
    // The longest metric takes 5 minutes: twelve back-to-back windows in the hour.
    expect(windows).toHaveLength(12);
    expect(windows[0]?.spec.metrics.map((m) => m.name)).toEqual(['success-rate', 'p99']);
    expect(windows[1]?.startMs).toBe(NOW - 3_600_000 + 300_000);
  });

  it('refuses what the controller would refuse to run, and a range shorter than one run', () => {
    const templates = readTemplates([templatesFile()]);
    expect(() => rangeWindows(templates, new Map([['service', 'api']]), NOW - 3_600_000, NOW, 60_000)).toThrow(/argument canary-hash has no value/);
    expect(() => rangeWindows(templates, new Map([['service', 'api'], ['canary-hash', 'x']]), NOW - 60_000, NOW, 60_000)).toThrow(/shorter than one run/);
    expect(() => rangeWindows(templates, new Map(), NOW, NOW - 1, 60_000)).toThrow(/--from must be before --to/);
  });
});

describe('--rollout: windows from past AnalysisRuns', () => {
  const rollout = {
    metadata: { name: 'api', namespace: 'shop' },
    spec: {
      selector: {},
      template: {},
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'success-rate' }] } }],
          analysis: { templates: [{ templateName: 'latency', clusterScope: true }] },
        },
      },
    },
  } as unknown as Rollout;
  const run = (name: string, kind: string, hash: string, startedAt: string, completedAt: string | undefined, phase: string, terminate = false): AnalysisRun =>
    ({
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'AnalysisRun',
      metadata: { name, labels: { 'fledge.dev/analysis': kind, 'fledge.dev/pod-template-hash': hash } },
      spec: { metrics: [], args: [{ name: 'service', value: 'api' }, { name: 'canary-hash', value: hash }], ...(terminate && { terminate: true }) },
      status: { phase, startedAt, ...(completedAt !== undefined && { completedAt }) },
    }) as AnalysisRun;
  const runs = [
    run('api-bbb-1-s1', 'step', 'bbb', '2026-04-02T10:00:00Z', '2026-04-02T10:02:00Z', 'Failed'),
    run('api-aaa-1-s1', 'step', 'aaa', '2026-04-01T10:00:00Z', '2026-04-01T10:05:00Z', 'Successful'),
    run('api-aaa-1-bg', 'background', 'aaa', '2026-04-01T09:59:00Z', '2026-04-01T10:06:00Z', 'Successful', true),
    run('api-ccc-1-s1', 'step', 'ccc', '2026-04-03T10:00:00Z', undefined, 'Pending'),
  ];
  const templates = readTemplates([templatesFile()]);
  const clusterLookup = (name: string, clusterScope: boolean) => templates.find((t) => t.name === name && t.clusterScope === clusterScope)?.spec;

  it('takes each run’s own analysis and argument values, oldest first, the newest --last', () => {
    const releases = releaseWindows(rollout, runs, clusterLookup, undefined, new Map(), 10, NOW);
    expect(releases.map((r) => [r.window.label, r.revision, r.live])).toEqual([
      ['api-aaa-1-bg', 'aaa', 'Successful'],
      ['api-aaa-1-s1', 'aaa', 'Successful'],
      ['api-bbb-1-s1', 'bbb', 'Failed'],
      ['api-ccc-1-s1', 'ccc', 'Pending'],
    ]);
    const [background, step, failed, running] = releases;
    expect(background?.window.spec.metrics.map((m) => m.name)).toEqual(['p99']);
    // Cut short by its Rollout: cut short at the same time.
    expect(background?.window.endMs).toBe(Date.parse('2026-04-01T10:06:00Z'));
    expect(step?.window.spec.args).toEqual([{ name: 'service', value: 'api' }, { name: 'canary-hash', value: 'aaa' }]);
    // A run that failed early still gets the analysis's full length, so a laxer threshold can pass it later.
    expect(failed?.window.endMs).toBe(Date.parse('2026-04-02T10:05:00Z'));
    expect(running?.window.endMs).toBe(NOW);
    expect(releaseWindows(rollout, runs, clusterLookup, undefined, new Map(), 2, NOW).map((r) => r.window.label)).toEqual(['api-bbb-1-s1', 'api-ccc-1-s1']);
  });

  it('uses templates from -f instead of the Rollout’s, and --args over the recorded values', () => {
    const only = readTemplates([templatesFile()]).filter((t) => t.name === 'success-rate');
    const releases = releaseWindows(rollout, runs.slice(0, 1), () => undefined, only, new Map([['service', 'web']]), 10, NOW);
    expect(releases[0]?.window.spec.args).toEqual([{ name: 'service', value: 'web' }, { name: 'canary-hash', value: 'bbb' }]);
  });

  it('says which run cannot be replayed', () => {
    expect(() => releaseWindows(rollout, runs, () => undefined, undefined, new Map(), 10, NOW)).toThrow(/AnalysisRun api-aaa-1-bg: the analysis cannot run: ClusterAnalysisTemplate latency not found/);
  });

  it('counts releases (revisions), not runs: any failed or errored run aborts one, an inconclusive one holds it', () => {
    const releases = releaseWindows(rollout, runs, clusterLookup, undefined, new Map(), 10, NOW);
    const verdict = (phase: WindowVerdict['phase']) => ({ phase }) as WindowVerdict;
    expect(releaseOutcome(releases, [verdict('Successful'), verdict('Failed'), verdict('Error'), verdict('Inconclusive')])).toEqual({ releases: 3, aborted: 2, held: 1 });
  });
});

describe('renderBacktest', () => {
  it('prints a row per window and the summary', () => {
    const windows: WindowVerdict[] = [
      {
        label: '1',
        start: '2026-04-01T10:00:00.000Z',
        end: '2026-04-01T10:05:00.000Z',
        phase: 'Successful',
        decidedAt: '2026-04-01T10:04:00.000Z',
        deciding: [{ metric: 'success-rate', phase: 'Successful', value: '0.995', time: '2026-04-01T10:04:00.000Z' }],
        margin: { metric: 'success-rate', margin: 0.002, time: '2026-04-01T10:02:00.000Z', value: 0.992 },
        metrics: [],
      },
      {
        label: '2',
        start: '2026-04-01T10:05:00.000Z',
        end: '2026-04-01T10:10:00.000Z',
        phase: 'Failed',
        decidedAt: '2026-04-01T10:06:00.000Z',
        deciding: [{ metric: 'success-rate', phase: 'Failed', value: '0.91', time: '2026-04-01T10:06:00.000Z' }],
        margin: { metric: 'success-rate', margin: -0.08, time: '2026-04-01T10:06:00.000Z', value: 0.91 },
        metrics: [],
      },
    ];
    const text = renderBacktest({ windows, summary: summarize(windows), queryErrors: [] }, colors(false), ['Successful', 'Successful']);
    expect(text.split('\n')).toEqual([
      'WINDOW  START                     VERDICT       DECIDED  DECIDING VALUES     MARGIN               LIVE',
      '1       2026-04-01T10:00:00.000Z  ✔ Successful  +240s    success-rate=0.995  +0.002 success-rate  Successful',
      '2       2026-04-01T10:05:00.000Z  ✖ Failed      +60s     success-rate=0.91   -0.08 success-rate   Successful',
      '',
      '✖ 1 failed, ⚠ 0 errored, ? 0 inconclusive, ✔ 1 passed of 2 windows; closest pass: success-rate 0.992 at 2026-04-01T10:02:00.000Z (+0.002 from its threshold, window 1)',
      '',
    ]);
  });
});
