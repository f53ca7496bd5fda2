import { checkOutput, needName, printStructured, untilInterrupted, type Command, type CommandContext } from '../command.js';
import { renderRollout } from '../render.js';
import { buildRolloutView } from '../view.js';
import { FrameThrottle, Screen, watchRolloutObjects } from '../watch.js';

type WatchedObjects = Parameters<Parameters<typeof watchRolloutObjects>[3]>[0];

/** Redraws the rollout whenever one of its objects changes, until Ctrl-C. */
async function watchRollout(ctx: CommandContext, name: string): Promise<number> {
  const client = ctx.client();
  const screen = new Screen(ctx.out);
  let latest: WatchedObjects;
  const throttle = new FrameThrottle(() => {
    if (latest === undefined) screen.draw(`rollout ${name} is gone\n`);
    else screen.draw(renderRollout(buildRolloutView(latest.rollout, latest.replicaSets, latest.pods, latest.analysisRuns), ctx.c));
  });
  const stop = await watchRolloutObjects(client, name, client.target.namespace, (objects) => {
    latest = objects;
    throttle.changed();
  });
  return untilInterrupted(throttle, stop);
}

export const getRollout: Command = {
  usage: 'kubectl fledge get rollout NAME [--watch] [-o json|yaml]',
  summary: 'Show a rollout: phase, step, weight, images, and revisions with their ReplicaSets, pods and analysis.',
  example: 'kubectl fledge get rollout api -n shop --watch',
  options: { watch: { type: 'boolean', short: 'w' }, output: { type: 'string', short: 'o' } },
  async run(ctx) {
    checkOutput(ctx);
    const name = needName(ctx);
    if (ctx.values.watch === true) return watchRollout(ctx, name);
    const client = ctx.client();
    const objects = await client.rolloutObjects(name, client.target.namespace);
    if (ctx.values.output !== undefined) printStructured(ctx, objects.rollout);
    else ctx.out.write(renderRollout(buildRolloutView(objects.rollout, objects.replicaSets, objects.pods, objects.analysisRuns), ctx.c));
    return 0;
  },
};
