import { transition } from 'xstate';
import type { RolloutStatus } from '../../api/rollout.js';
import { verdictOf, type Verdict, type WebhookCall } from './hooks.js';
import type { DesiredAnalysisRun } from './analysis-runs.js';
import type { DecideContext } from './context.js';
import type { AnalysisRunFacts } from './facts.js';
import { rolloutMachine, type Announcement, type RolloutEvent, type RolloutSnapshot } from './machine.js';
import { callsFor, positionKey, runsAt, stepCountsFor, stepTrafficInEffect } from './position.js';
import { stalledPastDeadline } from './progress.js';
import { idealCounts, isAtCounts } from './replicas.js';
import { restoreSnapshot } from './restore.js';
import { rollbackWithinWindow } from './rollback-window.js';
import { stageOf } from './stage.js';
import { pauseDeadline } from './steps.js';
import { experimentAt, experimentAvailable, experimentCompletion } from './experiment.js';

/** The machine as this reconcile drives it. */
interface Drive {
  snapshot: RolloutSnapshot;
}

/** Where the machine ended, and `origin`: its position right after SYNC, which progress is measured from. */
export interface Driven {
  snapshot: RolloutSnapshot;
  origin: string;
}

/** Feeds one event to the machine, collecting its announcements; whether the position changed. */
function send(ctx: DecideContext, drive: Drive, event: RolloutEvent): boolean {
  const [next, actions] = transition(rolloutMachine, drive.snapshot, event);
  for (const action of actions) {
    if (action.type === 'announce') ctx.events.push(action.params as Announcement);
  }
  const changed = next !== drive.snapshot && positionKey(next) !== positionKey(drive.snapshot);
  drive.snapshot = next;
  return changed;
}

/** Restores the machine from status, feeds it the requests in status, then what the facts say happened. */
export function driveMachine(ctx: DecideContext): Driven {
  const drive: Drive = { snapshot: restoreSnapshot(ctx.facts, ctx.settings) };
  sync(ctx, drive);
  const origin = positionKey(drive.snapshot);
  applyRequests(ctx, drive);
  // Level-triggered events: whatever the facts say now, until the machine stops moving.
  for (let guard = 0; guard < 2 * ctx.settings.steps.length + 4; guard++) {
    const event = observedEvent(ctx, drive.snapshot, origin);
    if (event === undefined || !send(ctx, drive, event)) break;
  }
  return { snapshot: drive.snapshot, origin };
}

/**
 * Whether the steps differ from those the status was written for. A status from before stepsHash
 * existed (an upgrade) adopts the steps, unless its step index is beyond them, which proves they shrank.
 */
function stepsChanged(previous: RolloutStatus, currentHash: string, stepCount: number): boolean {
  if (previous.stepsHash !== undefined) return previous.stepsHash !== currentHash;
  return (previous.currentStepIndex ?? 0) > stepCount;
}

function sync(ctx: DecideContext, drive: Drive): void {
  const { previous, settings } = ctx;
  if (ctx.facts.currentRevision === drive.snapshot.context.currentRevision && stepsChanged(previous, ctx.currentStepsHash, settings.steps.length)) {
    // Before SYNC: a restored position past the end of shorter steps would otherwise complete the canary.
    send(ctx, drive, { type: 'STEPS_CHANGED', previousStepIndex: previous.currentStepIndex ?? 0 });
  }
  send(ctx, drive, { type: 'SYNC' });
}

function applyRequests(ctx: DecideContext, drive: Drive): void {
  if (ctx.facts.currentRevision !== drive.snapshot.context.currentRevision) {
    // A new template makes pending abort and promote requests moot: they were about the old canary.
    send(ctx, drive, { type: 'REVISION_OBSERVED', revision: ctx.facts.currentRevision });
    fastTrackRollback(ctx, drive);
    return;
  }
  const { previous, events } = ctx;
  if (previous.abort === true && previous.abortedAt === undefined) {
    if (!send(ctx, drive, { type: 'ABORT', reason: 'aborted by request (status.abort)', cause: 'Manual' })) {
      events.push({ type: 'Normal', reason: 'AbortIgnored', message: `nothing to abort: revision ${drive.snapshot.context.stableRevision} is stable` });
    }
  } else if (previous.abort !== true && drive.snapshot.matches('aborted')) {
    send(ctx, drive, { type: 'RETRY' });
  }
  if (previous.promote !== undefined) {
    const stageBefore = stageOf(drive.snapshot);
    const promoted = send(ctx, drive, { type: previous.promote === 'full' ? 'PROMOTE_FULL' : 'PROMOTE_STEP' });
    if (!promoted && stageBefore !== 'stable') {
      const why = stageBefore === 'aborted' ? 'the rollout is aborted; retry or change the template' : 'spec.paused is true';
      events.push({ type: 'Warning', reason: 'PromoteIgnored', message: `promote ${previous.promote} ignored: ${why}` });
    }
  }
}

