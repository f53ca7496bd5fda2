import { planAbort } from '../actions.js';
import type { Command } from '../command.js';
import { steer } from '../steer.js';

export const abort: Command = {
  usage: 'kubectl fledge abort NAME',
  summary: 'Abort the canary: back to 100% stable, Degraded, until retried or the template changes. Writes status, not spec.',
  example: 'kubectl fledge abort api',
  run: steer((rollout) => planAbort(rollout)),
};
