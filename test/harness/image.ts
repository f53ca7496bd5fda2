import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The flags the image gives node ahead of dist/main.js, from the ENTRYPOINT of `repoDir`'s Dockerfile, so the
 * as-shipped tests and the benches run the bundle exactly as the image does.
 */
export function imageNodeFlags(repoDir: string): string[] {
  const dockerfile = join(repoDir, 'Dockerfile');
  const entrypoint = /^ENTRYPOINT (\[.*\])\s*$/m.exec(readFileSync(dockerfile, 'utf8'))?.[1];
  const command = entrypoint === undefined ? [] : (JSON.parse(entrypoint) as string[]);
  const main = command.indexOf('dist/main.js');
  if (main < 1) throw new Error(`${dockerfile}: no ENTRYPOINT of the form ["node", ...flags, "dist/main.js"]`);
  return command.slice(1, main);
}
