import { setup } from 'xstate';
import type { AnalysisPhase } from '../api/analysis.js';

export type TerminalPhase = Extract<AnalysisPhase, 'Successful' | 'Failed' | 'Error' | 'Inconclusive'>;

export type RunEvent =
  /** The first measurement is under way (or due). */
  | { type: 'START' }
  /** The metrics' counts were re-evaluated; `phase` is what they add up to now. */
  | { type: 'EVALUATED'; phase: AnalysisPhase }
  /** The run cannot measure at all: a condition that does not type-check, a missing template or argument. */
  | { type: 'INVALID' }
  /** The Rollout no longer needs it; the verdict so far stands. */
  | { type: 'TERMINATE'; phase: TerminalPhase };

const isTerminal = (phase: AnalysisPhase): phase is TerminalPhase => phase !== 'Pending' && phase !== 'Running';

/**
 * The AnalysisRun lifecycle. Like the rollout's, it is rebuilt from status on every reconcile and
 * advanced only with transition(); its one promise is that a verdict, once reached, never changes.
 */
export const runMachine = setup({
  types: { events: {} as RunEvent },
  guards: {
    reaches: ({ event }, phase: AnalysisPhase) => event.type === 'EVALUATED' && event.phase === phase,
    terminatesAs: ({ event }, phase: TerminalPhase) => event.type === 'TERMINATE' && event.phase === phase,
  },
}).createMachine({
  id: 'analysisRun',
  initial: 'Pending',
  states: {
    Pending: {
      on: {
        START: 'Running',
        INVALID: 'Error',
        TERMINATE: [
          { guard: { type: 'terminatesAs', params: 'Failed' }, target: 'Failed' },
          { guard: { type: 'terminatesAs', params: 'Error' }, target: 'Error' },
          { guard: { type: 'terminatesAs', params: 'Inconclusive' }, target: 'Inconclusive' },
          { target: 'Successful' },
        ],
      },
    },
    Running: {
      on: {
        EVALUATED: [
          { guard: { type: 'reaches', params: 'Failed' }, target: 'Failed' },
          { guard: { type: 'reaches', params: 'Error' }, target: 'Error' },
          { guard: { type: 'reaches', params: 'Inconclusive' }, target: 'Inconclusive' },
          { guard: { type: 'reaches', params: 'Successful' }, target: 'Successful' },
        ],
        INVALID: 'Error',
        TERMINATE: [
          { guard: { type: 'terminatesAs', params: 'Failed' }, target: 'Failed' },
          { guard: { type: 'terminatesAs', params: 'Error' }, target: 'Error' },
          { guard: { type: 'terminatesAs', params: 'Inconclusive' }, target: 'Inconclusive' },
          { target: 'Successful' },
        ],
      },
    },
    Successful: { type: 'final' },
    Failed: { type: 'final' },
    Error: { type: 'final' },
    Inconclusive: { type: 'final' },
  },
});

export { isTerminal };
