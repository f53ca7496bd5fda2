#!/usr/bin/env node
// kubectl finds plugins named kubectl-* on PATH. Runs the built CLI (npm run build), or the TypeScript
// source through tsx in a development checkout.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(built)) {
  cli = await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
// Exit explicitly: closed watches can leave keep-alive sockets that would hold the process open.
process.exit(await cli.run(process.argv.slice(2)));