/** A rollback within spec.rollbackWindow skips its steps: the revision it goes back to ran before. */
function fastTrackRollback(ctx: DecideContext, drive: Drive): void {
  const { facts } = ctx;
  const { stableRevision } = drive.snapshot.context;
  if (stageOf(drive.snapshot) === 'stable' || !rollbackWithinWindow(facts.rollout.spec.rollbackWindow, facts.currentRevision, stableRevision, facts.replicaSets)) return;
  if (send(ctx, drive, { type: 'PROMOTE_FULL' })) {
    const window = facts.rollout.spec.rollbackWindow?.revisions ?? 0;
    ctx.events.push({ type: 'Normal', reason: 'RollbackFastTracked', message: `revision ${facts.currentRevision} is within the rollback window (${window} revisions): its steps are skipped` });
  }
}

/** A run whose verdict counts: one cut short by termination judged a step the canary had left. */
function runVerdictOf(run: AnalysisRunFacts | undefined): AnalysisRunFacts | undefined {
  return run?.terminated === true ? undefined : run;
}

/** What a run says about its verdict, for reasons and events. */
function reasonOf(run: AnalysisRunFacts): string {
  return run.message ?? `AnalysisRun ${run.name} is ${run.phase ?? 'Pending'}`;
}

function observedEvent(ctx: DecideContext, current: RolloutSnapshot, origin: string): RolloutEvent | undefined {
  const stage = stageOf(current);
  // Runs are looked up by the name this position gives them, so a verdict never reaches another step, revision or attempt.
  const calls = callsFor(ctx, current);
  const verdicts = hookVerdicts(ctx, current, calls);
  const abort = hookAbort(ctx, calls, verdicts);
  if (abort !== undefined) return abort;
  const { runs, missingTemplates } = runsAt(ctx, current);
  if (missingTemplates.length > 0) {
    // Hold where it is: the template may arrive in the same GitOps sync. Give up only at the progress deadline.
    const waited = !current.context.specPaused && stalledPastDeadline(ctx, origin, current);
    const { progressDeadlineMs } = ctx.settings;
    return waited ? { type: 'ABORT', reason: `${missingTemplates.join(', ')} not found within progressDeadlineSeconds (${progressDeadlineMs / 1000}s)`, cause: 'TemplateMissing' } : undefined;
  }
  const background = stage === 'inconclusive' ? undefined : backgroundEvent(ctx, runs);
  if (background !== undefined) return background;
  // A step is done only once its rollout hooks passed: a hook not yet answered never counts as a pass.
  const stepHooksPassed = verdicts.step.kind === 'passed';
  switch (stage) {
    case 'gated':
      return verdicts.gate.kind === 'passed' ? { type: 'GATE_OPENED' } : undefined;
    case 'weighting':
      return weightingEvent(ctx, current, origin, stepHooksPassed);
    case 'timedPause':
      return pauseEvent(ctx, current, stepHooksPassed);
    case 'analyzing':
      return stepAnalysisEvent(ctx, runs, stepHooksPassed);
    case 'experimenting':
      return experimentEvent(ctx, current, runs, stepHooksPassed);
    default:
      return undefined;
  }
}

function hookVerdicts(ctx: DecideContext, current: RolloutSnapshot, calls: readonly WebhookCall[]): { gate: Verdict; step: Verdict } {
  const stage = stageOf(current);
  const gateCalls = calls.filter((call) => call.hook.type === current.context.gate && stage === 'gated');
  const stepCalls = calls.filter((call) => call.hook.type === 'rollout');
  return { gate: verdictOf(gateCalls, ctx.hookResults), step: verdictOf(stepCalls, ctx.hookResults) };
}

function hookAbort(ctx: DecideContext, calls: readonly WebhookCall[], verdicts: { gate: Verdict; step: Verdict }): RolloutEvent | undefined {
  // A rollback hook's 2xx and a failed pre-rollout or rollout hook abort wherever the canary is, gates included.
  for (const call of calls) {
    const result = ctx.hookResults.get(call.key);
    if (call.hook.type === 'rollback' && result?.outcome === 'passed') return { type: 'ABORT', reason: `webhook ${call.hook.name} (rollback) asked for a rollback: ${result.message}`, cause: 'Webhook' };
  }
  for (const verdict of [verdicts.gate, verdicts.step]) {
    if (verdict.kind === 'failed') return { type: 'ABORT', reason: `webhook ${verdict.hook.name} (${verdict.hook.type}) failed: ${verdict.message}`, cause: 'Webhook' };
  }
  return undefined;
}

