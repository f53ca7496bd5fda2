import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../api/duration.js';
import type { DeclaredRollout } from '../api/rollout.js';
import { planAbort, planPause, planPromote, planRestart, planResume, planRetry, planSetImage, planUndo, type ActionPlan } from './actions.js';
import { CliError, FledgeClient, loadTarget } from './client.js';
import { colors, renderRollout, renderRolloutList, type Colors } from './render.js';
import { STATUS_EXIT, statusLine, verdictOf } from './status.js';
import { buildRolloutView, rolloutRow } from './view.js';
import { FrameThrottle, Screen, watchRolloutObjects } from './watch.js';
import { watchRolloutList } from './watch-list.js';
import { lintPaths, renderLintReport } from './lint.js';
import { convertPaths, renderConvertFindings } from './convert.js';
import { startDashboard } from './dashboard/server.js';
import { dump } from '../yaml/parse.js';
import { DEFAULT_STEP_MS, runBacktest, type BacktestReport } from '../analysis/backtest.js';
import { backtestDeps, backtestRollout, outcomeSentence, parseArgPairs, parseInstant, rangeWindows, readTemplates, renderBacktest, rolloutBacktestJson } from './backtest.js';

const GLOBAL_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const GLOBAL_HELP = `Global flags (as kubectl): --kubeconfig PATH, --context NAME, -n/--namespace NS (default: the context's), --no-color, -h/--help`;

interface Command {
  usage: string;
  summary: string;
  example: string;
  options?: ParseArgsConfig['options'];
  run(ctx: CommandContext): Promise<number>;
}

interface CommandContext {
  args: string[];
  values: Record<string, string | boolean | undefined>;
  c: Colors;
  out: NodeJS.WriteStream;
  client(): FledgeClient;
}

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function needName(ctx: CommandContext, what = 'NAME'): string {
  const name = ctx.args[0];
  if (name === undefined) throw new CliError(`missing ${what}`, 2);
  return name;
}

async function applyPlan(ctx: CommandContext, name: string, plan: ActionPlan): Promise<number> {
  if (plan.kind === 'refuse') {
    process.stderr.write(`${ctx.c.red('refused:')} ${plan.message}\n`);
    return 1;
  }
  await ctx.client().patchRollout(name, plan.subresource, plan.patch);
  ctx.out.write(`${ctx.c.green('✔')} ${plan.done}\n`);
  return 0;
}

function steer(plan: (rollout: DeclaredRollout, ctx: CommandContext) => ActionPlan | Promise<ActionPlan>): Command['run'] {
  return async (ctx) => {
    const name = needName(ctx);
    const rollout = await ctx.client().getRollout(name);
    return applyPlan(ctx, name, await plan(rollout, ctx));
  };
}

/** Keeps a --watch view up until Ctrl-C (or SIGTERM), then stops its watches and exits 0. */
async function untilInterrupted(throttle: FrameThrottle, stop: () => Promise<void>): Promise<number> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  throttle.cancel();
  await stop();
  return 0;
}

function printStructured(ctx: CommandContext, value: unknown): void {
  const format = ctx.values.output;
  ctx.out.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : dump(value));
}

function checkOutput(ctx: CommandContext): void {
  const format = ctx.values.output;
  if (format !== undefined && format !== 'json' && format !== 'yaml') throw new CliError(`--output must be json or yaml, not ${String(format)}`, 2);
}

/** The port Argo Rollouts' dashboard uses, so a habit carries over. */
const DASHBOARD_PORT = 3100;

const GITOPS_NOTE = 'This changes spec: under GitOps (Argo CD, Flux) make the same change in Git, or it is reverted at the next sync.';

