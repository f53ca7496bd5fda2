import { readFileSync } from 'node:fs';
import { AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, type AnalysisPhase } from '../api/analysis.js';
import { DurationError, parseDuration } from '../api/duration.js';
import { GROUP, VERSION, type DeclaredRollout, type RolloutAnalysis } from '../api/rollout.js';
import {
  analysisLengthMs,
  backtestSpec,
  BacktestError,
  lookupIn,
  runBacktest,
  slidingWindows,
  type BacktestDeps,
  type BacktestReport,
  type BacktestWindow,
  type WindowVerdict,
} from '../analysis/backtest.js';
import { literalArgs } from '../analysis/metric-args.js';
import { queryPrometheusRange } from '../analysis/providers/prometheus.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../analysis/providers/result.js';
import type { TemplateLookup } from '../analysis/templates.js';
import { LABEL_ANALYSIS_KIND, LABEL_POD_TEMPLATE_HASH, ownedBy } from '../api/labels.js';
import { CliError, type FledgeClient } from './client.js';
import { yamlFiles } from './lint.js';
import { parseAll } from '../yaml/parse.js';
import type { Colors } from './render.js';

export interface NamedTemplate {
  name: string;
  clusterScope: boolean;
  spec: AnalysisTemplate['spec'];
}

const asCliError = (err: unknown): never => {
  if (err instanceof BacktestError || err instanceof DurationError) throw new CliError(err.message, 2);
  throw err;
};

/** The AnalysisTemplates and ClusterAnalysisTemplates in files and directories (multi-document YAML); anything else is skipped. */
export function readTemplates(paths: readonly string[]): NamedTemplate[] {
  const templates: NamedTemplate[] = [];
  for (const file of paths.flatMap((path) => yamlFiles(path))) {
    for (const doc of parseAll(readFileSync(file, 'utf8'))) {
      const kind = (doc as { kind?: unknown } | null)?.kind;
      if (kind !== 'AnalysisTemplate' && kind !== 'ClusterAnalysisTemplate') continue;
      const parsed = (kind === 'AnalysisTemplate' ? AnalysisTemplate : ClusterAnalysisTemplate).safeParse(doc);
      if (!parsed.success) throw new CliError(`${file}: ${kind} does not parse (try kubectl fledge lint): ${parsed.error.issues[0]?.message ?? 'invalid'}`, 2);
      templates.push({ name: parsed.data.metadata.name ?? '', clusterScope: kind === 'ClusterAnalysisTemplate', spec: parsed.data.spec });
    }
  }
  if (templates.length === 0) throw new CliError(`no AnalysisTemplate or ClusterAnalysisTemplate in ${paths.join(', ')}`, 2);
  return templates;
}

/** All the templates as one analysis, as a Rollout step naming each of them would run them. */
const refsTo = (templates: readonly NamedTemplate[]): RolloutAnalysis['templates'] =>
  templates.map((template) => ({ templateName: template.name, ...(template.clusterScope && { clusterScope: true }) }));

/** `now`, a time ago (`7d`, `36h`, `1d12h`, `90m`), or an RFC 3339 time, in ms. */
export function parseInstant(text: string, nowMs: number): number {
  const trimmed = text.trim();
  if (trimmed === 'now') return nowMs;
  const ago = /^(?:([0-9]+)d)?(.*)$/.exec(trimmed);
  const days = Number(ago?.[1] ?? 0);
  const rest = ago?.[2] ?? '';
  if (/^[0-9]/.test(trimmed) && !/[-T:]/.test(trimmed)) {
    try {
      return nowMs - days * 86_400_000 - (rest === '' ? 0 : parseDuration(rest));
    } catch (err) {
      if (!(err instanceof DurationError)) throw err;
    }
  }
  const absolute = Date.parse(trimmed);
  if (Number.isNaN(absolute)) throw new CliError(`${JSON.stringify(text)} is not a time: use now, a time ago such as 7d or 36h, or RFC 3339 (2026-04-01T10:00:00Z)`, 2);
  return absolute;
}

