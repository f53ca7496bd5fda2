import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreApi, type CoreApi } from '../../../../src/kube/api.js';
import { KubeClient, TokenBucket } from '../../../../src/kube/client.js';
import { connectionFor } from '../../../../src/kube/connection.js';
import { FencedWriteError, WriteFence } from '../../../../src/kube/shards/write-fence.js';

describe('WriteFence through the API client', () => {
  const requests: string[] = [];
  let server: Server;
  let kc: k8s.KubeConfig;

  beforeAll(async () => {
    // An apiserver that answers every request with an empty ConfigMap.
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url?.split('?')[0]}`);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (fence: WriteFence, limiter = new TokenBucket(1_000, 1_000)): CoreApi =>
    coreApi(new KubeClient(connectionFor(kc), { limiter, onResponse: () => {}, beforeWrite: () => fence.check() }));
  const write = (core: CoreApi) => core.createNamespacedConfigMap({ namespace: 'shop', body: { metadata: { name: 'c' } } });
  const read = (core: CoreApi) => core.readNamespacedConfigMap({ namespace: 'shop', name: 'c' });

  it('sends writes while the scope may write, refuses them (unsent) once it may not, and never stops reads', async () => {
    const fence = new WriteFence();
    const core = client(fence);
    let held = true;
    requests.length = 0;
    await fence.run('shard 3', () => held, async () => {
      await write(core);
      held = false;
      await expect(write(core)).rejects.toBeInstanceOf(FencedWriteError);
      await expect(write(core)).rejects.toThrow('shard 3 is no longer held here');
      await read(core);
    });
    expect(requests).toEqual(['POST /api/v1/namespaces/shop/configmaps', 'GET /api/v1/namespaces/shop/configmaps/c']);
  });

  it('fences what a reconcile started in the background, and nothing outside a scope', async () => {
    const fence = new WriteFence();
    const core = client(fence);
    let held = true;
    requests.length = 0;
    let background: Promise<unknown> = Promise.resolve();
    await fence.run('shard 1', () => held, async () => {
      background = new Promise((resolve) => setTimeout(resolve, 20)).then(() => write(core));
    });
    held = false;
    await expect(background).rejects.toBeInstanceOf(FencedWriteError);
    await write(core);
    expect(requests).toEqual(['POST /api/v1/namespaces/shop/configmaps']);
  });

  it('checks after the wait for the rate limiter, not before it', async () => {
    const fence = new WriteFence();
    let now = 0;
    let held = true;
    // The limiter's wait is where the shard is lost: the clock moves on, and the deadline with it.
    const limiter = new TokenBucket(1, 1, () => now, async (ms) => {
      now += ms;
      held = false;
    });
    const core = client(fence, limiter);
    requests.length = 0;
    await fence.run('shard 0', () => held, async () => {
      await write(core);
      await expect(write(core)).rejects.toBeInstanceOf(FencedWriteError);
    });
    expect(requests).toHaveLength(1);
  });
});