const COMMANDS: Record<string, Command> = {
  'get rollout': {
    usage: 'kubectl fledge get rollout NAME [--watch] [-o json|yaml]',
    summary: 'Show a rollout: phase, step, weight, images, and revisions with their ReplicaSets, pods and analysis.',
    example: 'kubectl fledge get rollout api -n shop --watch',
    options: { watch: { type: 'boolean', short: 'w' }, output: { type: 'string', short: 'o' } },
    async run(ctx) {
      checkOutput(ctx);
      const name = needName(ctx);
      const client = ctx.client();
      const namespace = client.target.namespace;
      if (ctx.values.watch !== true) {
        const objects = await client.rolloutObjects(name, namespace);
        if (ctx.values.output !== undefined) printStructured(ctx, objects.rollout);
        else ctx.out.write(renderRollout(buildRolloutView(objects.rollout, objects.replicaSets, objects.pods, objects.analysisRuns), ctx.c));
        return 0;
      }
      const screen = new Screen(ctx.out);
      let latest: Parameters<Parameters<typeof watchRolloutObjects>[3]>[0];
      const throttle = new FrameThrottle(() => {
        if (latest === undefined) screen.draw(`rollout ${name} is gone\n`);
        else screen.draw(renderRollout(buildRolloutView(latest.rollout, latest.replicaSets, latest.pods, latest.analysisRuns), ctx.c));
      });
      const stop = await watchRolloutObjects(client, name, namespace, (objects) => {
        latest = objects;
        throttle.changed();
      });
      return untilInterrupted(throttle, stop);
    },
  },
  'list rollouts': {
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
  },
  status: {
    usage: 'kubectl fledge status NAME [--timeout 10m]',
    summary: 'Wait until the rollout is Healthy (exit 0), Degraded or aborted (exit 1), or the timeout passes (exit 2).',
    example: 'kubectl fledge status api --timeout 15m && echo deployed',
    options: { timeout: { type: 'string' } },
    async run(ctx) {
      const name = needName(ctx);
      const client = ctx.client();
      let timeoutMs: number;
      try {
        timeoutMs = parseDuration(String(ctx.values.timeout ?? '10m'));
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err), 2);
      }
      await client.getRollout(name);
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
      if (code === STATUS_EXIT.healthy) ctx.out.write(`${ctx.c.green('✔')} rollout ${name} is Healthy\n`);
      if (code === STATUS_EXIT.degraded) ctx.out.write(`${ctx.c.red('✖')} rollout ${name} is Degraded\n`);
      return code;
    },
  },
  promote: {
    usage: 'kubectl fledge promote NAME [--full]',
    summary: 'End the current pause (or analysis hold); with --full, skip every remaining step. Writes status, not spec.',
    example: 'kubectl fledge promote api --full',
    options: { full: { type: 'boolean' } },
    run: steer((rollout, ctx) => planPromote(rollout, ctx.values.full === true)),
  },
  abort: {
    usage: 'kubectl fledge abort NAME',
    summary: 'Abort the canary: back to 100% stable, Degraded, until retried or the template changes. Writes status, not spec.',
    example: 'kubectl fledge abort api',
    run: steer((rollout) => planAbort(rollout)),
  },
  retry: {
    usage: 'kubectl fledge retry NAME',
    summary: 'Start an aborted canary again from the first step. Writes status, not spec.',
    example: 'kubectl fledge retry api',
    run: steer((rollout) => planRetry(rollout)),
  },
  pause: {
    usage: 'kubectl fledge pause NAME',
    summary: `Freeze progression (spec.paused: true). ${GITOPS_NOTE}`,
    example: 'kubectl fledge pause api',
    run: steer((rollout) => planPause(rollout)),
  },
  resume: {
    usage: 'kubectl fledge resume NAME',
    summary: `Undo pause (spec.paused: false). ${GITOPS_NOTE}`,
    example: 'kubectl fledge resume api',
    run: steer((rollout) => planResume(rollout)),
  },
  restart: {
    usage: 'kubectl fledge restart NAME',
    summary: 'Recreate every pod, maxUnavailable (at least one) at a time, through spec.restartAt. No new revision, no canary.',
    example: 'kubectl fledge restart api',
    run: steer((rollout) => planRestart(rollout, new Date())),
  },
  undo: {
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
  },
  'set image': {
    usage: 'kubectl fledge set image NAME CONTAINER=IMAGE [CONTAINER=IMAGE ...]',
    summary: `Change container images, which starts a canary. ${GITOPS_NOTE}`,
    example: 'kubectl fledge set image api api=registry.example.com/api:v1.2.4',
    run: async (ctx) => {
      const name = needName(ctx);
      const rollout = await ctx.client().getRollout(name);
      return applyPlan(ctx, name, planSetImage(rollout, ctx.args.slice(1)));
    },
  },
  lint: {
    usage: 'kubectl fledge lint -f FILE|DIR [-f ...]',
    summary: 'Validate Rollouts, AnalysisTemplates and ClusterAnalysisTemplates offline, with the controller’s own schemas and CEL checks. Exits 1 on any error.',
    example: 'kubectl fledge lint -f deploy/rollouts/',
    options: { filename: { type: 'string', short: 'f', multiple: true } },
    async run(ctx) {
      const paths = (ctx.values.filename as unknown as string[] | undefined) ?? [];
      if (paths.length === 0) throw new CliError('name at least one file or directory with -f', 2);
      const report = lintPaths(paths);
      ctx.out.write(renderLintReport(report, ctx.c));
      return report.problems.length > 0 ? 1 : 0;
    },
  },
  convert: {
    usage: 'kubectl fledge convert -f FILE|DIR [-f ...] [-o DIR] [--allow-partial]',
    summary:
      'Rewrite Argo Rollouts manifests (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun) for Fledge: apiVersion, expr-lang conditions to CEL, and what else has a certain equivalent. Everything else is kept as written and listed with file:line on stderr; exits 1 if anything was not translated, unless --allow-partial.',
    example: 'kubectl fledge convert -f argo/ -o fledge/',
    options: { filename: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o' }, 'allow-partial': { type: 'boolean' } },
    async run(ctx) {
      const paths = (ctx.values.filename as unknown as string[] | undefined) ?? [];
      if (paths.length === 0) throw new CliError('name at least one file or directory with -f', 2);
      const report = convertPaths(paths);
      const output = ctx.values.output;
      if (typeof output === 'string') {
        mkdirSync(output, { recursive: true });
        const used = new Set<string>();
        for (const file of report.files) {
          // Files from different directories may share a name: number the later ones rather than overwrite.
          let name = basename(file.file);
          for (let n = 2; used.has(name); n++) name = `${n}-${basename(file.file)}`;
          used.add(name);
          writeFileSync(join(output, name), file.text);
        }
      } else {
        ctx.out.write(report.files.map((file) => (file.text.startsWith('---') ? file.text : `---\n${file.text}`)).join(''));
      }
      process.stderr.write(renderConvertFindings(report, ctx.c));
      const untranslated = report.findings.some((finding) => finding.severity === 'untranslated');
      return untranslated && ctx.values['allow-partial'] !== true ? 1 : 0;
    },
  },
  dashboard: {
    usage: 'kubectl fledge dashboard [--port 3100] [--address 127.0.0.1] [-n NS | -A] [--prometheus-address URL]',
    summary:
      'Serve a live web page of the rollouts (steps, weights, revisions, analysis plots, a backtest of past releases on request) with their buttons, on loopback, with your kubeconfig. Prints the URL; opens nothing.',
    example: 'kubectl fledge dashboard -n shop --port 3100',
    options: { port: { type: 'string' }, address: { type: 'string' }, 'all-namespaces': { type: 'boolean', short: 'A' }, 'prometheus-address': { type: 'string' } },
    async run(ctx) {
      const port = Number(ctx.values.port ?? DASHBOARD_PORT);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be 0..65535, not ${String(ctx.values.port)}`, 2);
      const address = String(ctx.values.address ?? '127.0.0.1');
      // It answers only to the Host it listens on (against DNS rebinding): a wildcard has no one name to check.
      if (['0.0.0.0', '::', '[::]'].includes(address)) throw new CliError(`--address must be one address the browser will use, not the wildcard ${address}`, 2);
      if (!['127.0.0.1', '::1', 'localhost'].includes(address)) {
        process.stderr.write(`${ctx.c.yellow('warning:')} ${address} is not loopback: whoever reaches it can see and steer these rollouts with your credentials\n`);
      }
      const client = ctx.client();
      const prometheusAddress = typeof ctx.values['prometheus-address'] === 'string' ? ctx.values['prometheus-address'] : undefined;
      const namespace = ctx.values['all-namespaces'] === true ? undefined : client.target.namespace;
      const dashboard = await startDashboard({ client, namespace, address, port, prometheusAddress });
      ctx.out.write(`Fledge dashboard: ${dashboard.url}  (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await dashboard.close();
      return 0;
    },
  },
  backtest: {
    usage:
      'kubectl fledge backtest (-f TEMPLATE.yaml [--from 7d] [--to now] | --rollout NAME [-f TEMPLATE.yaml] [--last 10]) [--args name=value ...] [--step DURATION] [--prometheus-address URL] [-o json]',
    summary:
      'Replay an analysis against Prometheus history with the controller’s own verdict rules: per window the verdict it would have reached, when, on which values, and how close to the threshold. With --rollout, the windows are that Rollout’s past analysis runs.',
    example: 'kubectl fledge backtest -f success-rate.yaml --args service=api --from 7d --prometheus-address http://localhost:9090',
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      rollout: { type: 'string' },
      args: { type: 'string', multiple: true },
      from: { type: 'string' },
      to: { type: 'string' },
      step: { type: 'string' },
      last: { type: 'string' },
      'prometheus-address': { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
    async run(ctx) {
      const output = ctx.values.output;
      if (output !== undefined && output !== 'json') throw new CliError(`--output must be json, not ${String(output)}`, 2);
      const paths = (ctx.values.filename as unknown as string[] | undefined) ?? [];
      const rolloutName = typeof ctx.values.rollout === 'string' ? ctx.values.rollout : undefined;
      if (paths.length === 0 && rolloutName === undefined) throw new CliError('name the templates with -f, or a Rollout with --rollout', 2);
      const templates = paths.length > 0 ? readTemplates(paths) : undefined;
      const given = parseArgPairs((ctx.values.args as unknown as string[] | undefined) ?? []);
      const durationFlag = (flag: string): number | undefined => {
        const raw = ctx.values[flag];
        if (typeof raw !== 'string') return undefined;
        try {
          return parseDuration(raw);
        } catch (err) {
          throw new CliError(`--${flag}: ${err instanceof Error ? err.message : String(err)}`, 2);
        }
      };
      const stepMs = durationFlag('step');
      if (stepMs !== undefined && stepMs < 1000) throw new CliError('--step must be at least 1s', 2);
      const now = Date.now();
      const address = typeof ctx.values['prometheus-address'] === 'string' ? ctx.values['prometheus-address'] : undefined;
      const warn = (report: BacktestReport): void => {
        for (const failed of report.queryErrors) process.stderr.write(`${ctx.c.yellow('warning:')} Prometheus did not answer ${failed.query}: ${failed.message}\n`);
      };
      if (rolloutName !== undefined) {
        const last = Number(ctx.values.last ?? 10);
        if (!Number.isInteger(last) || last < 1) throw new CliError(`--last must be a positive integer, not ${String(ctx.values.last)}`, 2);
        const client = ctx.client();
        const result = await backtestRollout(client, rolloutName, { namespace: client.target.namespace, templates, given, last, stepMs, prometheusAddress: address, nowMs: now });
        warn(result.report);
        if (output === 'json') {
          ctx.out.write(`${JSON.stringify(rolloutBacktestJson(result), null, 2)}\n`);
          return 0;
        }
        ctx.out.write(renderBacktest(result.report, ctx.c, result.releases.map((release) => release.live)));
        ctx.out.write(`${outcomeSentence(result.outcome)}\n`);
        return 0;
      }
      const from = parseInstant(String(ctx.values.from ?? '7d'), now);
      const to = parseInstant(String(ctx.values.to ?? 'now'), now);
      const windows = rangeWindows(templates ?? [], given, from, to, stepMs ?? DEFAULT_STEP_MS);
      const namespace = ctx.values.namespace !== undefined ? ctx.client().target.namespace : 'default';
      const report = await runBacktest(windows, backtestDeps(ctx.client(), namespace, { prometheusAddress: address, stepMs, queryPerWindow: false }));
      warn(report);
      ctx.out.write(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderBacktest(report, ctx.c));
      return 0;
    },
  },
  version: {
    usage: 'kubectl fledge version',
    summary: 'Print the plugin version.',
    example: 'kubectl fledge version',
    async run(ctx) {
      ctx.out.write(`kubectl-fledge ${packageVersion()}\n`);
      return 0;
    },
  },
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
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help === true) {
    out.write(commandHelp(resolved.key, command));
    return 0;
  }
  const useColor = values['no-color'] !== true && out.isTTY === true && process.env.NO_COLOR === undefined;
  let client: FledgeClient | undefined;
  const ctx: CommandContext = {
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
  try {
    return await command.run(ctx);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.exitCode === 2) process.stderr.write(`\n${commandHelp(resolved.key, command)}`);
      return err.exitCode;
    }
    const body = (err as { body?: unknown }).body;
    const detail = typeof body === 'string' ? body : body !== undefined ? JSON.stringify(body) : err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${detail}\n`);
    return 1;
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
