import type { ParseArgsConfig } from 'node:util';
import { dump } from '../yaml/parse.js';
import { CliError, type FledgeClient } from './client.js';
import type { Colors } from './render.js';
import type { FrameThrottle } from './watch.js';

/** One `kubectl fledge` command: its help text, its own flags, and what it does. */
export interface Command {
  usage: string;
  summary: string;
  example: string;
  options?: ParseArgsConfig['options'];
  run(ctx: CommandContext): Promise<number>;
}

/** What a command is given: its positionals and flags (the global ones included), colours, stdout, and a client made on first use. */
export interface CommandContext {
  args: string[];
  values: Record<string, string | boolean | undefined>;
  c: Colors;
  out: NodeJS.WriteStream;
  client(): FledgeClient;
}

export function needName(ctx: CommandContext, what = 'NAME'): string {
  const name = ctx.args[0];
  if (name === undefined) throw new CliError(`missing ${what}`, 2);
  return name;
}

/** The values of a flag declared `multiple: true`. */
export function listFlag(ctx: CommandContext, flag: string): string[] {
  return (ctx.values[flag] as unknown as string[] | undefined) ?? [];
}

/** Resolves at Ctrl-C (or SIGTERM). */
export function interrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/** Keeps a --watch view up until Ctrl-C (or SIGTERM), then stops its watches and exits 0. */
export async function untilInterrupted(throttle: FrameThrottle, stop: () => Promise<void>): Promise<number> {
  await interrupted();
  throttle.cancel();
  await stop();
  return 0;
}

export function checkOutput(ctx: CommandContext): void {
  const format = ctx.values.output;
  if (format !== undefined && format !== 'json' && format !== 'yaml') throw new CliError(`--output must be json or yaml, not ${String(format)}`, 2);
}

export function printStructured(ctx: CommandContext, value: unknown): void {
  const format = ctx.values.output;
  ctx.out.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : dump(value));
}
