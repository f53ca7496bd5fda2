import { planRestart } from '../actions.js';
import type { Command } from '../command.js';
import { steer } from '../steer.js';

export const restart: Command = {
  usage: 'kubectl fledge restart NAME',
  summary: 'Recreate every pod, maxUnavailable (at least one) at a time, through spec.restartAt. No new revision, no canary.',
  example: 'kubectl fledge restart api',
  run: steer((rollout) => planRestart(rollout, new Date())),
};
