// The dashboard's e2e helpers: the real plugin serving the page, raw requests to its guard, Debian's Chromium.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { eventually } from './e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');
/** FLEDGE_SCREENSHOTS=1 writes the README's screenshots into docs/; otherwise screenshots go to a temp dir, so a run leaves the tree clean. */
export const screenshotDir = process.env.FLEDGE_SCREENSHOTS === '1' ? join(repoRoot, 'docs') : mkdtempSync(join(tmpdir(), 'fledge-dashboard-shots-'));

export interface DashboardProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The real plugin, as a user starts it: `kubectl-fledge dashboard --kubeconfig ... -n NS --port 0`. */
export async function startDashboard(kubeconfig: string, namespace: string, extraArgs: readonly string[] = []): Promise<DashboardProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/kubectl-fledge.js'), 'dashboard', '--kubeconfig', kubeconfig, '-n', namespace, '--port', '0', ...extraArgs], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await eventually('the dashboard prints its URL', async () => {
    if (child.exitCode !== null) throw new Error(`dashboard exited ${child.exitCode}: ${output}`);
    return /Fledge dashboard: (http:\/\/\S+)/.exec(output)?.[1];
  }, { timeoutMs: 60_000, intervalMs: 100 });
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A raw request, so Host and Origin are whatever the test says (fetch would set them itself). */
export function raw(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const CHROMIUM = '/usr/bin/chromium';

export const launchChromium = (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) throw new Error(`Debian's chromium is needed at ${CHROMIUM}: bash scripts/install-system-deps.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // launch() gives the browser a fresh profile directory of its own; no network here, so no background fetching.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
};
