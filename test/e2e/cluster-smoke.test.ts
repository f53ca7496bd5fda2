import { createServer, type Server } from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestNamespace, kubectl, prometheusUrl, testKubeConfig } from '../harness/e2e.js';

describe('the loopback test cluster', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  beforeAll(async () => {
    ns = await createTestNamespace('smoke');
  });
  afterAll(async () => {
    await ns.remove();
  });

  it('schedules a Deployment onto fake nodes and its Pods become Ready', async () => {
    const kc = testKubeConfig();
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const labels = { app: 'smoke' };
    // Start watching before creating, so no transition can be missed.
    const ready = new Set<string>();
    let stopWatch: { abort: () => void } | undefined;
    const allReady = new Promise<void>((resolve, reject) => {
      void new k8s.Watch(kc)
        .watch(
          `/api/v1/namespaces/${ns.name}/pods`,
          { labelSelector: 'app=smoke' },
          (_type, pod: k8s.V1Pod) => {
            const isReady = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
            if (isReady && pod.spec?.nodeName?.startsWith('kwok-node-')) ready.add(pod.metadata?.name ?? '');
            if (ready.size === 3) resolve();
          },
          (err) => (err ? reject(err as Error) : undefined),
        )
        .then((controller) => (stopWatch = controller), reject);
    });
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } },
        },
      },
    });
    await allReady;
    stopWatch?.abort();
    const deployment = await apps.readNamespacedDeployment({ name: 'smoke', namespace: ns.name });
    expect(ready.size).toBe(3);
    // The real controller-manager created the ReplicaSet that created these Pods.
    expect(deployment.metadata?.generation).toBeGreaterThan(0);
  });

  describe('Prometheus', () => {
    let server: Server;
    let targetFile: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.setHeader('Content-Type', 'text/plain; version=0.0.4');
        res.end('# TYPE fledge_smoke_answer gauge\nfledge_smoke_answer 42\n');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      targetFile = join(inject('prometheusTargetsDir'), `smoke-${port}.json`);
      writeFileSync(targetFile, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { test: 'smoke' } }]));
    });
    afterAll(async () => {
      rmSync(targetFile, { force: true });
      await new Promise((r) => server.close(r));
    });

    it('scrapes a real endpoint and answers a query about it', async () => {
      const query = async (): Promise<string | undefined> => {
        const res = await axios.get(`${prometheusUrl()}/api/v1/query`, { params: { query: 'fledge_smoke_answer{test="smoke"}' } });
        const result = (res.data as { data: { result: Array<{ value: [number, string] }> } }).data.result;
        return result[0]?.value[1];
      };
      let value: string | undefined;
      for (let i = 0; i < 60 && value === undefined; i++) {
        value = await query();
        if (value === undefined) await new Promise((r) => setTimeout(r, 500));
      }
      expect(value).toBe('42');
    });
  });

  it('keeps the fake nodes heartbeating through node Leases, so the node lifecycle controller never marks them NotReady', async () => {
    if (process.env.FLEDGE_TEST_KUBECONFIG) return;
    const coordination = testKubeConfig().makeApiClient(k8s.CoordinationV1Api);
    const leases = await coordination.listNamespacedLease({ namespace: 'kube-node-lease' });
    const kwok = leases.items.filter((lease) => lease.metadata?.name?.startsWith('kwok-node-'));
    expect(kwok.length).toBeGreaterThanOrEqual(2);
    for (const lease of kwok) {
      const renewed = new Date(lease.spec?.renewTime ?? 0).getTime();
      expect(Date.now() - renewed, `lease ${lease.metadata?.name} renewed recently`).toBeLessThan(40_000);
    }
  });

  it("answers `kubectl auth can-i` for a ServiceAccount with RBAC's real decision", async () => {
    const manifest = [
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader}',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: pod-reader}\nrules:\n- {apiGroups: [""], resources: [pods], verbs: [get, list, watch]}',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}\nsubjects:\n- {kind: ServiceAccount, name: reader}',
    ].join('\n---\n');
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    // A real token signed by the apiserver for the ServiceAccount, not impersonation.
    const token = await kubectl(['create', 'token', 'reader', '-n', ns.name]);
    expect(token.code, token.stderr).toBe(0);
    const asReader = (verb: string, resource: string): Promise<{ code: number; stdout: string }> =>
      kubectl(['--token', token.stdout.trim(), 'auth', 'can-i', verb, resource, '-n', ns.name]);

    const list = await asReader('list', 'pods');
    expect(list.stdout.trim()).toBe('yes');
    expect(list.code).toBe(0);
    const del = await asReader('delete', 'pods');
    expect(del.stdout.trim()).toBe('no');
    expect(del.code).toBe(1);
    const secrets = await asReader('get', 'secrets');
    expect(secrets.stdout.trim()).toBe('no');
  });
});
