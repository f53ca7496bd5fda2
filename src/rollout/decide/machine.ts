import { assign, or, setup } from 'xstate';
import type { CanaryStep, WebhookType } from '../../api/rollout.js';
import { nextGate, type GateType } from './gates.js';
import { describeStep, isAnalysis, isExperiment, isIndefinitePause, isTimedPause, setWeightAt, stepOrdinal } from './steps.js';

/** An experiment step's clock: when it started, and when every template's pods were first available (epoch ms). */
export interface ExperimentClock {
  startedAt: number;
  availableAt: number | undefined;
}

/**
 * Everything the machine knows. It is rebuilt from status and spec on every reconcile
 * (see restore.ts), so nothing here may exist only in memory.
 */
export interface RolloutContext {
  /** The reconcile's clock; the machine stamps times with it and never reads a real clock. */
  now: number;
  steps: CanaryStep[];
  specPaused: boolean;
  progressDeadlineAbort: boolean;
  stableRevision: string | undefined;
  /** The revision being rolled out; equal to stableRevision when no canary is in flight. */
  currentRevision: string | undefined;
  /** Steps completed for currentRevision. */
  stepIndex: number;
  pauseStartTime: number | undefined;
  abortedAt: number | undefined;
  abortReason: string | undefined;
  /** Why analysis holds the rollout (inconclusive, or failed with onFailure: Pause). */
  holdReason: string | undefined;
  /**
   * Bumped by every new canary, a retry, a steps edit and promoting past an analysis hold; never reset.
   * Analysis runs are named by it, so each of those starts analysis afresh.
   */
  attempt: number;
  /** The types of spec.strategy.canary.webhooks: which gates the canary meets. */
  hookTypes: WebhookType[];
  /** The gate last reached at this position: waited at in `gated`, passed anywhere else. */
  gate: GateType | undefined;
  /** When the canary began waiting at `gate`. */
  gateSince: number | undefined;
  /** The revision whose pre-rollout hooks passed: they are never called again for it. */
  preRolloutPassed: string | undefined;
  /** At an experiment step: its clock (kept through an analysis hold there, so its runs stay readable). */
  experiment: ExperimentClock | undefined;
}

export type RolloutEvent =
  /** Resolves a restored transient state; otherwise does nothing. */
  | { type: 'SYNC' }
  | { type: 'REVISION_OBSERVED'; revision: string }
  | { type: 'STEP_COMPLETED' }
  | { type: 'PAUSE_ELAPSED' }
  | { type: 'PROMOTE_STEP' }
  | { type: 'PROMOTE_FULL' }
  | { type: 'ABORT'; reason: string; cause: 'Manual' | 'Webhook' | 'TemplateMissing' }
  | { type: 'RETRY' }
  | { type: 'ANALYSIS_SUCCESSFUL' }
  /** The step's run failed or errored; `hold` is onFailure: Pause. */
  | { type: 'ANALYSIS_FAILED'; phase: 'Failed' | 'Error'; reason: string; hold: boolean }
  | { type: 'ANALYSIS_INCONCLUSIVE'; reason: string }
  /** The background run failed, errored or was inconclusive, at whatever step the canary is. */
  | { type: 'BACKGROUND_ANALYSIS_FAILED'; phase: 'Failed' | 'Error' | 'Inconclusive'; reason: string; hold: boolean }
  | { type: 'DEADLINE_EXCEEDED' }
  /** Every hook of the gate waited at answered 2xx (pre-rollout: passed). */
  | { type: 'GATE_OPENED' }
  /** spec.strategy.canary.steps changed under a canary in flight. */
  | { type: 'STEPS_CHANGED'; previousStepIndex: number }
  /** Every template of the experiment step has its pods available: its duration starts, its analyses begin. */
  | { type: 'EXPERIMENT_AVAILABLE' }
  /** Its duration passed, or its required analyses succeeded; `reason` says which. */
  | { type: 'EXPERIMENT_COMPLETED'; reason: string }
  /** Its pods did not become available in time. */
  | { type: 'EXPERIMENT_FAILED'; reason: string };