function backgroundEvent(ctx: DecideContext, runs: readonly DesiredAnalysisRun[]): RolloutEvent | undefined {
  const background = runs.find((run) => run.kind === 'background');
  const backgroundRun = background && runVerdictOf(ctx.runByName.get(background.name));
  const phase = backgroundRun?.phase;
  if (backgroundRun === undefined || !(phase === 'Failed' || phase === 'Error' || phase === 'Inconclusive')) return undefined;
  return { type: 'BACKGROUND_ANALYSIS_FAILED', phase, reason: reasonOf(backgroundRun), hold: background?.analysis.onFailure === 'Pause' };
}

function weightingEvent(ctx: DecideContext, current: RolloutSnapshot, origin: string, stepHooksPassed: boolean): RolloutEvent | undefined {
  const { facts } = ctx;
  const mode = stepCountsFor(ctx, current);
  if (stepTrafficInEffect(ctx, current) && isAtCounts(facts.replicaSets, idealCounts(mode, ctx.settings.replicas), current.context.stableRevision)) return stepHooksPassed ? { type: 'STEP_COMPLETED' } : undefined;
  return stalledPastDeadline(ctx, origin, current) && !current.context.specPaused ? { type: 'DEADLINE_EXCEEDED' } : undefined;
}

function pauseEvent(ctx: DecideContext, current: RolloutSnapshot, stepHooksPassed: boolean): RolloutEvent | undefined {
  const { context } = current;
  if (context.pauseStartTime === undefined) return undefined;
  const deadline = pauseDeadline(context.steps, context.stepIndex, context.pauseStartTime);
  return deadline !== undefined && ctx.facts.now >= deadline && stepHooksPassed ? { type: 'PAUSE_ELAPSED' } : undefined;
}

function stepAnalysisEvent(ctx: DecideContext, runs: readonly DesiredAnalysisRun[], stepHooksPassed: boolean): RolloutEvent | undefined {
  const stepAnalysis = runs.find((run) => run.kind === 'step');
  const stepRun = stepAnalysis && runVerdictOf(ctx.runByName.get(stepAnalysis.name));
  switch (stepRun?.phase) {
    case 'Successful':
      return stepHooksPassed ? { type: 'ANALYSIS_SUCCESSFUL' } : undefined;
    case 'Failed':
    case 'Error':
      return { type: 'ANALYSIS_FAILED', phase: stepRun.phase, reason: reasonOf(stepRun), hold: stepAnalysis?.analysis.onFailure === 'Pause' };
    case 'Inconclusive':
      return { type: 'ANALYSIS_INCONCLUSIVE', reason: reasonOf(stepRun) };
    default:
      return undefined;
  }
}

/**
 * An experiment step: available once every template's pods are (or failed, past the progress deadline since it
 * started, as Argo's experiment fails its template); then its runs decide as an analysis step's do, and it completes
 * as experimentCompletion says.
 */
function experimentEvent(ctx: DecideContext, current: RolloutSnapshot, runs: readonly DesiredAnalysisRun[], stepHooksPassed: boolean): RolloutEvent | undefined {
  const { facts, settings } = ctx;
  const at = experimentAt(ctx.rollout.name, current.context);
  if (at === undefined) return undefined;
  if (at.clock.availableAt === undefined) {
    if (experimentAvailable(at, facts.experimentReplicaSets ?? [])) return { type: 'EXPERIMENT_AVAILABLE' };
    const waited = facts.now - at.clock.startedAt >= settings.progressDeadlineMs;
    return waited && !current.context.specPaused
      ? { type: 'EXPERIMENT_FAILED', reason: `its pods were not all available within progressDeadlineSeconds (${settings.progressDeadlineMs / 1000}s)` }
      : undefined;
  }
  const verdicts = runs
    .filter((run) => run.kind === 'experiment')
    .map((run) => ({ analysis: run.experiment?.analysis ?? run.name, run: runVerdictOf(ctx.runByName.get(run.name)) }));
  for (const { analysis, run } of verdicts) {
    if (run?.phase === 'Failed' || run?.phase === 'Error') return { type: 'ANALYSIS_FAILED', phase: run.phase, reason: `experiment analysis ${analysis}: ${reasonOf(run)}`, hold: false };
  }
  const inconclusive = verdicts.find(({ run }) => run?.phase === 'Inconclusive');
  if (inconclusive?.run !== undefined) return { type: 'ANALYSIS_INCONCLUSIVE', reason: `experiment analysis ${inconclusive.analysis}: ${reasonOf(inconclusive.run)}` };
  const succeeded = (analysis: string): boolean => verdicts.some((verdict) => verdict.analysis === analysis && verdict.run?.phase === 'Successful');
  const completed = experimentCompletion(at, succeeded, facts.now);
  // Behind a router, as any step: only once what it asks for (its templates' weights included) is in effect.
  return completed !== undefined && stepHooksPassed && stepTrafficInEffect(ctx, current) ? { type: 'EXPERIMENT_COMPLETED', reason: completed } : undefined;
}
