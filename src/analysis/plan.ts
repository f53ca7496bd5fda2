import { transition } from 'xstate';
import { isSequential, judgesItself, type AnalysisPhase, type JudgeSpec, AnalysisRun, AnalysisRunStatus, MetricResult } from '../api/analysis.js';
import { parseDuration } from '../api/duration.js';
import { compileMetricConditions, ConditionError, type MetricConditions } from './condition.js';
import type { MeasurementVerdict } from './measure.js';
import { resolveRunMetrics, type ResolvedMetric } from './metric-args.js';
import { scoreMetrics } from '../judge/index.js';
import { isTerminal, runMachine, type TerminalPhase } from './run-machine.js';
import { setConditions, type DesiredCondition } from '../api/conditions.js';

export const RUN_DEFAULTS = { consecutiveErrorLimit: 4, failureLimit: 0, inconclusiveLimit: 0, measurementRetention: 10 } as const;

/** After an Error measurement the next try comes this soon (or at the metric's interval, if shorter), as in Argo. */
export const ERROR_RETRY_MS = 10_000;

/**
 * How often a measurement in progress is looked at again when nothing else wakes its run. A safety net: the
 * controller watches what a provider starts (Jobs), so a finished measurement is usually seen at once.
 */
export const IN_PROGRESS_POLL_MS = 10_000;

/** A measurement under way that the run no longer needs: its provider must stop it. */
export interface AbandonedMeasurement {
  metric: ResolvedMetric;
  /** Which measurement of the metric it was. */
  index: number;
  metadata: Record<string, string>;
}

export interface RunEvaluation {
  /** The complete status to write. */
  status: AnalysisRunStatus;
  /** Metrics whose next measurement is due now, with their arguments resolved. */
  due: ResolvedMetric[];
  /** Metrics with a measurement in progress, to look at again. */
  inProgress: ResolvedMetric[];
  /** Measurements in progress when the run reached its verdict; the status no longer lists them. */
  abandoned: AbandonedMeasurement[];
  /** When the next measurement falls due. */
  requeueAfterMs?: number;
  /** Compiled conditions per metric, for the measurements the shell takes. */
  conditions: Map<string, MetricConditions>;
}

const toTime = (ms: number): string => new Date(ms).toISOString();
const durationMs = (value: string | number | undefined): number => (value === undefined ? 0 : parseDuration(value));

function emptyResult(metric: { name: string; dryRun?: boolean | undefined }): MetricResult {
  return {
    name: metric.name,
    phase: 'Pending',
    count: 0,
    successful: 0,
    failed: 0,
    inconclusive: 0,
    error: 0,
    consecutiveError: 0,
    measurements: [],
    ...(metric.dryRun === true && { dryRun: true }),
  };
}

/** How many measurements a metric takes: count, or one without an interval, or unbounded with one. */
function plannedCount(metric: ResolvedMetric): number {
  if (metric.count !== undefined) return metric.count;
  return metric.interval === undefined ? 1 : Number.POSITIVE_INFINITY;
}

/**
 * Argo's limits: one failure more than failureLimit fails the metric, and so on; reaching count
 * succeeds if at least one measurement was a success.
 */
export function metricPhase(metric: ResolvedMetric, result: MetricResult, terminated: boolean): AnalysisPhase {
  if (result.failed > (metric.failureLimit ?? RUN_DEFAULTS.failureLimit)) return 'Failed';
  if (result.consecutiveError > (metric.consecutiveErrorLimit ?? RUN_DEFAULTS.consecutiveErrorLimit)) return 'Error';
  if (result.inconclusive > (metric.inconclusiveLimit ?? RUN_DEFAULTS.inconclusiveLimit)) return 'Inconclusive';
  // Within its limits is not enough: a metric that never once measured a success (no data or failures
  // the limits tolerate) says nothing good about the canary, so it cannot pass it.
  if (result.count >= plannedCount(metric)) return result.successful > 0 ? 'Successful' : result.failed > 0 ? 'Failed' : 'Inconclusive';
  // Cut short by its Rollout: only a metric that measured the canary successfully at least once may pass.
  if (terminated) return result.successful > 0 ? 'Successful' : 'Inconclusive';
  return result.count + result.error > 0 || result.inProgress !== undefined ? 'Running' : 'Pending';
}

/**
 * The run's verdict from its metrics' phases, worst first: Failed, Error, Inconclusive, then
 * Successful once every deciding metric succeeded. Dry-run metrics are shown but never decide it; a
 * run of dry-run metrics only is Successful once they have all finished, whatever they measured.
 */
