import { planResume } from '../actions.js';
import type { Command } from '../command.js';
import { GITOPS_NOTE, steer } from '../steer.js';

export const resume: Command = {
  usage: 'kubectl fledge resume NAME',
  summary: `Undo pause (spec.paused: false). ${GITOPS_NOTE}`,
  example: 'kubectl fledge resume api',
  run: steer((rollout) => planResume(rollout)),
};
