import { parseDuration } from '../../api/duration.js';
import { CliError } from '../client.js';
import { needName, type Command, type CommandContext } from '../command.js';
import { STATUS_EXIT, statusLine, verdictOf } from '../status.js';
import { watchRolloutObjects } from '../watch.js';

function timeoutOf(ctx: CommandContext): number {
  try {
    return parseDuration(String(ctx.values.timeout ?? '10m'));
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), 2);
  }
}

/** Prints each new status line until the rollout reaches a verdict or the timeout passes; the exit code says which. */
async function awaitVerdict(ctx: CommandContext, name: string, timeoutMs: number): Promise<number> {
  const client = ctx.client();
  let lastLine = '';
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (settle = resolve));
  const stop = await watchRolloutObjects(client, name, client.target.namespace, (objects) => {
    if (objects === undefined) {
      process.stderr.write(`rollout ${name} was deleted\n`);
      settle(STATUS_EXIT.degraded);
      return;
    }
    const line = statusLine(objects.rollout);
    if (line !== lastLine) ctx.out.write(`${line}\n`);
    lastLine = line;
    const verdict = verdictOf(objects.rollout);
    if (verdict === 'healthy') settle(STATUS_EXIT.healthy);
    if (verdict === 'degraded') settle(STATUS_EXIT.degraded);
  });
  const timer = setTimeout(() => {
    process.stderr.write(`timed out after ${String(ctx.values.timeout ?? '10m')} waiting for rollout ${name} to become Healthy\n`);
    settle(STATUS_EXIT.timeout);
  }, timeoutMs);
  const code = await finished;
  clearTimeout(timer);
  await stop();
  return code;
}

export const status: Command = {
  usage: 'kubectl fledge status NAME [--timeout 10m]',
  summary: 'Wait until the rollout is Healthy (exit 0), Degraded or aborted (exit 1), or the timeout passes (exit 2).',
  example: 'kubectl fledge status api --timeout 15m && echo deployed',
  options: { timeout: { type: 'string' } },
  async run(ctx) {
    const name = needName(ctx);
    const client = ctx.client();
    const timeoutMs = timeoutOf(ctx);
    await client.getRollout(name);
    const code = await awaitVerdict(ctx, name, timeoutMs);
    if (code === STATUS_EXIT.healthy) ctx.out.write(`${ctx.c.green('✔')} rollout ${name} is Healthy\n`);
    if (code === STATUS_EXIT.degraded) ctx.out.write(`${ctx.c.red('✖')} rollout ${name} is Degraded\n`);
    return code;
  },
};