/** `--args name=value`, repeated. */
export function parseArgPairs(pairs: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CliError(`--args ${JSON.stringify(pair)}: use name=value`, 2);
    args.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return args;
}

/** The windows of `-f` mode: the whole range cut into runs of the analysis's length. */
export function rangeWindows(templates: readonly NamedTemplate[], args: ReadonlyMap<string, string>, fromMs: number, toMs: number, stepMs: number): BacktestWindow[] {
  if (toMs <= fromMs) throw new CliError('--from must be before --to', 2);
  let windows: BacktestWindow[];
  try {
    windows = slidingWindows(backtestSpec(refsTo(templates), lookupIn(templates), args), fromMs, toMs, stepMs);
  } catch (err) {
    return asCliError(err instanceof BacktestError ? new BacktestError(`${err.message} (give arguments with --args name=value)`) : err);
  }
  if (windows.length === 0) throw new CliError('the range is shorter than one run of the analysis', 2);
  return windows;
}

/** Which analysis of the Rollout a run was: its step's (the run's name ends in -s<step>) or the background one. */
function analysisOf(rollout: DeclaredRollout, run: AnalysisRun): RolloutAnalysis | undefined {
  const canary = rollout.spec.strategy.canary;
  if (run.metadata.labels?.[LABEL_ANALYSIS_KIND] === 'background') return canary.analysis;
  const step = /-s([0-9]+)$/.exec(run.metadata.name ?? '')?.[1];
  const at = step === undefined ? undefined : canary.steps?.[Number(step)];
  return at !== undefined && 'analysis' in at ? at.analysis : undefined;
}

export interface PastRelease {
  window: BacktestWindow;
  revision: string;
  live: AnalysisPhase;
}

/**
 * The windows of `--rollout` mode: one per past AnalysisRun that started, the newest `last`, each from its
 * startedAt, measured with the templates (the Rollout's current ones, or `templates` from -f) and the argument
 * values that run was given (`given` overrides them). A run cut short by its Rollout is cut short at the same time.
 */
export function releaseWindows(
  rollout: DeclaredRollout,
  runs: readonly AnalysisRun[],
  lookup: TemplateLookup,
  templates: readonly NamedTemplate[] | undefined,
  given: ReadonlyMap<string, string>,
  last: number,
  nowMs: number,
): PastRelease[] {
  // Templates from -f replace the Rollout's, under the same names or not.
  const templateLookup = templates !== undefined ? lookupIn(templates) : lookup;
  const started = runs.filter((run) => run.status?.startedAt !== undefined).sort((a, b) => Date.parse(a.status?.startedAt ?? '') - Date.parse(b.status?.startedAt ?? ''));
  return started.slice(-last).map((run) => {
    const name = run.metadata.name ?? '';
    const refs = templates !== undefined ? refsTo(templates) : analysisOf(rollout, run)?.templates;
    if (refs === undefined) throw new CliError(`AnalysisRun ${name}: the Rollout no longer has the analysis it ran for; name the templates with -f`, 2);
    const args = new Map([...literalArgs(run.spec.args), ...given]);
    let spec: BacktestWindow['spec'];
    try {
      spec = backtestSpec(refs, templateLookup, args);
    } catch (err) {
      return asCliError(err instanceof BacktestError ? new BacktestError(`AnalysisRun ${name}: ${err.message}`) : err);
    }
    const startMs = Date.parse(run.status?.startedAt ?? '');
    const completedMs = Math.min(Date.parse(run.status?.completedAt ?? '') || nowMs, nowMs);
    const length = analysisLengthMs(spec, 0);
    const endMs = run.spec.terminate === true || length === undefined ? completedMs : Math.min(Math.max(completedMs, startMs + length), nowMs);
    return { window: { label: name, startMs, endMs, spec }, revision: run.metadata.labels?.[LABEL_POD_TEMPLATE_HASH] ?? name, live: run.status?.phase ?? 'Pending' };
  });
}