/** What aborted a canary, as the metric rollout_aborts_total labels it. */
export type AbortCause = 'Manual' | 'Webhook' | 'TemplateMissing' | 'Analysis' | 'BackgroundAnalysis' | 'ProgressDeadline' | 'Experiment';

/** A Kubernetes Event the shell should record; emitted only by transitions, so never repeated. */
export interface Announcement {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** On RolloutAborted: what aborted it. */
  cause?: AbortCause;
}

const where = (context: RolloutContext): string =>
  `${stepOrdinal(context.stepIndex, context.steps.length)} (${describeStep(context.steps[context.stepIndex])})`;
const completed = (context: RolloutContext): string =>
  `${stepOrdinal(context.stepIndex - 1, context.steps.length)} (${describeStep(context.steps[context.stepIndex - 1])})`;
const weight = (context: RolloutContext): number => setWeightAt(context.steps, context.stepIndex);
const experimentTemplates = (context: RolloutContext): string => {
  const step = context.steps[context.stepIndex];
  if (step === undefined || !('experiment' in step)) return '';
  return step.experiment.templates.map((t) => `${t.name} (${t.specRef}, ${t.replicas ?? 1} ${(t.replicas ?? 1) === 1 ? 'pod' : 'pods'})`).join(', ');
};
const clearProgress = { pauseStartTime: undefined, abortedAt: undefined, abortReason: undefined, holdReason: undefined, gate: undefined, gateSince: undefined, experiment: undefined };

/** An `announce` action whose Event text is built from the context after the preceding assigns. */
function announce(build: (context: RolloutContext, event: RolloutEvent) => Announcement) {
  return {
    type: 'announce' as const,
    params: ({ context, event }: { context: RolloutContext; event: RolloutEvent }) => build(context, event),
  };
}

const verdictWord = (phase: 'Failed' | 'Error' | 'Inconclusive'): string =>
  phase === 'Error' ? 'errored' : phase === 'Failed' ? 'failed' : 'was inconclusive';

const announceHold = announce((context) => ({
  type: 'Warning',
  reason: 'AnalysisHold',
  message: `${context.holdReason ?? 'analysis hold'}; paused until promoted or aborted`,
}));

function abortCauseOf(event: RolloutEvent): AbortCause {
  switch (event.type) {
    case 'ABORT':
      return event.cause;
    case 'ANALYSIS_FAILED':
      return 'Analysis';
    case 'BACKGROUND_ANALYSIS_FAILED':
      return 'BackgroundAnalysis';
    case 'DEADLINE_EXCEEDED':
      return 'ProgressDeadline';
    case 'EXPERIMENT_FAILED':
      return 'Experiment';
    default:
      return 'Manual';
  }
}

const announceAborted = announce((context, event) => ({
  type: 'Warning',
  reason: 'RolloutAborted',
  message: `${context.abortReason ?? 'aborted'}; canary revision ${context.currentRevision} scaled down, stable revision ${context.stableRevision} restored`,
  cause: abortCauseOf(event),
}));
const announceStepCompleted = announce((context) => ({
  type: 'Normal',
  reason: 'RolloutStepCompleted',
  message: `completed ${completed(context)}`,
}));