export function runPhase(results: MetricResult[]): AnalysisPhase {
  const deciding = results.filter((result) => result.dryRun !== true);
  for (const phase of ['Failed', 'Error', 'Inconclusive'] as const) {
    if (deciding.some((result) => result.phase === phase)) return phase;
  }
  const finished = deciding.length > 0 ? deciding.every((result) => result.phase === 'Successful') : results.every((result) => isTerminal(result.phase));
  if (finished) return 'Successful';
  return results.some((result) => result.phase !== 'Pending') ? 'Running' : 'Pending';
}

/**
 * Why a judge metric's looks are wrong for its mode. A fixed-horizon test looked at again and again aborts good
 * releases far more often than its confidence says, so it looks once; a sequential one looks at every interval.
 */
function judgeLooks(metric: ResolvedMetric, judge: JudgeSpec): string | undefined {
  if (isSequential(judge)) return metric.interval === undefined ? 'a sequential judge (errors and requests) needs an interval: it looks once per interval' : undefined;
  if (metric.interval !== undefined || (metric.count ?? 1) > 1) {
    return 'a fixed-horizon judge (query) looks once, at initialDelay: repeated looks would inflate its false-abort rate; to look at every interval, judge errors and requests (sequential)';
  }
  return undefined;
}

function problemsOf(run: AnalysisRun): { conditions: Map<string, MetricConditions>; metrics: ResolvedMetric[]; problem?: string } {
  const conditions = new Map<string, MetricConditions>();
  if (run.spec.invalidReason !== undefined) return { conditions, metrics: [], problem: run.spec.invalidReason };
  if (run.spec.metrics.length === 0) return { conditions, metrics: [], problem: 'the run has no metrics' };
  const resolved = resolveRunMetrics(run.spec);
  if ('problem' in resolved) return { conditions, metrics: [], problem: resolved.problem };
  const { metrics } = resolved;
  for (const metric of metrics) {
    if ((metric.count ?? 1) > 1 && metric.interval === undefined) return { conditions, metrics, problem: `metric ${metric.name}: count ${metric.count} needs an interval` };
    const judgeProblem = 'judge' in metric.provider ? judgeLooks(metric, metric.provider.judge) : undefined;
    if (judgeProblem !== undefined) return { conditions, metrics, problem: `metric ${metric.name}: ${judgeProblem}` };
    try {
      const unconditioned = metric.successCondition === undefined && metric.failureCondition === undefined;
      conditions.set(metric.name, unconditioned && judgesItself(metric.provider) ? {} : compileMetricConditions(metric));
    } catch (err) {
      if (err instanceof ConditionError) return { conditions, metrics, problem: `invalid condition ${err.message}` };
      throw err;
    }
  }
  return { conditions, metrics };
}

function summarize(results: MetricResult[]): string {
  const sum = (pick: (result: MetricResult) => number): number => results.reduce((total, result) => total + pick(result), 0);
  return `✔ ${sum((r) => r.successful)} ✖ ${sum((r) => r.failed)} ? ${sum((r) => r.inconclusive)} ⚠ ${sum((r) => r.error)}`;
}

function verdictMessage(phase: AnalysisPhase, results: MetricResult[]): string | undefined {
  if (phase === 'Successful') {
    const deciding = results.filter((r) => r.dryRun !== true);
    const unsuccessful = results.filter((r) => r.dryRun === true && r.phase !== 'Successful');
    const passed = deciding.length > 0 ? `all metrics passed (${deciding.map((r) => `${r.name} ${r.successful}/${r.count}`).join(', ')})` : 'only dry-run metrics';
    // A dry-run metric that would have failed the run is the point of running it dry: say so.
    return unsuccessful.length > 0 ? `${passed}; dry run: ${unsuccessful.map((r) => `${r.name} ${r.phase}`).join(', ')}` : passed;
  }
  const culprit = results.find((result) => result.phase === phase && result.dryRun !== true);
  if (culprit === undefined) return undefined;
  const last = [...culprit.measurements].reverse().find((m) => m.phase === (phase === 'Failed' ? 'Failed' : phase === 'Error' ? 'Error' : 'Inconclusive'));
  const detail = last ? `${last.value !== undefined ? `value ${last.value}` : 'no value'}${last.message ? `: ${last.message}` : ''}` : '';
  const word = phase === 'Failed' ? 'failed' : phase === 'Error' ? 'errored' : 'was inconclusive';
  return `metric ${culprit.name} ${word} (${culprit.failed} failed, ${culprit.inconclusive} inconclusive, ${culprit.error} errors of ${culprit.count + culprit.error})${detail ? `, last ${detail}` : ''}`;
}

