import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { restartLogLevel, resilientInformer, trimForCache, trimToMetadata, waitForCacheSync, WARMUP_GRACE_MS, type ResilientInformer } from '../../../src/kube/informer.js';
import { createLogger } from '../../../src/observability/logger.js';

const logger = createLogger('error', {});
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An apiserver stand-in on loopback that only serves watches: each is answered and held open, empty. */
async function watchServer(): Promise<{ url: string; watches: () => number; close: () => Promise<void> }> {
  const open: ServerResponse[] = [];
  let watches = 0;
  const server: Server = createServer((req, res) => {
    if (!req.url?.includes('watch=true')) {
      res.statusCode = 404;
      res.end();
      return;
    }
    watches++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    open.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    watches: () => watches,
    close: async () => {
      open.forEach((res) => res.destroy());
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function kubeConfig(server: string, user: k8s.User = { name: 'u', token: 't' }): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [user],
    contexts: [{ name: 'x', cluster: 'c', user: user.name }],
    currentContext: 'x',
  });
  return kc;
}

const pod = (name: string): k8s.V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', resourceVersion: '7' } });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('resilientInformer', () => {
  it('is not synced while its list fails, retries until one gets through, and is synced only with the listed objects cached', async () => {
    const server = await watchServer();
    cleanups.push(server.close);
    let lists = 0;
    const informer = resilientInformer<k8s.V1Pod>(
      kubeConfig(server.url),
      '/api/v1/namespaces/ns/pods',
      async () => {
        lists++;
        // What client-node reports for a kubeconfig whose CA did not sign the apiserver's certificate.
        if (lists <= 2) throw new Error('request to https://127.0.0.1:6443/api/v1/pods failed, reason: self-signed certificate in certificate chain');
        return { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '7' }, items: [pod('a'), pod('b')] };
      },
      { logger, name: 'pods' },
    );
    cleanups.push(() => informer.stop());
    await informer.start();
    expect(lists).toBe(1);
    expect(informer.synced).toBe(false);
    // Restarts after 500 ms, then 1 s: the third list succeeds. Whenever synced, the cache already holds the list.
    const deadline = Date.now() + 5_000;
    while (!informer.synced && Date.now() < deadline) await tick(5);
    expect(informer.synced).toBe(true);
    expect(lists).toBe(3);
    expect(informer.list('ns').map((p) => p.metadata?.name).sort()).toEqual(['a', 'b']);
    expect(server.watches()).toBe(1);
  });

  it('retries a start that throws (its credential plugin failed for the watch) instead of rejecting', async () => {
    const server = await watchServer();
    cleanups.push(server.close);
    const informer = resilientInformer<k8s.V1Pod>(
      kubeConfig(server.url, { name: 'u', exec: { command: 'false', apiVersion: 'client.authentication.k8s.io/v1beta1' } }),
      '/api/v1/namespaces/ns/pods',
      async () => ({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '7' }, items: [pod('a')] }),
      { logger, name: 'pods' },
    );
    cleanups.push(() => informer.stop());
    await expect(informer.start()).resolves.toBeUndefined();
    // The list got through, so the cache reflects the cluster; the watch is retried in the background.
    expect(informer.synced).toBe(true);
    expect(server.watches()).toBe(0);
  });
});

describe('the list and the watch', () => {
  it('watches from the last resourceVersion after a close, and after a 410 lists again and drops what the list lacks', async () => {
    const watches: URLSearchParams[] = [];
    // Each watch request gets the next script: its event lines, then the server ends the response.
    const scripts = [
      [{ type: 'ADDED', object: { ...pod('c'), metadata: { name: 'c', namespace: 'ns', resourceVersion: '8' } } }, { type: 'MODIFIED', object: { ...pod('a'), metadata: { name: 'a', namespace: 'ns', resourceVersion: '9' } } }],
      [{ type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } }, { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }],
    ];
    const server = createServer((req, res) => {
      watches.push(new URL(req.url ?? '', 'http://x').searchParams);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const script = scripts.shift();
      if (script === undefined) return void res.flushHeaders();
      res.end(script.map((event) => `${JSON.stringify(event)}\n`).join(''));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const lists = [
      { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '7' }, items: [pod('a'), pod('b')] },
      // After the 410: b is gone, a and c are as the watch left them (an unchanged resourceVersion is no change).
      { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '20' }, items: [{ ...pod('a'), metadata: { name: 'a', namespace: 'ns', resourceVersion: '9' } }, { ...pod('c'), metadata: { name: 'c', namespace: 'ns', resourceVersion: '8' } }] },
    ];
    const informer = resilientInformer<k8s.V1Pod>(kubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), '/api/v1/namespaces/ns/pods', async () => lists.shift() ?? Promise.reject(new Error('listed too often')), {
      logger,
      name: 'pods',
      labelSelector: 'app=shop',
    });
    const changes: string[] = [];
    informer.onChange((obj) => changes.push(`${obj.metadata?.name}@${obj.metadata?.resourceVersion}`));
    cleanups.push(() => informer.stop());
    await informer.start();
    const deadline = Date.now() + 5_000;
    while (watches.length < 3 && Date.now() < deadline) await tick(5);
    expect(watches.map((query) => [query.get('watch'), query.get('resourceVersion'), query.get('labelSelector')])).toEqual([
      ['true', '7', 'app=shop'],
      ['true', '9', 'app=shop'],
      ['true', '20', 'app=shop'],
    ]);
    expect(changes).toEqual(['a@7', 'b@7', 'c@8', 'a@9', 'b@7']);
    expect(informer.list().map((p) => p.metadata?.name).sort()).toEqual(['a', 'c']);
    expect(informer.get('b', 'ns')).toBeUndefined();
  });
});

