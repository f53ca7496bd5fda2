import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { appsApi, coreApi, leaseApi } from '../../../src/kube/api.js';
import { KubeClient, resourceOf, TokenBucket, verbOf } from '../../../src/kube/client.js';
import { connectionFor } from '../../../src/kube/connection.js';

describe('API request labels', () => {
  it('names the resource without object names, subresources included', () => {
    expect(resourceOf('/api/v1/namespaces/shop/pods/api-1')).toBe('pods');
    expect(resourceOf('/api/v1/namespaces/shop/pods')).toBe('pods');
    expect(resourceOf('/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/api/status')).toBe('rollouts/status');
    expect(resourceOf('/apis/fledge.dev/v1alpha1/rollouts')).toBe('rollouts');
    expect(resourceOf('/api/v1/namespaces/shop')).toBe('namespaces');
    expect(resourceOf('/apis/coordination.k8s.io/v1/namespaces/fledge-system/leases/fledge-controller?timeout=5s')).toBe('leases');
  });

  it('maps HTTP methods to Kubernetes verbs', () => {
    expect(verbOf('GET', '/api/v1/namespaces/shop/pods')).toBe('list');
    expect(verbOf('GET', '/api/v1/namespaces/shop/pods/a')).toBe('get');
    expect(verbOf('PATCH', '/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/api/status')).toBe('patch');
    expect(verbOf('POST', '/apis/apps/v1/namespaces/shop/replicasets')).toBe('create');
    expect(verbOf('PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l')).toBe('update');
    expect(verbOf('DELETE', '/apis/apps/v1/namespaces/shop/replicasets/r')).toBe('delete');
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then spaces requests at the QPS', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    expect(bucket.reserve()).toBe(100);
    expect(bucket.reserve()).toBe(200);
    now = 1000;
    // A second later 10 tokens have accrued, but no more than the burst is kept.
    expect([bucket.reserve(), bucket.reserve()]).toEqual([0, 0]);
  });

  it('makes take() wait for the reserved time', async () => {
    const waits: number[] = [];
    const bucket = new TokenBucket(5, 1, () => 0, async (ms) => void waits.push(ms));
    await bucket.take();
    await bucket.take();
    expect(waits).toEqual([200]);
  });
});

describe('KubeClient', () => {
  it('gives up on a request the apiserver does not answer within timeoutMs, and counts it as an error', async () => {
    // An apiserver that takes requests and never answers, like one that is stopped (SIGSTOP).
    const held: IncomingMessage[] = [];
    const server: Server = createServer((req) => void held.push(req));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const codes: string[] = [];
      const leases = leaseApi(new KubeClient(connectionFor(kc), { limiter: new TokenBucket(100, 100), onResponse: (verb, resource, code) => void codes.push(`${verb} ${resource} ${code}`) }, 300));
      const startedAt = Date.now();
      await expect(leases.readNamespacedLease({ name: 'fledge-controller', namespace: 'fledge-system' })).rejects.toThrow();
      const tookMs = Date.now() - startedAt;
      expect(tookMs).toBeGreaterThanOrEqual(290);
      expect(tookMs).toBeLessThan(2_000);
      expect(held).toHaveLength(1);
      expect(codes).toEqual(['get leases error']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('connections to the apiserver', () => {
  it('reuses one TLS connection for sequential requests, with the token on every one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fledge-tls-'));
    try {
      const made = spawnSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(made.status, made.stderr).toBe(0);
      const cert = readFileSync(join(dir, 'cert.pem'));
      let handshakes = 0;
      const tokens: Array<string | undefined> = [];
      const server = createHttpsServer({ cert, key: readFileSync(join(dir, 'key.pem')) }, (req, res) => {
        tokens.push(req.headers.authorization);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: {}, items: [] }));
      });
      server.on('secureConnection', () => handshakes++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: cert.toString('base64') }],
        users: [{ name: 'u', token: 'sekret' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const instrumentation = { limiter: new TokenBucket(1000, 1000), onResponse: () => undefined };
      const core = coreApi(new KubeClient(connectionFor(kc), instrumentation));
      const apps = appsApi(new KubeClient(connectionFor(kc), instrumentation));
      for (let i = 0; i < 10; i++) await core.listNamespacedPod({ namespace: 'shop' });
      for (let i = 0; i < 10; i++) await apps.listNamespacedReplicaSet({ namespace: 'shop' }).catch(() => undefined);
      expect(tokens).toHaveLength(20);
      expect(new Set(tokens)).toEqual(new Set(['Bearer sekret']));
      // client-node's own agents opened a connection, with a handshake, per request.
      expect(handshakes).toBe(1);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