/** Each declared metric's result with its phase judged afresh: Error for all when the run itself is invalid. */
function judgeMetrics(run: AnalysisRun, current: AnalysisRunStatus, metrics: ResolvedMetric[], problem: string | undefined): MetricResult[] {
  const terminated = run.spec.terminate === true;
  const byName = new Map((current.metricResults ?? []).map((result) => [result.name, result]));
  return run.spec.metrics.map((declared, index) => {
    const result = byName.get(declared.name) ?? emptyResult(declared);
    const metric = metrics[index];
    return { ...result, phase: problem !== undefined || metric === undefined ? ('Error' as const) : metricPhase(metric, result, terminated) };
  });
}

/** The run's phase: its machine, from `previous`, told what the metrics say (or that the run is invalid). */
function advanceRun(previous: AnalysisPhase, results: MetricResult[], problem: string | undefined, terminated: boolean): AnalysisPhase {
  let snapshot = runMachine.resolveState({ value: previous, context: undefined });
  const send = (event: Parameters<typeof transition<typeof runMachine>>[2]): void => {
    [snapshot] = transition(runMachine, snapshot, event);
  };
  if (problem !== undefined) send({ type: 'INVALID' });
  else {
    const computed = runPhase(results);
    if (computed !== 'Pending') send({ type: 'START' });
    send({ type: 'EVALUATED', phase: computed });
    if (terminated) send({ type: 'TERMINATE', phase: (isTerminal(computed) ? computed : 'Successful') as TerminalPhase });
  }
  return snapshot.value as AnalysisPhase;
}

/** The results of a run that has its verdict, and the measurements under way that it abandons. */
function stopAtVerdict(results: MetricResult[], metrics: ResolvedMetric[], problem: string | undefined): { results: MetricResult[]; abandoned: AbandonedMeasurement[] } {
  if (problem === undefined) {
    // A verdict stops every metric still measuring; their phase says they did not finish.
    results = results.map((result) => (isTerminal(result.phase) ? result : { ...result, phase: result.successful > 0 ? 'Successful' : 'Inconclusive' }));
  }

  // A verdict stops whatever is still being measured; the provider is told, and the status forgets it.
  const abandoned: AbandonedMeasurement[] = [];
  results = results.map(({ inProgress, ...result }, index) => {
    const metric = metrics[index];
    if (inProgress !== undefined && metric !== undefined) abandoned.push({ metric, index: result.count + result.error, metadata: inProgress.metadata });
    return result;
  });
  return { results, abandoned };
}

/**
 * From the run's start to its first measurement: initialDelay, and for a sequential judge one interval more, since
 * its first look ends then (measuring earlier would find nothing to judge).
 */
function firstDelay(metric: ResolvedMetric): number {
  const sequential = 'judge' in metric.provider && isSequential(metric.provider.judge);
  return durationMs(metric.initialDelay) + (sequential ? durationMs(metric.interval) : 0);
}

interface Schedule {
  due: ResolvedMetric[];
  inProgress: ResolvedMetric[];
  /** When each metric that is neither due nor finished wants the run looked at again. */
  wakeups: number[];
}

/** Which metrics of a run still going are due at `now`, which have a measurement to look at again, and when to wake. */
function schedule(metrics: ResolvedMetric[], results: MetricResult[], measuring: ReadonlySet<string>, startedAt: number, now: number): Schedule {
  const due: ResolvedMetric[] = [];
  const inProgress: ResolvedMetric[] = [];
  const wakeups: number[] = [];
  for (const metric of metrics) {
    const result = results.find((candidate) => candidate.name === metric.name);
    if (result === undefined || isTerminal(result.phase)) continue;
    // Asked and not yet answered, in the background: its answer wakes the run, so it is not due; the wake-up is
    // only a safety net.
    if (measuring.has(metric.name)) {
      wakeups.push(now + IN_PROGRESS_POLL_MS);
      continue;
    }
    if (result.inProgress !== undefined) {
      inProgress.push(metric);
      wakeups.push(now + IN_PROGRESS_POLL_MS);
      continue;
    }
    const last = result.measurements.at(-1);
    // An Error did not count towards `count`, so the measurement is retried; without an interval it
    // would otherwise be due again at once, on every reconcile.
    const gap = last?.phase === 'Error' ? Math.min(ERROR_RETRY_MS, metric.interval === undefined ? ERROR_RETRY_MS : durationMs(metric.interval)) : durationMs(metric.interval);
    const dueAt = last === undefined ? startedAt + firstDelay(metric) : Date.parse(last.startedAt) + gap;
    if (dueAt <= now) due.push(metric);
    else wakeups.push(dueAt);
  }
  return { due, inProgress, wakeups };
}