describe('what the cache keeps', () => {
  const heavy = (name: string): k8s.V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ns',
      resourceVersion: '8',
      managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"copy"}', 'argocd.argoproj.io/tracking-id': 'shop:/Pod:ns/' + name },
      labels: { app: 'shop' },
    },
  });

  it('drops managedFields and the last-applied copy, and keeps every other annotation and label', () => {
    expect(trimForCache(heavy('a')).metadata).toEqual({ name: 'a', namespace: 'ns', resourceVersion: '8', annotations: { 'argocd.argoproj.io/tracking-id': 'shop:/Pod:ns/a' }, labels: { app: 'shop' } });
    expect(trimForCache({ apiVersion: 'v1', kind: 'Pod' })).toEqual({ apiVersion: 'v1', kind: 'Pod' });
  });

  it('trims what the list returns and what the watch sends before either is cached', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (req.url?.includes('watch=true')) res.write(`${JSON.stringify({ type: 'ADDED', object: heavy('watched') })}\n`);
      res.flushHeaders();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const informer = resilientInformer<k8s.V1Pod>(
      kubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      '/api/v1/namespaces/ns/pods',
      async () => ({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '7' }, items: [heavy('listed')] }),
      { logger, name: 'pods' },
    );
    cleanups.push(() => informer.stop());
    await informer.start();
    const deadline = Date.now() + 5_000;
    while (informer.get('watched', 'ns') === undefined && Date.now() < deadline) await tick(5);
    for (const name of ['listed', 'watched']) {
      const cached = informer.get(name, 'ns');
      expect(cached?.metadata?.labels).toEqual({ app: 'shop' });
      expect(cached?.metadata?.managedFields).toBeUndefined();
      expect(Object.keys(cached?.metadata?.annotations ?? {})).toEqual(['argocd.argoproj.io/tracking-id']);
    }
  });
});

