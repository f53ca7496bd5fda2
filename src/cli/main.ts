import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, FledgeClient, loadTarget } from './client.js';
import type { Command, CommandContext } from './command.js';
import { abort } from './commands/abort.js';
import { backtest } from './commands/backtest.js';
import { convert } from './commands/convert.js';
import { dashboard } from './commands/dashboard.js';
import { getRollout } from './commands/get-rollout.js';
import { lint } from './commands/lint.js';
import { listRollouts } from './commands/list-rollouts.js';
import { pause } from './commands/pause.js';
import { promote } from './commands/promote.js';
import { restart } from './commands/restart.js';
import { resume } from './commands/resume.js';
import { retry } from './commands/retry.js';
import { setImage } from './commands/set-image.js';
import { status } from './commands/status.js';
import { undo } from './commands/undo.js';
import { version } from './commands/version.js';
import { colors } from './render.js';

const GLOBAL_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const GLOBAL_HELP = `Global flags (as kubectl): --kubeconfig PATH, --context NAME, -n/--namespace NS (default: the context's), --no-color, -h/--help`;

/** In the order the top-level help lists them. */
const COMMANDS: Record<string, Command> = {
  'get rollout': getRollout,
  'list rollouts': listRollouts,
  status,
  promote,
  abort,
  retry,
  pause,
  resume,
  restart,
  undo,
  'set image': setImage,
  lint,
  convert,
  dashboard,
  backtest,
  version,
};

function commandHelp(key: string, command: Command): string {
  return `${command.summary}\n\nUsage:\n  ${command.usage}\n\nExample:\n  ${command.example}\n\n${GLOBAL_HELP}\n`;
}

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((key) => key.length));
  const lines = Object.entries(COMMANDS).map(([key, command]) => `  ${key.padEnd(width)}  ${command.summary.split('. ')[0]?.replace(/\.$/, '')}`);
  return `kubectl fledge: watch and steer Fledge rollouts.\n\nCommands:\n${lines.join('\n')}\n\nExample:\n  kubectl fledge get rollout api --watch\n\nRun \`kubectl fledge COMMAND --help\` for a command's flags.\n${GLOBAL_HELP}\n`;
}

/** Finds the command (two-word commands such as `get rollout` first, with the usual aliases) among the positionals. */
function resolveCommand(argv: string[]): { key: string; rest: string[] } | undefined {
  const allOptions = Object.assign({}, GLOBAL_OPTIONS, ...Object.values(COMMANDS).map((command) => command.options ?? {})) as ParseArgsConfig['options'];
  const words = parseArgs({ args: argv, options: allOptions, allowPositionals: true, strict: false }).positionals;
  const [first, second] = words;
  const alias: Record<string, string> = { ro: 'rollout', rollouts: 'rollout', fro: 'rollout', rollout: 'rollouts' };
  const without = (...remove: string[]): string[] => {
    const rest = [...argv];
    for (const word of remove) rest.splice(rest.indexOf(word), 1);
    return rest;
  };
  if (first !== undefined && second !== undefined) {
    for (const candidate of [`${first} ${second}`, `${first} ${alias[second] ?? second}`]) {
      if (COMMANDS[candidate] !== undefined) return { key: candidate, rest: without(first, second) };
    }
  }
  if (first !== undefined && COMMANDS[first] !== undefined) return { key: first, rest: without(first) };
  return undefined;
}

/** The context a command runs in; its client is made on first use, so lint and convert need no kubeconfig. */
function contextFor(parsed: ReturnType<typeof parseArgs>, out: NodeJS.WriteStream): CommandContext {
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const useColor = values['no-color'] !== true && out.isTTY === true && process.env.NO_COLOR === undefined;
  let client: FledgeClient | undefined;
  return {
    args: parsed.positionals,
    values,
    c: colors(useColor),
    out,
    client: () => {
      client ??= new FledgeClient(
        loadTarget({
          ...(typeof values.kubeconfig === 'string' && { kubeconfig: values.kubeconfig }),
          ...(typeof values.context === 'string' && { context: values.context }),
          ...(typeof values.namespace === 'string' && { namespace: values.namespace }),
        }),
      );
      return client;
    },
  };
}

/** Says what failed on stderr (with the command's help for a usage error) and returns the exit code. */
function reportFailure(err: unknown, key: string, command: Command): number {
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (err.exitCode === 2) process.stderr.write(`\n${commandHelp(key, command)}`);
    return err.exitCode;
  }
  const body = (err as { body?: unknown }).body;
  const detail = typeof body === 'string' ? body : body !== undefined ? JSON.stringify(body) : err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${detail}\n`);
  return 1;
}

export async function run(argv: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const resolved = resolveCommand(argv);
  if (resolved === undefined) {
    const asked = argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help';
    (asked ? out : process.stderr).write(asked ? topHelp() : `unknown command: ${argv.join(' ')}\n\n${topHelp()}`);
    return asked ? 0 : 2;
  }
  const command = COMMANDS[resolved.key] as Command;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: resolved.rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${commandHelp(resolved.key, command)}`);
    return 2;
  }
  if (parsed.values.help === true) {
    out.write(commandHelp(resolved.key, command));
    return 0;
  }
  try {
    return await command.run(contextFor(parsed, out));
  } catch (err) {
    return reportFailure(err, resolved.key, command);
  }
}

/** Whether node was started on this file (`npx tsx src/cli/main.ts`, `node dist/cli/main.js`) rather than importing it. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// Run directly, the module is the plugin; bin/kubectl-fledge.js imports it and calls run itself.
// Exit explicitly: closed watches can leave keep-alive sockets that would hold the process open.
if (isEntryPoint()) process.exit(await run(process.argv.slice(2)));
