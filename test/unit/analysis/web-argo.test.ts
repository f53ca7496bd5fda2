import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebProvider } from '../../../src/api/analysis.js';
import { queryWeb, selectJsonPath } from '../../../src/analysis/providers/web.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../../src/analysis/providers/result.js';

describe("Argo's JSONPath braces in web.jsonPath", () => {
  const answer = { data: { ok: 1, rates: [0.5, 0.97] } };
  it.each([
    ['{$.data.ok}', 1],
    ['{.data.ok}', 1],
    ['{$.data.rates[1]}', 0.97],
    ['$.data.ok', 1],
  ])('%s selects the same value as the plain form', (jsonPath, value) => {
    expect(WebProvider.safeParse({ web: { url: 'http://x', jsonPath } }).success).toBe(true);
    expect(selectJsonPath(answer, jsonPath)).toBe(value);
  });

  it.each(['{$.data[?(@.ok)]}', '{$.data.ok', '$.data.ok}', '{range .items[*]}'])('refuses %s, which it cannot follow', (jsonPath) => {
    expect(WebProvider.safeParse({ web: { url: 'http://x', jsonPath } }).success).toBe(false);
  });
});

describe('web.insecure over HTTPS with a self-signed certificate', () => {
  let server: Server;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'fledge-web-tls-'));
  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], {
      stdio: 'ignore',
    });
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('{"ok": 1}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  const web = (insecure: boolean | undefined) =>
    queryWeb({ url, method: 'GET', headers: {}, timeoutMs: 2000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES, jsonPath: '{$.ok}', ...(insecure !== undefined && { insecure }) });

  it('verifies the certificate by default: an untrusted one is an Error measurement', async () => {
    expect(await web(undefined)).toMatchObject({ kind: 'error', message: expect.stringMatching(/self[- ]signed/i) });
  });

  it('skips verification for the metric that says insecure: true, and only for it', async () => {
    expect(await web(true)).toEqual({ kind: 'value', value: 1 });
    expect(await web(false)).toMatchObject({ kind: 'error' });
  });
});
