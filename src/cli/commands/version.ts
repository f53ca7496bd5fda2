import { readFileSync } from 'node:fs';
import type { Command } from '../command.js';

function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export const version: Command = {
  usage: 'kubectl fledge version',
  summary: 'Print the plugin version.',
  example: 'kubectl fledge version',
  async run(ctx) {
    ctx.out.write(`kubectl-fledge ${packageVersion()}\n`);
    return 0;
  },
};
