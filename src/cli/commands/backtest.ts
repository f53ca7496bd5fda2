import { parseDuration } from '../../api/duration.js';
import { DEFAULT_STEP_MS, runBacktest, type BacktestReport } from '../../analysis/backtest.js';
import { backtestDeps, backtestRollout, outcomeSentence, parseArgPairs, parseInstant, rangeWindows, readTemplates, renderBacktest, rolloutBacktestJson, type NamedTemplate } from '../backtest.js';
import { CliError } from '../client.js';
import { listFlag, type Command, type CommandContext } from '../command.js';

/** What both kinds of backtest take from the flags. */
interface BacktestInputs {
  json: boolean;
  templates: NamedTemplate[] | undefined;
  given: Map<string, string>;
  stepMs: number | undefined;
  prometheusAddress: string | undefined;
  nowMs: number;
}

function durationFlag(ctx: CommandContext, flag: string): number | undefined {
  const raw = ctx.values[flag];
  if (typeof raw !== 'string') return undefined;
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new CliError(`--${flag}: ${err instanceof Error ? err.message : String(err)}`, 2);
  }
}

function inputsOf(ctx: CommandContext, paths: readonly string[]): BacktestInputs {
  const templates = paths.length > 0 ? readTemplates(paths) : undefined;
  const given = parseArgPairs(listFlag(ctx, 'args'));
  const stepMs = durationFlag(ctx, 'step');
  if (stepMs !== undefined && stepMs < 1000) throw new CliError('--step must be at least 1s', 2);
  const prometheusAddress = typeof ctx.values['prometheus-address'] === 'string' ? ctx.values['prometheus-address'] : undefined;
  return { json: ctx.values.output === 'json', templates, given, stepMs, prometheusAddress, nowMs: Date.now() };
}

function warn(ctx: CommandContext, report: BacktestReport): void {
  for (const failed of report.queryErrors) process.stderr.write(`${ctx.c.yellow('warning:')} Prometheus did not answer ${failed.query}: ${failed.message}\n`);
}

/** The windows are the Rollout's past analysis runs. */
async function backtestReleases(ctx: CommandContext, rolloutName: string, inputs: BacktestInputs): Promise<number> {
  const last = Number(ctx.values.last ?? 10);
  if (!Number.isInteger(last) || last < 1) throw new CliError(`--last must be a positive integer, not ${String(ctx.values.last)}`, 2);
  const client = ctx.client();
  const { templates, given, stepMs, prometheusAddress, nowMs } = inputs;
  const result = await backtestRollout(client, rolloutName, { namespace: client.target.namespace, templates, given, last, stepMs, prometheusAddress, nowMs });
  warn(ctx, result.report);
  if (inputs.json) {
    ctx.out.write(`${JSON.stringify(rolloutBacktestJson(result), null, 2)}\n`);
    return 0;
  }
  ctx.out.write(renderBacktest(result.report, ctx.c, result.releases.map((release) => release.live)));
  ctx.out.write(`${outcomeSentence(result.outcome)}\n`);
  return 0;
}

/** The windows slide over --from .. --to. */
async function backtestRange(ctx: CommandContext, inputs: BacktestInputs): Promise<number> {
  const from = parseInstant(String(ctx.values.from ?? '7d'), inputs.nowMs);
  const to = parseInstant(String(ctx.values.to ?? 'now'), inputs.nowMs);
  const windows = rangeWindows(inputs.templates ?? [], inputs.given, from, to, inputs.stepMs ?? DEFAULT_STEP_MS);
  const namespace = ctx.values.namespace !== undefined ? ctx.client().target.namespace : 'default';
  const report = await runBacktest(windows, backtestDeps(ctx.client(), namespace, { prometheusAddress: inputs.prometheusAddress, stepMs: inputs.stepMs, queryPerWindow: false }));
  warn(ctx, report);
  ctx.out.write(inputs.json ? `${JSON.stringify(report, null, 2)}\n` : renderBacktest(report, ctx.c));
  return 0;
}

export const backtest: Command = {
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
    const paths = listFlag(ctx, 'filename');
    const rolloutName = typeof ctx.values.rollout === 'string' ? ctx.values.rollout : undefined;
    if (paths.length === 0 && rolloutName === undefined) throw new CliError('name the templates with -f, or a Rollout with --rollout', 2);
    const inputs = inputsOf(ctx, paths);
    return rolloutName !== undefined ? backtestReleases(ctx, rolloutName, inputs) : backtestRange(ctx, inputs);
  },
};