/** The Rollout, its AnalysisRuns, and the templates in its namespace and cluster, for `--rollout`. */
export async function fetchRolloutHistory(
  client: FledgeClient,
  name: string,
  namespace = client.target.namespace,
): Promise<{ rollout: DeclaredRollout; runs: AnalysisRun[]; lookup: TemplateLookup }> {
  const rollout = await client.getRollout(name, namespace);
  const list = async (plural: string, namespaced: boolean, labelSelector?: string): Promise<unknown[]> => {
    const request = { group: GROUP, version: VERSION, plural, ...(labelSelector !== undefined && { labelSelector }) };
    const answer = namespaced ? client.custom.listNamespacedCustomObject({ ...request, namespace }) : client.custom.listClusterCustomObject(request);
    return ((await answer) as { items: unknown[] }).items;
  };
  const [runs, local, cluster] = await Promise.all([
    list('analysisruns', true, ownedBy(name)),
    list('analysistemplates', true),
    list('clusteranalysistemplates', false).catch(() => [] as unknown[]),
  ]);
  const templates = [
    ...local.flatMap((item) => AnalysisTemplate.safeParse(item).data ?? []).map((t) => ({ name: t.metadata.name ?? '', clusterScope: false, spec: t.spec })),
    ...cluster.flatMap((item) => ClusterAnalysisTemplate.safeParse(item).data ?? []).map((t) => ({ name: t.metadata.name ?? '', clusterScope: true, spec: t.spec })),
  ];
  return { rollout, runs: runs.flatMap((item) => AnalysisRun.safeParse(item).data ?? []), lookup: lookupIn(templates) };
}

export interface ReleaseOutcome {
  releases: number;
  aborted: number;
  held: number;
}

/** Releases whose runs would have failed or errored (the Rollout aborts), or been inconclusive (it holds). */
export function releaseOutcome(releases: readonly PastRelease[], verdicts: readonly WindowVerdict[]): ReleaseOutcome {
  const worst = new Map<string, AnalysisPhase[]>();
  releases.forEach((release, index) => worst.set(release.revision, [...(worst.get(release.revision) ?? []), verdicts[index]?.phase ?? 'Pending']));
  const phases = [...worst.values()];
  const aborted = phases.filter((list) => list.some((phase) => phase === 'Failed' || phase === 'Error')).length;
  const held = phases.filter((list) => !list.some((phase) => phase === 'Failed' || phase === 'Error') && list.includes('Inconclusive')).length;
  return { releases: worst.size, aborted, held };
}

/** The answer to "what would this analysis have done to my releases", in one line. */
export function outcomeSentence(outcome: ReleaseOutcome): string {
  const held = outcome.held > 0 ? ` and held ${outcome.held} as inconclusive` : '';
  return `this analysis would have aborted ${outcome.aborted} of your last ${outcome.releases} releases${held}`;
}

/** How a backtest reaches Prometheus and Secrets: the analysis's providers, with the plugin's credentials. */
export function backtestDeps(
  client: FledgeClient,
  namespace: string,
  options: { prometheusAddress: string | undefined; stepMs?: number | undefined; queryPerWindow: boolean },
): BacktestDeps {
  return {
    fetchRange: queryPrometheusRange,
    readSecret: async (ref, secretNamespace) => {
      const secret = await client.core.readNamespacedSecret({ name: ref.name, namespace: secretNamespace });
      const encoded = secret.data?.[ref.key];
      if (encoded === undefined) throw new Error(`Secret ${ref.name} has no key ${ref.key}`);
      return Buffer.from(encoded, 'base64').toString('utf8');
    },
    prometheusAddress: options.prometheusAddress,
    maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
    namespace,
    ...(options.stepMs !== undefined && { stepMs: options.stepMs }),
    queryPerWindow: options.queryPerWindow,
  };
}

export interface RolloutBacktestOptions {
  namespace: string;
  /** Templates from -f, in place of the Rollout's. */
  templates?: readonly NamedTemplate[] | undefined;
  given: ReadonlyMap<string, string>;
  last: number;
  stepMs?: number | undefined;
  prometheusAddress: string | undefined;
  nowMs: number;
}