/** What the score says for the run: what runPhase reads in place of the judge metrics, the status's score, the message. */
interface ScoredRun {
  results: MetricResult[];
  score?: NonNullable<AnalysisRunStatus['score']>;
  /** The phase the score gives the judge metrics together. */
  phase: AnalysisPhase;
  /** No other deciding metric has that phase: a run ending in it rests on the score, and says so. */
  alone: boolean;
  message: string;
}

/**
 * With scoreThresholds, the judge metrics decide together, as Kayenta's score (src/judge/score.ts): their own phases
 * stand aside, and one entry takes their place for runPhase: Failed at once on a critical metric's regression, else
 * Running until every judge metric has finished, then Successful, Inconclusive or Failed by the score. Pure.
 */
function scoreJudged(run: AnalysisRun, results: MetricResult[]): ScoredRun | undefined {
  const thresholds = run.spec.scoreThresholds;
  if (thresholds === undefined) return undefined;
  const judges = new Map(run.spec.metrics.flatMap((metric) => ('judge' in metric.provider && metric.dryRun !== true ? [[metric.name, metric.provider.judge] as const] : [])));
  if (judges.size === 0) return undefined;
  const mine = results.filter((result) => judges.has(result.name));
  const scoredMetrics = mine.flatMap((result) => {
    const spec = judges.get(result.name);
    if (result.judgement === undefined || spec === undefined) return [];
    return [{ name: result.name, class: result.judgement.class, direction: spec.direction ?? 'increase', ...(spec.weight !== undefined && { weight: spec.weight }), ...(spec.critical !== undefined && { critical: spec.critical }), ...(spec.mustHaveData !== undefined && { mustHaveData: spec.mustHaveData }) }];
  });
  const card = scoreMetrics(scoredMetrics, thresholds);
  const finished = mine.every((result) => isTerminal(result.phase));
  const phase: AnalysisPhase = card.failedCritical !== undefined ? 'Failed' : !finished ? 'Running' : SCORE_PHASE[card.verdict];
  const value = Number.isFinite(card.score) ? Number(card.score.toPrecision(6)) : undefined;
  const others = results.filter((result) => !judges.has(result.name));
  const entry: MetricResult = { ...emptyResult({ name: 'score' }), phase };
  return {
    results: [...others, entry],
    ...(scoredMetrics.length > 0 && { score: { ...(value !== undefined && { value }), verdict: card.verdict, reasons: card.reasons } }),
    phase,
    alone: !others.some((result) => result.dryRun !== true && result.phase === phase),
    message: `score ${value ?? 'none'} (pass ${thresholds.pass}, marginal ${thresholds.marginal}): ${card.verdict}; ${card.reasons.join('; ')}`,
  };
}

const SCORE_PHASE: Record<'Pass' | 'Marginal' | 'Fail', AnalysisPhase> = { Pass: 'Successful', Marginal: 'Inconclusive', Fail: 'Failed' };

/** The run's message: why it is invalid, or its verdict (and that its Rollout cut it short), once it has one. */
function runMessage(run: AnalysisRun, phase: AnalysisPhase, results: MetricResult[], problem: string | undefined): string | undefined {
  const terminated = run.spec.terminate === true;
  const untouched = results.every((result) => result.count === 0);
  const verdict = terminated && untouched ? 'terminated by its Rollout before the first measurement' : isTerminal(phase) ? verdictMessage(phase, results) : undefined;
  return problem ?? (terminated && verdict !== undefined && !untouched ? `terminated by its Rollout: ${verdict}` : verdict);
}

/**
 * Where a run stands at `now`: metric and run phases from the recorded measurements, which metrics are
 * due (first at startedAt + initialDelay, then every interval after the last measurement's start, so
 * timing neither drifts nor resets on a restart; after an Error, min(10 s, interval) after it), and
 * when to look again. `measuring` names the metrics with a measurement asked and not yet answered. Pure.
 */
