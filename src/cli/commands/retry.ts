import { planRetry } from '../actions.js';
import type { Command } from '../command.js';
import { steer } from '../steer.js';

export const retry: Command = {
  usage: 'kubectl fledge retry NAME',
  summary: 'Start an aborted canary again from the first step. Writes status, not spec.',
  example: 'kubectl fledge retry api',
  run: steer((rollout) => planRetry(rollout)),
};
