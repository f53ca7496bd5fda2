import { planPause } from '../actions.js';
import type { Command } from '../command.js';
import { GITOPS_NOTE, steer } from '../steer.js';

export const pause: Command = {
  usage: 'kubectl fledge pause NAME',
  summary: `Freeze progression (spec.paused: true). ${GITOPS_NOTE}`,
  example: 'kubectl fledge pause api',
  run: steer((rollout) => planPause(rollout)),
};
