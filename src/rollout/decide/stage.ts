import type { RolloutSnapshot } from './machine.js';

/** Where the rollout is, flattened from the machine's state value for the planners. */
export type Stage = 'stable' | 'weighting' | 'timedPause' | 'indefinitePause' | 'analyzing' | 'experimenting' | 'inconclusive' | 'gated' | 'aborted';

export function stageOf(snapshot: RolloutSnapshot): Stage {
  if (snapshot.matches('aborted')) return 'aborted';
  if (snapshot.matches({ canary: 'timedPause' })) return 'timedPause';
  if (snapshot.matches({ canary: 'indefinitePause' })) return 'indefinitePause';
  if (snapshot.matches({ canary: 'analyzing' })) return 'analyzing';
  if (snapshot.matches({ canary: 'experimenting' })) return 'experimenting';
  if (snapshot.matches({ canary: 'inconclusive' })) return 'inconclusive';
  if (snapshot.matches({ canary: 'gated' })) return 'gated';
  if (snapshot.matches('canary')) return 'weighting';
  return 'stable';
}

/** Stages that wait on a clock or a person rather than on pods; the progress deadline does not run in them. */
export function isPauseStage(stage: Stage): boolean {
  return stage === 'timedPause' || stage === 'indefinitePause' || stage === 'inconclusive';
}
