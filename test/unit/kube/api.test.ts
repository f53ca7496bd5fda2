import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { appsApi, batchApi, coreApi, customApi, leaseApi, networkingApi } from '../../../src/kube/api.js';
import { KubeClient, TokenBucket } from '../../../src/kube/client.js';
import { connectionFor, KubeApiError } from '../../../src/kube/connection.js';
import { metadataOnlyOptions } from '../../../src/kube/informer.js';
import { apiErrorMessage, isAlreadyExists, isConflict, isNotFound, mergePatchOptions } from '../../../src/kube/patch.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An apiserver stand-in that records each request and answers with what `answer` says. */
async function apiserver(answer: (seen: Seen) => { status: number; body: unknown }): Promise<{ kc: k8s.KubeConfig; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(request);
      const { status, body } = answer(request);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'sekret' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    kc,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function clients(answer: Parameters<typeof apiserver>[0] = () => ({ status: 200, body: {} })) {
  const server = await apiserver(answer);
  cleanups.push(server.close);
  const counted: string[] = [];
  const client = new KubeClient(connectionFor(server.kc), { limiter: new TokenBucket(1000, 1000), onResponse: (verb, resource, code) => void counted.push(`${verb} ${resource} ${code}`) });
  return { ...server, client, counted };
}

describe('the API calls', () => {
  it('send each call to its path with its query, body and credentials, and count it by verb, resource and code', async () => {
    const { client, seen, counted } = await clients();
    const core = coreApi(client);
    const apps = appsApi(client);
    await apps.createNamespacedReplicaSet({ namespace: 'shop', body: { metadata: { name: 'api-1' } } });
    await apps.listReplicaSetForAllNamespaces({ labelSelector: 'fledge.dev/rollout' });
    await core.listNamespacedPod({ namespace: 'shop', labelSelector: 'app=api,rev in (a,b)' });
    await core.deleteNamespacedSecret({ name: 'creds', namespace: 'shop' });
    await batchApi(client).deleteNamespacedJob({ name: 'run-1', namespace: 'shop', propagationPolicy: 'Background' });
    await networkingApi(client).readNamespacedIngress({ name: 'web', namespace: 'shop' });
    await leaseApi(client).replaceNamespacedLease({ name: 'fledge', namespace: 'fledge-system', body: { spec: { holderIdentity: 'a' } } });
    await core.readNamespace({ name: 'shop' });
    expect(seen.map((s) => `${s.method} ${decodeURIComponent(s.url)}`)).toEqual([
      'POST /apis/apps/v1/namespaces/shop/replicasets',
      'GET /apis/apps/v1/replicasets?labelSelector=fledge.dev/rollout',
      'GET /api/v1/namespaces/shop/pods?labelSelector=app=api,rev+in+(a,b)',
      'DELETE /api/v1/namespaces/shop/secrets/creds',
      'DELETE /apis/batch/v1/namespaces/shop/jobs/run-1?propagationPolicy=Background',
      'GET /apis/networking.k8s.io/v1/namespaces/shop/ingresses/web',
      'PUT /apis/coordination.k8s.io/v1/namespaces/fledge-system/leases/fledge',
      'GET /api/v1/namespaces/shop',
    ]);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ metadata: { name: 'api-1' } });
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(new Set(seen.map((s) => s.headers.authorization))).toEqual(new Set(['Bearer sekret']));
    expect(new Set(seen.map((s) => s.headers.accept))).toEqual(new Set(['application/json']));
    expect(counted).toEqual([
      'create replicasets 200',
      'list replicasets 200',
      'list pods 200',
      'delete secrets 200',
      'delete jobs 200',
      'get ingresses 200',
      'update leases 200',
      'get namespaces 200',
    ]);
  });

  it('address custom resources by group, version and plural, the status subresource included, with the patch type the caller names', async () => {
    const { client, seen } = await clients();
    const custom = customApi(client);
    const rollout = { group: 'fledge.dev', version: 'v1alpha1', plural: 'rollouts', namespace: 'shop', name: 'api' };
    await custom.patchNamespacedCustomObjectStatus({ ...rollout, body: { status: { phase: 'Paused' } } }, mergePatchOptions());
    await custom.patchNamespacedCustomObject({ ...rollout, body: { spec: { paused: true } } }, { headers: { 'Content-Type': 'application/json-patch+json' } });
    await custom.listClusterCustomObject({ group: 'fledge.dev', version: 'v1alpha1', plural: 'clusteranalysistemplates' });
    await custom.getNamespacedCustomObject({ ...rollout, name: 'a b/c' });
    expect(seen.map((s) => `${s.method} ${s.url} ${s.headers['content-type'] ?? '-'}`)).toEqual([
      'PATCH /apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/api/status application/merge-patch+json',
      'PATCH /apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/api application/json-patch+json',
      'GET /apis/fledge.dev/v1alpha1/clusteranalysistemplates -',
      'GET /apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/a%20b%2Fc -',
    ]);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ status: { phase: 'Paused' } });
  });

  it('send a delete\'s DeleteOptions as its body, so a precondition makes the apiserver refuse a changed object', async () => {
    const { client, seen } = await clients();
    const preconditions = { preconditions: { resourceVersion: '42' } };
    await leaseApi(client).deleteNamespacedLease({ name: 'fledge-shard-1', namespace: 'fledge-system', body: preconditions });
    await customApi(client).deleteNamespacedCustomObject({ group: 'getambassador.io', version: 'v3alpha1', plural: 'mappings', namespace: 'shop', name: 'echo-canary', body: preconditions });
    await coreApi(client).deleteNamespacedService({ name: 'api-exp', namespace: 'shop' });
    await leaseApi(client).listNamespacedLease({ namespace: 'fledge-system', labelSelector: 'fledge.dev/lease-group=fledge' });
    expect(seen.map((s) => `${s.method} ${decodeURIComponent(s.url)} ${s.body === '' ? '-' : s.body}`)).toEqual([
      `DELETE /apis/coordination.k8s.io/v1/namespaces/fledge-system/leases/fledge-shard-1 ${JSON.stringify(preconditions)}`,
      `DELETE /apis/getambassador.io/v3alpha1/namespaces/shop/mappings/echo-canary ${JSON.stringify(preconditions)}`,
      'DELETE /api/v1/namespaces/shop/services/api-exp -',
      'GET /apis/coordination.k8s.io/v1/namespaces/fledge-system/leases?labelSelector=fledge.dev/lease-group=fledge -',
    ]);
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(seen[2]?.headers['content-type']).toBeUndefined();
  });

  it('asks for metadata only when the list says so', async () => {
    const { client, seen } = await clients(() => ({ status: 200, body: { kind: 'PartialObjectMetadataList', items: null } }));
    const list = await coreApi(client).listNamespacedSecret({ namespace: 'shop' }, metadataOnlyOptions());
    expect(list.items).toBeNull();
    expect(seen[0]?.headers.accept).toBe('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
  });

  it('hand back the apiserver JSON as sent: timestamps stay strings, fields the models lack are kept', async () => {
    const pod = { metadata: { name: 'p', creationTimestamp: '2026-01-02T03:04:05Z' }, status: { futureField: 1 } };
    const { client } = await clients(() => ({ status: 200, body: { items: [pod] } }));
    expect((await coreApi(client).listNamespacedPod({ namespace: 'shop' })).items).toEqual([pod]);
  });

  it('throw what the apiserver refused with its code and Status, counted under that code', async () => {
    const status = (code: number, reason: string, message: string) => ({ status: code, body: { kind: 'Status', code, reason, message } });
    const answers = [status(409, 'Conflict', 'the object has been modified'), status(409, 'AlreadyExists', 'replicasets "api-1" already exists'), status(404, 'NotFound', 'secrets "creds" not found')];
    const { client, counted } = await clients(() => answers.shift() ?? { status: 500, body: 'not JSON' });
    const apps = appsApi(client);
    const failure = (call: Promise<unknown>): Promise<unknown> => call.then(() => undefined, (err: unknown) => err);
    const conflict = await failure(apps.patchNamespacedReplicaSet({ name: 'api-1', namespace: 'shop', body: {} }, mergePatchOptions()));
    const exists = await failure(apps.createNamespacedReplicaSet({ namespace: 'shop', body: {} }));
    const missing = await failure(coreApi(client).readNamespacedSecret({ name: 'creds', namespace: 'shop' }));
    const broken = await failure(apps.readNamespacedReplicaSet({ name: 'api-1', namespace: 'shop' }));
    expect(conflict).toBeInstanceOf(KubeApiError);
    expect([isConflict(conflict), isAlreadyExists(conflict), isAlreadyExists(exists), isNotFound(missing)]).toEqual([true, false, true, true]);
    expect(apiErrorMessage(missing)).toBe('secrets "creds" not found');
    expect(String(missing)).toContain('GET /api/v1/namespaces/shop/secrets/creds: 404 Not Found: secrets "creds" not found');
    expect((broken as KubeApiError).code).toBe(500);
    expect(apiErrorMessage(broken)).toBe('not JSON');
    expect(counted).toEqual(['patch replicasets 409', 'create replicasets 409', 'get secrets 404', 'get replicasets 500']);
  });
});
