import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CliError } from '../client.js';
import { listFlag, type Command } from '../command.js';
import { convertPaths, renderConvertFindings, type ConvertedFile } from '../convert.js';

/** One file per converted file in `dir`. Files from different directories may share a name: the later ones are numbered rather than overwrite. */
function writeFiles(dir: string, files: readonly ConvertedFile[]): void {
  mkdirSync(dir, { recursive: true });
  const used = new Set<string>();
  for (const file of files) {
    let name = basename(file.file);
    for (let n = 2; used.has(name); n++) name = `${n}-${basename(file.file)}`;
    used.add(name);
    writeFileSync(join(dir, name), file.text);
  }
}

export const convert: Command = {
  usage: 'kubectl fledge convert -f FILE|DIR [-f ...] [-o DIR] [--allow-partial]',
  summary:
    'Rewrite Argo Rollouts manifests (Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun) for Fledge: apiVersion, expr-lang conditions to CEL, and what else has a certain equivalent. Everything else is kept as written and listed with file:line on stderr; exits 1 if anything was not translated, unless --allow-partial.',
  example: 'kubectl fledge convert -f argo/ -o fledge/',
  options: { filename: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o' }, 'allow-partial': { type: 'boolean' } },
  async run(ctx) {
    const paths = listFlag(ctx, 'filename');
    if (paths.length === 0) throw new CliError('name at least one file or directory with -f', 2);
    const report = convertPaths(paths);
    const output = ctx.values.output;
    if (typeof output === 'string') writeFiles(output, report.files);
    else ctx.out.write(report.files.map((file) => (file.text.startsWith('---') ? file.text : `---\n${file.text}`)).join(''));
    process.stderr.write(renderConvertFindings(report, ctx.c));
    const untranslated = report.findings.some((finding) => finding.severity === 'untranslated');
    return untranslated && ctx.values['allow-partial'] !== true ? 1 : 0;
  },
};