export interface RolloutBacktest {
  releases: PastRelease[];
  report: BacktestReport;
  outcome: ReleaseOutcome;
}

/** `kubectl fledge backtest --rollout NAME`: the Rollout's past runs replayed, each on its own query grid. */
export async function backtestRollout(client: FledgeClient, name: string, options: RolloutBacktestOptions): Promise<RolloutBacktest> {
  const history = await fetchRolloutHistory(client, name, options.namespace);
  const releases = releaseWindows(history.rollout, history.runs, history.lookup, options.templates, options.given, options.last, options.nowMs);
  if (releases.length === 0) throw new CliError(`rollout ${name} has no AnalysisRuns that started`, 1);
  const report = await runBacktest(
    releases.map((release) => release.window),
    backtestDeps(client, options.namespace, { prometheusAddress: options.prometheusAddress, stepMs: options.stepMs, queryPerWindow: true }),
  );
  return { releases, report, outcome: releaseOutcome(releases, report.windows) };
}

/** What `--rollout -o json` prints: the report, the releases' outcome, and each window's revision and live verdict. */
export function rolloutBacktestJson(result: RolloutBacktest): BacktestReport & { releases: ReleaseOutcome; live: Array<{ revision: string; live: AnalysisPhase }> } {
  return { ...result.report, releases: result.outcome, live: result.releases.map((release) => ({ revision: release.revision, live: release.live })) };
}

const ICONS: Record<string, string> = { Successful: '✔', Failed: '✖', Error: '⚠', Inconclusive: '?', Running: '◌', Pending: '·' };

function paintPhase(c: Colors, phase: string): string {
  const text = `${ICONS[phase] ?? '?'} ${phase}`;
  if (phase === 'Successful') return c.green(text);
  if (phase === 'Failed' || phase === 'Error') return c.red(text);
  return c.yellow(text);
}

const signed = (n: number): string => `${n >= 0 ? '+' : ''}${Number(n.toPrecision(4))}`;
const offset = (from: string, to: string | undefined): string => (to === undefined ? '-' : `+${Math.round((Date.parse(to) - Date.parse(from)) / 1000)}s`);

/** The table: per window its start, verdict, when it was reached, on which values, and the closest margin; then the summary. */
export function renderBacktest(report: BacktestReport, c: Colors, live?: readonly AnalysisPhase[]): string {
  const rows = report.windows.map((window, index) => [
    window.label,
    window.start,
    paintPhase(c, window.phase),
    offset(window.start, window.decidedAt),
    window.deciding.map((d) => `${d.metric}=${d.value ?? 'none'}`).join(' ') || '-',
    window.margin === undefined ? '-' : `${signed(window.margin.margin)} ${window.margin.metric}`,
    ...(live !== undefined ? [live[index] ?? '-'] : []),
  ]);
  const header = ['WINDOW', 'START', 'VERDICT', 'DECIDED', 'DECIDING VALUES', 'MARGIN', ...(live !== undefined ? ['LIVE'] : [])];
  // eslint-disable-next-line no-control-regex
  const width = (text: string): number => text.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths = header.map((title, column) => Math.max(width(title), ...rows.map((row) => width(row[column] ?? ''))));
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) => cell + ' '.repeat((widths[column] ?? 0) - width(cell)))
      .join('  ')
      .trimEnd();
  const s = report.summary;
  const closest = s.closestPass === undefined ? '' : `; closest pass: ${s.closestPass.metric} ${s.closestPass.value} at ${s.closestPass.time} (${signed(s.closestPass.margin)} from its threshold, window ${s.closestPass.window})`;
  const summary = `${c.red(`✖ ${s.failed} failed`)}, ${c.red(`⚠ ${s.error} errored`)}, ${c.yellow(`? ${s.inconclusive} inconclusive`)}, ${c.green(`✔ ${s.successful} passed`)} of ${s.windows} windows${closest}`;
  return [c.bold(line(header)), ...rows.map(line), '', summary].join('\n') + '\n';
}
