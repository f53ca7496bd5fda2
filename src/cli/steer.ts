import type { DeclaredRollout } from '../api/rollout.js';
import type { ActionPlan } from './actions.js';
import { needName, type Command, type CommandContext } from './command.js';

export const GITOPS_NOTE = 'This changes spec: under GitOps (Argo CD, Flux) make the same change in Git, or it is reverted at the next sync.';

/** Writes a steering command's plan as one patch, or says why it refused. */
export async function applyPlan(ctx: CommandContext, name: string, plan: ActionPlan): Promise<number> {
  if (plan.kind === 'refuse') {
    process.stderr.write(`${ctx.c.red('refused:')} ${plan.message}\n`);
    return 1;
  }
  await ctx.client().patchRollout(name, plan.subresource, plan.patch);
  ctx.out.write(`${ctx.c.green('✔')} ${plan.done}\n`);
  return 0;
}

/** A command that reads Rollout NAME, plans from what it says, and applies the plan. */
export function steer(plan: (rollout: DeclaredRollout, ctx: CommandContext) => ActionPlan | Promise<ActionPlan>): Command['run'] {
  return async (ctx) => {
    const name = needName(ctx);
    const rollout = await ctx.client().getRollout(name);
    return applyPlan(ctx, name, await plan(rollout, ctx));
  };
}
