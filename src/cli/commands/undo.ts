import { planUndo } from '../actions.js';
import { CliError } from '../client.js';
import type { Command } from '../command.js';
import { GITOPS_NOTE, steer } from '../steer.js';

export const undo: Command = {
  usage: 'kubectl fledge undo NAME [--to-revision N]',
  summary: `Set the template back to an earlier revision's (default: the previous one). ${GITOPS_NOTE}`,
  example: 'kubectl fledge undo api --to-revision 3',
  options: { 'to-revision': { type: 'string' } },
  run: steer(async (rollout, ctx) => {
    const raw = ctx.values['to-revision'];
    const toRevision = raw === undefined ? undefined : Number(raw);
    if (toRevision !== undefined && (!Number.isInteger(toRevision) || toRevision < 1)) throw new CliError(`--to-revision must be a positive integer, not ${String(raw)}`, 2);
    const { replicaSets } = await ctx.client().rolloutObjects(rollout.metadata.name ?? '');
    return planUndo(rollout, replicaSets, toRevision);
  }),
};
