// What a provider's oversized answer costs the controller's memory: a local server answers three
// Prometheus queries with 50 MB of non-JSON each, and a fresh child process per setting asks them,
// once with the default --max-provider-response-bytes and once with the limit lifted (what every
// answer cost before the limit existed). Writes bench/results/provider-memory.json. Run with
// `npm run bench:provider-memory`; the machine is shared, so read the difference, not the absolutes.
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { queryPrometheus } from '../src/analysis/providers/prometheus.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../src/analysis/providers/result.js';

const ANSWER_BYTES = 50 * 1024 * 1024;
const QUERIES = 3;
const MB = 1024 * 1024;

interface ChildResult {
  limitBytes: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  results: string[];
}

/** In the child: RSS before, at its peak while the answers arrive, and after, with a GC either side. */
async function measure(address: string, limitBytes: number): Promise<ChildResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  const results: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const result = await queryPrometheus({ address, query: 'up', timeoutMs: 60_000, headers: {}, maxResponseBytes: limitBytes });
    results.push(result.kind === 'error' ? result.message.slice(0, 80) : result.kind);
  }
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  gc?.();
  return { limitBytes, rssBeforeMb: rssBefore / MB, rssPeakMb: peak / MB, rssAfterMb: process.memoryUsage.rss() / MB, results };
}

async function main(): Promise<void> {
  const [role, address, limit] = process.argv.slice(2);
  if (role === '--child') {
    process.stdout.write(JSON.stringify(await measure(address ?? '', Number(limit))));
    return;
  }
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    let sent = 0;
    const pump = (): void => {
      while (sent < ANSWER_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => (sent = ANSWER_BYTES));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const child = async (limitBytes: number): Promise<ChildResult> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--child', url, String(limitBytes)], {
      maxBuffer: MB,
    });
    return JSON.parse(stdout) as ChildResult;
  };
  const limited = await child(DEFAULT_MAX_RESPONSE_BYTES);
  const unlimited = await child(1024 ** 3);
  server.close();
  const growth = (r: ChildResult): number => Math.round(r.rssPeakMb - r.rssBeforeMb);
  const report = {
    answerMb: ANSWER_BYTES / MB,
    queries: QUERIES,
    limited: { ...limited, peakGrowthMb: growth(limited) },
    unlimited: { ...unlimited, peakGrowthMb: growth(unlimited) },
  };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'provider-memory.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
