import { planSetImage } from '../actions.js';
import { needName, type Command } from '../command.js';
import { applyPlan, GITOPS_NOTE } from '../steer.js';

export const setImage: Command = {
  usage: 'kubectl fledge set image NAME CONTAINER=IMAGE [CONTAINER=IMAGE ...]',
  summary: `Change container images, which starts a canary. ${GITOPS_NOTE}`,
  example: 'kubectl fledge set image api api=registry.example.com/api:v1.2.4',
  run: async (ctx) => {
    const name = needName(ctx);
    const rollout = await ctx.client().getRollout(name);
    return applyPlan(ctx, name, planSetImage(rollout, ctx.args.slice(1)));
  },
};