export function evaluateRun(run: AnalysisRun, status: AnalysisRunStatus | undefined, now: number, measuring: ReadonlySet<string> = new Set()): RunEvaluation {
  const current = status ?? {};
  const { conditions, metrics, problem } = problemsOf(run);
  const judged = judgeMetrics(run, current, metrics, problem);
  const scored = scoreJudged(run, judged);
  const phase = advanceRun(current.phase ?? 'Pending', scored?.results ?? judged, problem, run.spec.terminate === true);
  const done = isTerminal(phase);
  const { results, abandoned } = done ? stopAtVerdict(judged, metrics, problem) : { results: judged, abandoned: [] };
  const startedAt = Date.parse(current.startedAt ?? '') || now;
  const { due, inProgress, wakeups } = done ? { due: [], inProgress: [], wakeups: [] } : schedule(metrics, results, measuring, startedAt, now);

  const restsOnScore = scored !== undefined && problem === undefined && isTerminal(phase) && phase === scored.phase && scored.alone;
  const message = restsOnScore ? scored.message : runMessage(run, phase, results, problem);
  const generation = run.metadata.generation;
  const next: AnalysisRunStatus = {
    ...(generation !== undefined && { observedGeneration: generation }),
    phase,
    ...(message !== undefined && { message }),
    startedAt: toTime(startedAt),
    ...(done && { completedAt: current.completedAt ?? toTime(now) }),
    summary: summarize(results),
    metricResults: results,
    ...(scored?.score !== undefined && { score: scored.score }),
    conditions: setConditions(current.conditions ?? [], runConditions(phase, message ?? `AnalysisRun is ${phase}`), now, generation),
  };
  return {
    status: next,
    due,
    inProgress,
    abandoned,
    conditions,
    ...(wakeups.length > 0 && { requeueAfterMs: Math.max(0, Math.min(...wakeups) - now) }),
  };
}

/**
 * Appends one measurement, keeping the newest `retention`, and updates the counts (which include every
 * one ever taken, retained or not). consecutiveError resets on any measurement that is not an Error.
 */
export function recordMeasurement(
  status: AnalysisRunStatus,
  metric: Pick<ResolvedMetric, 'name' | 'dryRun'>,
  verdict: MeasurementVerdict,
  startedAt: number,
  finishedAt: number,
  retention: number,
): AnalysisRunStatus {
  const results = status.metricResults ?? [];
  // The measurement in progress, if any, is the one that finished.
  const { inProgress: _finished, ...result } = results.find((candidate) => candidate.name === metric.name) ?? emptyResult(metric);
  const measurement = {
    phase: verdict.phase,
    ...(verdict.value !== undefined && { value: verdict.value }),
    startedAt: toTime(startedAt),
    finishedAt: toTime(finishedAt),
    ...(verdict.message !== undefined && { message: verdict.message }),
  };
  const updated: MetricResult = {
    ...result,
    // As in Argo, an Error is not a measurement of the canary: it does not count towards `count`, so an
    // unreachable provider can only end in Error (consecutiveErrorLimit), never add up to Successful.
    count: result.count + (verdict.phase === 'Error' ? 0 : 1),
    successful: result.successful + (verdict.phase === 'Successful' ? 1 : 0),
    failed: result.failed + (verdict.phase === 'Failed' ? 1 : 0),
    inconclusive: result.inconclusive + (verdict.phase === 'Inconclusive' ? 1 : 0),
    error: result.error + (verdict.phase === 'Error' ? 1 : 0),
    consecutiveError: verdict.phase === 'Error' ? result.consecutiveError + 1 : 0,
    measurements: [...result.measurements, measurement].slice(-retention),
    ...(verdict.judgement !== undefined && { judgement: verdict.judgement }),
  };
  const others = results.filter((candidate) => candidate.name !== metric.name);
  return { ...status, metricResults: [...others, updated] };
}

/** The abnormal-true pair kstatus reads, and Ready, for a run in `phase`. */
function runConditions(phase: AnalysisPhase, message: string): DesiredCondition[] {
  const reason = `Run${phase}`;
  const measuring = phase === 'Pending' || phase === 'Running';
  const failed = phase === 'Failed' || phase === 'Error';
  return [
    { type: 'Reconciling', status: measuring ? 'True' : 'False', reason, message },
    { type: 'Stalled', status: failed ? 'True' : 'False', reason, message },
    { type: 'Ready', status: phase === 'Successful' ? 'True' : 'False', reason, message },
  ];
}

/** Marks a metric's measurement as under way (a provider returned Running), from `startedAt`. */
export function recordInProgress(status: AnalysisRunStatus, metric: Pick<ResolvedMetric, 'name' | 'dryRun'>, startedAt: number, metadata: Record<string, string>): AnalysisRunStatus {
  const results = status.metricResults ?? [];
  const result = results.find((candidate) => candidate.name === metric.name) ?? emptyResult(metric);
  const others = results.filter((candidate) => candidate.name !== metric.name);
  return { ...status, metricResults: [...others, { ...result, inProgress: { startedAt: toTime(startedAt), metadata } }] };
}