describe('a metadata-only informer', () => {
  it('asks its watch for PartialObjectMetadata, keeps no annotations, and takes an empty list that says items: null', async () => {
    const accepts: string[] = [];
    const server = createServer((req, res) => {
      accepts.push(String(req.headers.accept));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (req.url?.includes('watch=true')) res.write(`${JSON.stringify({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', metadata: { name: 'creds', namespace: 'ns', resourceVersion: '9', annotations: { secretish: 'x' } } } })}\n`);
      res.flushHeaders();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const informer = resilientInformer<k8s.KubernetesObject>(
      kubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      '/api/v1/namespaces/ns/secrets',
      async () => ({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '8' }, items: null }) as unknown as k8s.KubernetesListObject<k8s.KubernetesObject>,
      { logger, name: 'secrets', metadataOnly: true },
    );
    cleanups.push(() => informer.stop());
    await informer.start();
    expect(informer.synced).toBe(true);
    const deadline = Date.now() + 5_000;
    while (informer.get('creds', 'ns') === undefined && Date.now() < deadline) await tick(5);
    expect(informer.get('creds', 'ns')?.metadata).toEqual({ name: 'creds', namespace: 'ns', resourceVersion: '9' });
    expect(accepts).toEqual(['application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1']);
  });

  it('keeps only name, namespace, resourceVersion, and owners with the labels of an owned object', () => {
    const owner = { apiVersion: 'fledge.dev/v1alpha1', kind: 'Rollout', name: 'api', uid: 'u1' };
    const full = { kind: 'PartialObjectMetadata', metadata: { name: 'a', namespace: 'ns', resourceVersion: '3', uid: 'u2', annotations: { note: 'x' }, labels: { app: 'a' }, creationTimestamp: new Date(0) } };
    expect(trimToMetadata(full)).toEqual({ apiVersion: undefined, kind: 'PartialObjectMetadata', metadata: { name: 'a', namespace: 'ns', resourceVersion: '3' } });
    expect(trimToMetadata({ metadata: { ...full.metadata, ownerReferences: [owner] } }).metadata).toEqual({ name: 'a', namespace: 'ns', resourceVersion: '3', ownerReferences: [owner], labels: { app: 'a' } });
  });
});

describe('waitForCacheSync', () => {
  const fake = (name: string, synced = false): { name: string; synced: boolean } => ({ name, synced });

  it('resolves true only once every informer has synced, and says which ones it waits for', async () => {
    // On the fake clock: a loaded machine stretched a real 10 ms wait past reportEveryMs.
    vi.useFakeTimers();
    const informers = [fake('rollouts', true), fake('replicasets'), fake('services')];
    const reports: string[][] = [];
    let result: boolean | undefined;
    void waitForCacheSync(informers, { pollMs: 5, reportEveryMs: 20, onWaiting: (names) => reports.push(names) }).then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(10);
    expect(reports, 'nothing to say before reportEveryMs').toEqual([]);
    await vi.advanceTimersByTimeAsync(50);
    expect(result).toBeUndefined();
    expect(reports[0]).toEqual(['replicasets', 'services']);
    expect(reports.length).toBeGreaterThanOrEqual(2);
    informers[1]!.synced = true;
    await vi.advanceTimersByTimeAsync(50);
    expect(result).toBeUndefined();
    expect(reports.at(-1)).toEqual(['services']);
    informers[2]!.synced = true;
    await vi.advanceTimersByTimeAsync(20);
    expect(result).toBe(true);
  });

  it('resolves false when stopped before the caches sync', async () => {
    const stopping = new AbortController();
    const waiting = waitForCacheSync([fake('services')], { signal: stopping.signal, pollMs: 60_000 });
    stopping.abort();
    expect(await waiting).toBe(false);
  });

  it('lets a synced controller pass at once', async () => {
    const informers: Array<Pick<ResilientInformer<k8s.KubernetesObject>, 'name' | 'synced'>> = [fake('rollouts', true)];
    expect(await waitForCacheSync(informers)).toBe(true);
  });
});

/** What client-node's list call throws while a new CRD's storage initializes. */
const initializing = new k8s.ApiException(429, 'Unknown API Status Code!', { kind: 'Status', code: 429, message: 'storage is (re)initializing' }, {});
/** What its watch reports for the same answer: only the HTTP status. */
const watchTooMany = Object.assign(new Error('Too Many Requests'), { statusCode: 429 });

describe('informer restart log level', () => {
  it('is debug while a new resource warms up, and a warning once that has lasted the grace period', () => {
    for (const err of [initializing, watchTooMany, new k8s.ApiException(404, 'Not Found', {}, {}), new Error('storage is (re)initializing')]) {
      expect(restartLogLevel(err, 0), String(err)).toBe('debug');
      expect(restartLogLevel(err, WARMUP_GRACE_MS - 1), String(err)).toBe('debug');
      expect(restartLogLevel(err, WARMUP_GRACE_MS), String(err)).toBe('warn');
    }
  });

  it('warns at once about anything else', () => {
    expect(restartLogLevel(new k8s.ApiException(403, 'Forbidden', {}, {}), 0)).toBe('warn');
    expect(restartLogLevel(new k8s.ApiException(500, 'Internal Server Error', {}, {}), 0)).toBe('warn');
    expect(restartLogLevel(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }), 0)).toBe('warn');
    expect(restartLogLevel(undefined, 0)).toBe('warn');
  });

  it('logs the informer retrying through 429s at debug', async () => {
    const lines: Array<{ level: string; msg: string; informer?: string }> = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as (typeof lines)[number]));
    const informer = resilientInformer(new k8s.KubeConfig(), '/apis/fledge.dev/v1alpha1/rollouts', () => Promise.reject(initializing), { logger, name: 'rollouts' });
    await informer.start();
    // The first retry is due after 500 ms, so a second failure proves it retried.
    while (lines.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    await informer.stop();
    expect(lines.slice(0, 2)).toEqual([
      expect.objectContaining({ level: 'debug', msg: 'informer stopped; restarting', informer: 'rollouts' }),
      expect.objectContaining({ level: 'debug', msg: 'informer stopped; restarting', informer: 'rollouts' }),
    ]);
    expect(informer.synced).toBe(false);
  });
});
