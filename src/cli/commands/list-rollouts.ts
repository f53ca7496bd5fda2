import { checkOutput, printStructured, untilInterrupted, type Command } from '../command.js';
import { renderRolloutList } from '../render.js';
import { rolloutRow } from '../view.js';
import { FrameThrottle, Screen } from '../watch.js';
import { watchRolloutList } from '../watch-list.js';

export const listRollouts: Command = {
  usage: 'kubectl fledge list rollouts [-A] [--watch] [-o json|yaml]',
  summary: 'One line per rollout.',
  example: 'kubectl fledge list rollouts -A',
  options: { 'all-namespaces': { type: 'boolean', short: 'A' }, watch: { type: 'boolean', short: 'w' }, output: { type: 'string', short: 'o' } },
  async run(ctx) {
    checkOutput(ctx);
    const client = ctx.client();
    const all = ctx.values['all-namespaces'] === true;
    const show = async (): Promise<string> => {
      const rollouts = await client.listRollouts(all ? undefined : client.target.namespace);
      return renderRolloutList(rollouts.map(rolloutRow), ctx.c, all);
    };
    if (ctx.values.output !== undefined) {
      printStructured(ctx, await client.listRollouts(all ? undefined : client.target.namespace));
      return 0;
    }
    if (ctx.values.watch !== true) {
      ctx.out.write(await show());
      return 0;
    }
    const screen = new Screen(ctx.out);
    const throttle = new FrameThrottle(() => void show().then((frame) => screen.draw(frame)));
    const stop = await watchRolloutList(client, all ? undefined : client.target.namespace, () => throttle.changed());
    throttle.changed();
    return untilInterrupted(throttle, stop);
  },
};
