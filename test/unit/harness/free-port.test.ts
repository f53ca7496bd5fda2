import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const helper = new URL('../../harness/free-port.ts', import.meta.url).pathname;

interface Holder {
  /** What the child printed once it had reserved. */
  printed: Promise<string>;
  /** Ends the child (and with it, its reservations). */
  exit(): Promise<void>;
}

/** Runs `code` (with freePort and tryReserve imported) in a process of its own, which lives until exit(). */
function holder(lockDir: string, code: string): Holder {
  const script = `import { freePort, tryReserve } from ${JSON.stringify(helper)}; ${code}; process.stdin.resume();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, FLEDGE_PORT_LOCK_DIR: lockDir },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const printed = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.endsWith('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before printing`)));
  });
  return { printed, exit: async () => (child.stdin.end(), await exited) };
}

async function helperIn(lockDir: string) {
  process.env.FLEDGE_PORT_LOCK_DIR = lockDir;
  return import('../../harness/free-port.js');
}

describe('freePort', () => {
  it('never hands one port to two live processes, nor one from the ephemeral range or the cluster', async () => {
    const lockDir = mkdtempSync(join(tmpdir(), 'fledge-port-test-'));
    const children = [1, 2, 3, 4].map(() => holder(lockDir, 'const ports = []; for (let i = 0; i < 25; i++) ports.push(await freePort()); console.log(JSON.stringify(ports))'));
    try {
      const all = (await Promise.all(children.map(async (c) => JSON.parse(await c.printed) as number[]))).flat();
      expect(all).toHaveLength(100);
      const { reservablePorts } = await helperIn(lockDir);
      const { excluded } = reservablePorts();
      expect(all.filter((port) => excluded.some(([low, high]) => port >= low && port <= high))).toEqual([]);
      // All four hold their ports at once, through one lock directory: a port twice would be two holders.
      expect(new Set(all).size).toBe(all.length);
    } finally {
      await Promise.all(children.map((c) => c.exit()));
    }
  });

  it('refuses a port a live process holds, and takes it back once that process has exited', async () => {
    const lockDir = mkdtempSync(join(tmpdir(), 'fledge-port-test-'));
    const first = holder(lockDir, 'const port = await freePort(); console.log(port)');
    const port = Number(await first.printed);
    const { tryReserve } = await helperIn(lockDir);
    expect(await tryReserve(port)).toBe(false);
    await first.exit();
    expect(await tryReserve(port)).toBe(true);
    // Now this process holds it: another process is refused.
    const second = holder(lockDir, `console.log(await tryReserve(${port}))`);
    try {
      expect(await second.printed).toBe('false');
    } finally {
      await second.exit();
    }
  });
});