export const rolloutMachine = setup({
  types: {
    context: {} as RolloutContext,
    events: {} as RolloutEvent,
    input: {} as RolloutContext,
  },
  actions: {
    // Executed by decide(), which turns it into a Kubernetes Event.
    announce: (_args, _announcement: Announcement) => {},
    adoptFirstRevision: assign(({ context, event }) => {
      if (event.type !== 'REVISION_OBSERVED') return {};
      return { ...clearProgress, stableRevision: event.revision, currentRevision: event.revision, stepIndex: context.steps.length };
    }),
    revert: assign(({ context, event }) => {
      if (event.type !== 'REVISION_OBSERVED') return {};
      return { ...clearProgress, currentRevision: event.revision, stepIndex: context.steps.length };
    }),
    // A new attempt, never a reset to 0: a revision canaried again must not meet the runs of its last canary.
    startCanary: assign(({ context, event }) => {
      if (event.type !== 'REVISION_OBSERVED') return {};
      return { ...clearProgress, currentRevision: event.revision, stepIndex: 0, attempt: context.attempt + 1 };
    }),
    // Capped: a hold promoted at the confirm-promotion gate is already past the last step.
    advanceStep: assign(({ context }) => ({
      stepIndex: Math.min(context.stepIndex + 1, context.steps.length),
      pauseStartTime: undefined,
      gate: undefined,
      gateSince: undefined,
      experiment: undefined,
    })),
    // A person's full promote skips the gates too, confirm-promotion included: they are the confirmation.
    skipAllSteps: assign(({ context }) => ({ stepIndex: context.steps.length, pauseStartTime: undefined, gate: 'confirm-promotion' as const, gateSince: undefined, experiment: undefined })),
    enterGate: assign(({ context }) => ({ gate: nextGate(context), gateSince: context.now })),
    passGate: assign(({ context }) => ({
      gateSince: undefined,
      ...(context.gate === 'pre-rollout' && { preRolloutPassed: context.currentRevision }),
    })),
    startPause: assign(({ context }) => ({ pauseStartTime: context.now })),
    startExperiment: assign(({ context }) => ({ experiment: { startedAt: context.now, availableAt: undefined } })),
    markExperimentAvailable: assign(({ context }) => ({ experiment: { startedAt: context.experiment?.startedAt ?? context.now, availableAt: context.now } })),
    markAborted: assign(({ context, event }) => {
      let reason = `aborted at ${where(context)}`;
      if (event.type === 'ABORT') reason = `${event.reason} at ${where(context)}`;
      if (event.type === 'ANALYSIS_FAILED') reason = `analysis ${event.phase === 'Error' ? 'errored' : 'failed'} at ${where(context)}: ${event.reason}`;
      if (event.type === 'BACKGROUND_ANALYSIS_FAILED') reason = `background analysis ${verdictWord(event.phase)} at ${where(context)}: ${event.reason}`;
      if (event.type === 'DEADLINE_EXCEEDED') reason = `progress deadline exceeded at ${where(context)}`;
      if (event.type === 'EXPERIMENT_FAILED') reason = `experiment failed at ${where(context)}: ${event.reason}`;
      if (event.type === 'ABORT' && context.gate !== undefined && context.gateSince !== undefined) reason = `${reason} while waiting for ${context.gate} webhooks`;
      return { abortedAt: context.now, abortReason: reason, pauseStartTime: undefined, holdReason: undefined, gate: undefined, gateSince: undefined, experiment: undefined };
    }),
    restartSteps: assign(({ context }) => ({ ...clearProgress, stepIndex: 0, attempt: context.attempt + 1 })),
    startHold: assign(({ context, event }) => {
      let reason = 'analysis hold';
      if (event.type === 'ANALYSIS_INCONCLUSIVE') reason = `analysis inconclusive at ${where(context)}: ${event.reason}`;
      if (event.type === 'ANALYSIS_FAILED') reason = `analysis ${event.phase === 'Error' ? 'errored' : 'failed'} at ${where(context)}: ${event.reason}`;
      if (event.type === 'BACKGROUND_ANALYSIS_FAILED') reason = `background analysis ${verdictWord(event.phase)} at ${where(context)}: ${event.reason}`;
      return { pauseStartTime: context.now, holdReason: reason, gateSince: undefined };
    }),
    leaveHold: assign(({ context }) => ({ holdReason: undefined, attempt: context.attempt + 1 })),
    promoteToStable: assign(({ context }) => ({
      stableRevision: context.currentRevision,
      stepIndex: context.steps.length,
      pauseStartTime: undefined,
      gate: undefined,
      gateSince: undefined,
      experiment: undefined,
    })),
  },
  guards: {
    isCurrentRevision: ({ context, event }) => event.type === 'REVISION_OBSERVED' && event.revision === context.currentRevision,
    isFirstRevision: ({ context }) => context.stableRevision === undefined,
    isStableRevision: ({ context, event }) => event.type === 'REVISION_OBSERVED' && event.revision === context.stableRevision,
    hasCanaryInFlight: ({ context }) => context.currentRevision !== context.stableRevision,
    stepsDone: ({ context }) => context.stepIndex >= context.steps.length,
    atTimedPause: ({ context }) => isTimedPause(context.steps[context.stepIndex]),
    atIndefinitePause: ({ context }) => isIndefinitePause(context.steps[context.stepIndex]),
    atAnalysis: ({ context }) => isAnalysis(context.steps[context.stepIndex]),
    atExperiment: ({ context }) => isExperiment(context.steps[context.stepIndex]),
    atGate: ({ context }) => nextGate(context) !== undefined,
    // spec.paused freezes progression; aborts and template changes still go through.
    mayProgress: ({ context }) => !context.specPaused,
    abortsOnDeadline: ({ context }) => context.progressDeadlineAbort,
    holdsOnFailure: ({ event }) => (event.type === 'ANALYSIS_FAILED' || event.type === 'BACKGROUND_ANALYSIS_FAILED') && event.hold,
    isInconclusive: ({ event }) => event.type === 'BACKGROUND_ANALYSIS_FAILED' && event.phase === 'Inconclusive',
  },
}).createMachine({
  id: 'rollout',
  context: ({ input }) => input,
  initial: 'new',
  on: {
    REVISION_OBSERVED: [
      { guard: 'isCurrentRevision' },
      {
        guard: 'isFirstRevision',
        target: '.stable',
        actions: [
          'adoptFirstRevision',
          announce((context) => ({
            type: 'Normal',
            reason: 'RolloutInitialized',
            message: `revision ${context.stableRevision} is the first revision: it becomes stable without steps`,
          })),
        ],
      },
      {
        guard: 'isStableRevision',
        target: '.stable',
        actions: [
          announce((context) => ({
            type: 'Normal',
            reason: 'RolloutReverted',
            message: `template reverted to stable revision ${context.stableRevision}: skipping the remaining steps and scaling down canary revision ${context.currentRevision}`,
          })),
          'revert',
        ],
      },
      {
        guard: 'hasCanaryInFlight',
        target: '.canary.route',
        actions: [
          announce((context, event) => ({
            type: 'Normal',
            reason: 'RolloutSuperseded',
            message: `canary revision ${context.currentRevision} superseded by revision ${event.type === 'REVISION_OBSERVED' ? event.revision : ''}: scaling it down and starting again from the first step`,
          })),
          'startCanary',
        ],
      },
      {
        target: '.canary.route',
        actions: [
          'startCanary',
          announce((context) => ({
            type: 'Normal',
            reason: 'RolloutStarted',
            message: `new revision ${context.currentRevision}: starting a canary against stable revision ${context.stableRevision} (${context.steps.length} steps)`,
          })),
        ],
      },
    ],
  },
  states: {
    /** Nothing observed yet; the first REVISION_OBSERVED leaves it. */
    new: {},
    /** No canary in flight: the current revision is the stable one. */
    stable: {},
    canary: {
      initial: 'route',
      on: {
        ABORT: { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
        // As Argo does: the old step index means nothing in the new steps, and no analysis may be skipped.
        STEPS_CHANGED: {
          target: '.route',
          actions: [
            announce((context, event) => ({
              type: 'Normal',
              reason: 'RolloutStepsChanged',
              message: `steps changed while the canary was at step ${event.type === 'STEPS_CHANGED' ? event.previousStepIndex : '?'}: restarting the canary of revision ${context.currentRevision} from ${stepOrdinal(0, context.steps.length)}`,
            })),
            'restartSteps',
          ],
        },
        BACKGROUND_ANALYSIS_FAILED: [
          { guard: or(['holdsOnFailure', 'isInconclusive']), target: '.inconclusive', actions: ['startHold', announceHold] },
          { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
        ],
        PROMOTE_FULL: {
          guard: 'mayProgress',
          target: '.route',
          actions: [
            announce((context) => ({
              type: 'Normal',
              reason: 'RolloutPromoted',
              message: `fully promoted at ${where(context)}: skipping the remaining steps`,
            })),
            'skipAllSteps',
          ],
        },
        // Argo's promote: ends a pause or an inconclusive analysis, or skips the step being waited on.
        PROMOTE_STEP: {
          guard: 'mayProgress',
          target: '.route',
          actions: [
            announce((context) => ({ type: 'Normal', reason: 'RolloutPromoted', message: `promoted past ${where(context)}` })),
            'advanceStep',
          ],
        },
      },
      states: {
        /** Transient: picks the substate for the step at stepIndex, or completes the rollout. */
        route: {
          always: [
            {
              guard: 'atGate',
              target: 'gated',
              actions: [
                'enterGate',
                announce((context) => ({
                  type: 'Normal',
                  reason: 'WebhookGate',
                  message: `waiting for ${context.gate} webhooks before ${context.stepIndex >= context.steps.length ? 'promotion' : where(context)}`,
                })),
              ],
            },
            {
              guard: 'stepsDone',
              target: '#rollout.stable',
              actions: [
                'promoteToStable',
                announce((context) => ({
                  type: 'Normal',
                  reason: 'RolloutCompleted',
                  message: `revision ${context.currentRevision} is now stable; scaling down older revisions`,
                })),
              ],
            },
            {
              guard: 'atTimedPause',
              target: 'timedPause',
              actions: [
                'startPause',
                announce((context) => ({
                  type: 'Normal',
                  reason: 'RolloutPaused',
                  message: `canary at ${weight(context)}%: pausing at ${where(context)}`,
                })),
              ],
            },
            {
              guard: 'atIndefinitePause',
              target: 'indefinitePause',
              actions: [
                'startPause',
                announce((context) => ({
                  type: 'Normal',
                  reason: 'RolloutPaused',
                  message: `canary at ${weight(context)}%: paused at ${where(context)} until promoted`,
                })),
              ],
            },
            { guard: 'atAnalysis', target: 'analyzing' },
            {
              guard: 'atExperiment',
              target: 'experimenting',
              actions: [
                'startExperiment',
                announce((context) => ({ type: 'Normal', reason: 'ExperimentStarted', message: `starting the experiment at ${where(context)}: ${experimentTemplates(context)}` })),
              ],
            },
            { target: 'weighting' },
          ],
        },
        /** setWeight or setCanaryScale: waiting until every ReplicaSet has its count for this step. */
        weighting: {
          on: {
            STEP_COMPLETED: { guard: 'mayProgress', target: 'route', actions: ['advanceStep', announceStepCompleted] },
            DEADLINE_EXCEEDED: { guard: 'abortsOnDeadline', target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
          },
        },
        timedPause: {
          on: {
            PAUSE_ELAPSED: { guard: 'mayProgress', target: 'route', actions: ['advanceStep', announceStepCompleted] },
          },
        },
        indefinitePause: {},
        /**
         * Held before a step (or the promotion) until the gate's hooks pass: the canary keeps what the previous
         * step gave it. A person's promote passes the gate; an abort, a rollback hook or a new template still win.
         */
        gated: {
          on: {
            // A background hold waits until the gate opens (then it holds the step); a background failure aborts.
            BACKGROUND_ANALYSIS_FAILED: [
              { guard: or(['holdsOnFailure', 'isInconclusive']) },
              { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
            ],
            GATE_OPENED: {
              guard: 'mayProgress',
              target: 'route',
              actions: [announce((context) => ({ type: 'Normal', reason: 'WebhookGatePassed', message: `${context.gate} webhooks passed at ${stepOrdinal(context.stepIndex, context.steps.length)}` })), 'passGate'],
            },
            PROMOTE_STEP: {
              guard: 'mayProgress',
              target: 'route',
              actions: [announce((context) => ({ type: 'Normal', reason: 'RolloutPromoted', message: `promoted past the ${context.gate} gate at ${stepOrdinal(context.stepIndex, context.steps.length)}` })), 'passGate'],
            },
          },
        },
        analyzing: {
          on: {
            ANALYSIS_SUCCESSFUL: { guard: 'mayProgress', target: 'route', actions: ['advanceStep', announceStepCompleted] },
            ANALYSIS_FAILED: [
              { guard: 'holdsOnFailure', target: 'inconclusive', actions: ['startHold', announceHold] },
              { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
            ],
            ANALYSIS_INCONCLUSIVE: { target: 'inconclusive', actions: ['startHold', announceHold] },
          },
        },
        /**
         * An experiment step: its ReplicaSets start; once their pods are available its analyses run and its duration
         * counts. A failed or errored run aborts, an inconclusive one holds, as at an analysis step.
         */
        experimenting: {
          on: {
            EXPERIMENT_AVAILABLE: {
              actions: [
                'markExperimentAvailable',
                announce((context) => ({ type: 'Normal', reason: 'ExperimentRunning', message: `the experiment at ${where(context)} has every pod available: its analyses start and its duration counts` })),
              ],
            },
            EXPERIMENT_COMPLETED: {
              guard: 'mayProgress',
              target: 'route',
              actions: [
                announce((context, event) => ({ type: 'Normal', reason: 'ExperimentCompleted', message: `the experiment at ${where(context)} completed: ${event.type === 'EXPERIMENT_COMPLETED' ? event.reason : ''}` })),
                'advanceStep',
                announceStepCompleted,
              ],
            },
            EXPERIMENT_FAILED: { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
            ANALYSIS_FAILED: { target: '#rollout.aborted', actions: ['markAborted', announceAborted] },
            ANALYSIS_INCONCLUSIVE: { target: 'inconclusive', actions: ['startHold', announceHold] },
          },
        },
        /**
         * Held by analysis (inconclusive, or failed under onFailure: Pause) until a person promotes or
         * aborts. Promoting starts analysis afresh (a new attempt), so the old verdict cannot hold it again.
         */
        inconclusive: {
          on: {
            PROMOTE_STEP: {
              guard: 'mayProgress',
              target: 'route',
              actions: [
                announce((context) => ({ type: 'Normal', reason: 'RolloutPromoted', message: `promoted past ${where(context)}` })),
                'leaveHold',
                'advanceStep',
              ],
            },
            PROMOTE_FULL: {
              guard: 'mayProgress',
              target: 'route',
              actions: [
                announce((context) => ({
                  type: 'Normal',
                  reason: 'RolloutPromoted',
                  message: `fully promoted at ${where(context)}: skipping the remaining steps`,
                })),
                'leaveHold',
                'skipAllSteps',
              ],
            },
          },
        },
      },
    },
    /** The canary lost its pods and its weight; only a retry or a new template leaves. */
    aborted: {
      on: {
        RETRY: {
          target: '#rollout.canary.route',
          actions: [
            'restartSteps',
            announce((context) => ({
              type: 'Normal',
              reason: 'RolloutRetried',
              message: `retrying canary revision ${context.currentRevision} from the first step`,
            })),
          ],
        },
      },
    },
  },
});

export type RolloutMachine = typeof rolloutMachine;
export type RolloutSnapshot = ReturnType<typeof rolloutMachine.resolveState>;
