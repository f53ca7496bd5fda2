import { CliError } from '../client.js';
import { listFlag, type Command } from '../command.js';
import { lintPaths, renderLintReport } from '../lint.js';

export const lint: Command = {
  usage: 'kubectl fledge lint -f FILE|DIR [-f ...]',
  summary: 'Validate Rollouts, AnalysisTemplates and ClusterAnalysisTemplates offline, with the controller’s own schemas and CEL checks. Exits 1 on any error.',
  example: 'kubectl fledge lint -f deploy/rollouts/',
  options: { filename: { type: 'string', short: 'f', multiple: true } },
  async run(ctx) {
    const paths = listFlag(ctx, 'filename');
    if (paths.length === 0) throw new CliError('name at least one file or directory with -f', 2);
    const report = lintPaths(paths);
    ctx.out.write(renderLintReport(report, ctx.c));
    return report.problems.length > 0 ? 1 : 0;
  },
};
