import { planPromote } from '../actions.js';
import type { Command } from '../command.js';
import { steer } from '../steer.js';

export const promote: Command = {
  usage: 'kubectl fledge promote NAME [--full]',
  summary: 'End the current pause (or analysis hold); with --full, skip every remaining step. Writes status, not spec.',
  example: 'kubectl fledge promote api --full',
  options: { full: { type: 'boolean' } },
  run: steer((rollout, ctx) => planPromote(rollout, ctx.values.full === true)),
};
