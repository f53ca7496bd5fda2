import { spawn } from 'node:child_process';
import { join } from 'node:path';
import axios from 'axios';
import { describe, expect, it } from 'vitest';

const app = join(import.meta.dirname, '..', '..', '..', 'examples', 'demo-app', 'server.js');

describe('examples/demo-app', () => {
  it('serves the bad behaviour (every fifth request fails) and counts it in /metrics', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [app], { env: { ...process.env, DEMO_BEHAVIOUR: 'bad', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => (chunk.toString().includes('demo app') ? resolve() : undefined));
        child.once('exit', (code) => reject(new Error(`demo app exited with ${code}`)));
      });
      const codes = await Promise.all(
        Array.from({ length: 10 }, () => axios.get(`http://127.0.0.1:${port}/`, { validateStatus: () => true }).then((res) => res.status)),
      );
      expect(codes.filter((code) => code === 500)).toHaveLength(2);
      const metrics = (await axios.get<string>(`http://127.0.0.1:${port}/metrics`, { responseType: 'text' })).data;
      expect(metrics).toContain('http_requests_total{code="500"} 2');
      expect(metrics).toContain('http_requests_total{code="200"} 8');
      expect(metrics).toMatch(/http_request_duration_seconds_bucket\{le="1"\} 10/);
    } finally {
      child.kill();
    }
  });
});
