import { request, Agent } from 'node:http';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { podCidr } from '../harness/config.js';
import { GATEWAY } from '../harness/dataplane.js';
import { createTestNamespace, eventually, kubectl, prometheusUrl, testKubeConfig } from '../harness/e2e.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

const log = (line: string): void => void process.stderr.write(`dataplane e2e: ${line}\n`);

interface Reply {
  status: number;
  /** The X-Fledge-Version header. */
  header: string | undefined;
  body: { version?: string; pod?: string; hash?: string };
}

// Keep-alive, as a real client would: a new connection per request would measure connection setup, not routing.
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One GET through the harness Gateway, with the Host the route matches. */
function send(host: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(inject('gatewayUrl'), { agent, headers: { Host: host, ...headers }, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        let body: Reply['body'] = {};
        try {
          body = JSON.parse(text) as Reply['body'];
        } catch {
          body = {};
        }
        const header = res.headers['x-fledge-version'];
        resolve({ status: res.statusCode ?? 0, header: Array.isArray(header) ? header[0] : header, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer from the gateway in 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/** `count` requests, `concurrency` at a time. */
async function sendMany(count: number, host: string, headers: Record<string, string> = {}, concurrency = 16): Promise<Reply[]> {
  const replies: Reply[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        replies.push(await send(host, headers));
      }
    }),
  );
  return replies;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string): Promise<Sample[]> {
  const res = await axios.get<{ status: string; data: { result: Sample[] } }>(`${prometheusUrl()}/api/v1/query`, { params: { query: promql } });
  expect(res.data.status).toBe('success');
  return res.data.data.result;
}

/** Whether an IPv4 address lies in a CIDR range. */
function inCidr(ip: string, cidr: string): boolean {
  const toInt = (a: string): number => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

const STABLE = { hash: 'dp-stable', image: 'demo:v1', version: 'v1' };
const CANARY = { hash: 'dp-canary', image: 'demo:v2', version: 'v2' };

// FLEDGE_TEST_KUBECONFIG's cluster has no harness Gateway nor router CRDs, and its pod IPs are not on this machine.
const external = inject('gatewayUrl') === '';

describe.skipIf(external)('the harness data plane: Traefik routes real requests to simulated pods', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let simulator: Simulator;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let host: string;
  /** Requests each version answered, by pod-template-hash, as the replies said. */
  const served = new Map<string, number>();
  const count = (replies: Reply[]): void => {
    for (const reply of replies) served.set(reply.body.hash ?? '?', (served.get(reply.body.hash ?? '?') ?? 0) + 1);
  };

  const replicaSet = (name: string, version: typeof STABLE, replicas = 2): k8s.V1ReplicaSet => {
    const labels = { app: 'dp', 'fledge.dev/pod-template-hash': version.hash };
    return {
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{ name: 'app', image: version.image, ports: [{ containerPort: 8080 }] }],
            // One pod per fake node, so the test sees kwok assign addresses on both.
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }],
          },
        },
      },
    };
  };
  const service = (name: string, hash: string): k8s.V1Service => ({
    metadata: { name },
    spec: { selector: { app: 'dp', 'fledge.dev/pod-template-hash': hash }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  const readyPods = async (hash: string): Promise<k8s.V1Pod[]> =>
    (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `fledge.dev/pod-template-hash=${hash}` })).items.filter(
      (pod) => pod.metadata?.deletionTimestamp == null && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );

  beforeAll(async () => {
    ns = await createTestNamespace('dataplane');
    host = `shop.${ns.name}.test`;
    const kc = testKubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir'), requestsPerSecond: 0 });
    await apps.createNamespacedReplicaSet({ namespace: ns.name, body: replicaSet('stable', STABLE) });
    await apps.createNamespacedReplicaSet({ namespace: ns.name, body: replicaSet('canary', CANARY) });
    await core.createNamespacedService({ namespace: ns.name, body: service('stable', STABLE.hash) });
    await core.createNamespacedService({ namespace: ns.name, body: service('canary', CANARY.hash) });
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'shop', namespace: ns.name },
      spec: {
        parentRefs: [{ name: GATEWAY.name, namespace: GATEWAY.namespace, sectionName: GATEWAY.listener }],
        hostnames: [host],
        rules: [
          { matches: [{ headers: [{ name: 'X-Canary', value: 'always' }] }], backendRefs: [{ name: 'canary', port: 80 }] },
          {
            backendRefs: [
              { name: 'stable', port: 80, weight: 80 },
              { name: 'canary', port: 80, weight: 20 },
            ],
          },
        ],
      },
    };
    const created = await kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(route) });
    if (created.code !== 0) throw new Error(`creating the HTTPRoute failed: ${created.stderr}`);
  });
  afterAll(async () => {
    await simulator?.stop();
    await ns?.remove();
    agent.destroy();
  });

  it('gives pods distinct IPs from the pod range on both nodes, and their Services endpoints at those IPs', async () => {
    const pods = await eventually('2 Ready pods of each version', async () => {
      const all = [...(await readyPods(STABLE.hash)), ...(await readyPods(CANARY.hash))];
      return all.length === 4 ? all : undefined;
    });
    const ips = pods.map((pod) => pod.status?.podIP ?? '');
    log(`pod IPs ${pods.map((pod) => `${pod.metadata?.name}=${pod.status?.podIP}@${pod.spec?.nodeName}`).join(', ')}`);
    for (const ip of ips) expect(inCidr(ip, podCidr), `${ip} in ${podCidr}`).toBe(true);
    expect(new Set(ips).size).toBe(4);
    expect(new Set(pods.map((pod) => pod.spec?.nodeName))).toEqual(new Set(['kwok-node-0', 'kwok-node-1']));

    const discovery = testKubeConfig().makeApiClient(k8s.DiscoveryV1Api);
    for (const [name, hash] of [['canary', CANARY.hash], ['stable', STABLE.hash]] as const) {
      const want = pods.filter((pod) => pod.metadata?.labels?.['fledge.dev/pod-template-hash'] === hash).map((pod) => pod.status?.podIP ?? '');
      const addresses = await eventually(`the ${name} EndpointSlice to list its pods' IPs`, async () => {
        const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns.name, labelSelector: `kubernetes.io/service-name=${name}` });
        const ready = slices.items.flatMap((slice) => slice.endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses));
        return ready.length === 2 ? ready : undefined;
      });
      expect(addresses.sort()).toEqual(want.sort());
    }
  });

  it('splits traffic 80/20 by the HTTPRoute weights, and sends every X-Canary: always request to v2', async () => {
    // Until Traefik has the route (and the simulator the pods), the gateway answers 404 or 502.
    const probedAt = Date.now();
    // Every pod, not only both versions: on a loaded machine Traefik can serve a Service before it has all of its
    // endpoints, and a pod it has not yet seen would get none of the 1000 requests below.
    await eventually('all four pods answering through the gateway', async () => {
      const replies = await sendMany(40, host);
      count(replies);
      return replies.every((r) => r.status === 200) && new Set(replies.map((r) => r.body.pod)).size === 4 ? true : undefined;
    });
    log(`the route served all four pods ${Date.now() - probedAt} ms after the first probe (the pods were Ready before it)`);

    const n = 1000;
    const started = Date.now();
    const replies = await sendMany(n, host);
    log(`${n} requests in ${Date.now() - started} ms`);
    count(replies);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    for (const reply of replies) {
      expect(reply.header).toBe(reply.body.version);
      expect(reply.body.pod).toMatch(reply.body.version === CANARY.version ? /^canary-/ : /^stable-/);
    }
    const canary = replies.filter((r) => r.body.version === CANARY.version).length;
    const stable = replies.filter((r) => r.body.version === STABLE.version).length;
    expect(canary + stable).toBe(n);
    const p = 0.2;
    const tolerance = 4.5 * Math.sqrt(n * p * (1 - p));
    log(`canary share ${(canary / n).toFixed(4)} (expected ${p} ± ${(tolerance / n).toFixed(4)})`);
    expect(Math.abs(canary - n * p)).toBeLessThanOrEqual(tolerance);
    // Each Service balances over both of its pods.
    expect(new Set(replies.map((r) => r.body.pod)).size).toBe(4);

    const pinned = await sendMany(100, host, { 'X-Canary': 'always' });
    count(pinned);
    expect(pinned.map((r) => `${r.status} ${r.body.version}`)).toEqual(Array.from({ length: 100 }, () => `200 ${CANARY.version}`));
  });

  it('sends everything to v2 once the weights are 0/100, as soon as Traefik has the change', async () => {
    const patched = await kubectl([
      'patch', 'httproute', 'shop', '-n', ns.name, '--type=json',
      '-p', JSON.stringify([
        { op: 'replace', path: '/spec/rules/1/backendRefs/0/weight', value: 0 },
        { op: 'replace', path: '/spec/rules/1/backendRefs/1/weight', value: 100 },
      ]),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const patchedAt = Date.now();
    // Sequential probes, so the time is that of the first request after the change took effect.
    await eventually('every request answered by v2', async () => {
      const replies = await sendMany(10, host, {}, 1);
      count(replies);
      return replies.every((r) => r.body.version === CANARY.version) ? true : undefined;
    }, { intervalMs: 50 });
    log(`Traefik applied the route change ${Date.now() - patchedAt} ms after the patch`);

    const replies = await sendMany(300, host);
    count(replies);
    expect(replies.map((r) => `${r.status} ${r.body.version}`)).toEqual(Array.from({ length: 300 }, () => `200 ${CANARY.version}`));
  });

  it("gives Prometheus Traefik's per-service counters and the pods' own, found by pod discovery", async () => {
    const traefikService = `${ns.name}-canary-http-80@kubernetesgateway`;
    const canarySeen = await eventually(`traefik_service_requests_total for ${traefikService}`, async () => {
      const samples = await query(`sum(traefik_service_requests_total{service="${traefikService}",code="200"})`);
      const value = Number(samples[0]?.value[1] ?? 0);
      return value >= (served.get(CANARY.hash) ?? 0) ? value : undefined;
    });
    log(`Traefik counted ${canarySeen} requests to the canary Service (the replies say ${served.get(CANARY.hash)})`);
    expect(canarySeen).toBe(served.get(CANARY.hash));

    // What each pod served, as Prometheus scraped it from the pod's own /metrics at <podIP>:8080.
    for (const version of [STABLE, CANARY]) {
      const total = await eventually(`http_requests_total of the ${version.version} pods`, async () => {
        const samples = await query(`sum(http_requests_total{job="kubernetes-pods",namespace="${ns.name}",pod_template_hash="${version.hash}"})`);
        const value = Number(samples[0]?.value[1] ?? Number.NaN);
        return value === served.get(version.hash) ? value : undefined;
      });
      expect(total).toBe(served.get(version.hash));
    }
    const series = await query(`http_requests_total{job="kubernetes-pods",namespace="${ns.name}"}`);
    const pods = (await Promise.all([readyPods(STABLE.hash), readyPods(CANARY.hash)])).flat();
    expect(new Set(series.map((s) => s.metric.pod))).toEqual(new Set(pods.map((pod) => pod.metadata?.name)));
    for (const s of series) {
      const pod = pods.find((p) => p.metadata?.name === s.metric.pod);
      expect(s.metric.pod_template_hash).toBe(pod?.metadata?.labels?.['fledge.dev/pod-template-hash']);
      expect(s.metric.instance).toBe(`${pod?.status?.podIP}:8080`);
    }
  });

  it('discovers a new pod in Prometheus within seconds of it turning Ready', async () => {
    const before = new Set((await readyPods(CANARY.hash)).map((pod) => pod.metadata?.name));
    await apps.patchNamespacedReplicaSetScale(
      { namespace: ns.name, name: 'canary', body: { spec: { replicas: 3 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const added = await eventually('a third Ready canary pod', async () => (await readyPods(CANARY.hash)).find((pod) => !before.has(pod.metadata?.name)));
    const readyAt = Date.now();
    const name = added.metadata?.name ?? '';
    await eventually(`up{pod="${name}"} == 1`, async () => ((await query(`up{job="kubernetes-pods",pod="${name}"} == 1`)).length === 1 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    log(`Prometheus scraped the new pod ${Date.now() - readyAt} ms after it was Ready`);
  });
});

describe.skipIf(external)('the router CRDs the harness installs', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  beforeAll(async () => {
    ns = await createTestNamespace('router-crds');
  });
  afterAll(async () => {
    await ns.remove();
  });

  const apply = async (object: object): Promise<void> => {
    const applied = await kubectl(['apply', '--server-side', '-n', ns.name, '-f', '-'], { input: JSON.stringify(object) });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const read = async (resource: string, name: string, path: string): Promise<unknown> => {
    const got = await kubectl(['get', resource, name, '-n', ns.name, '-o', `jsonpath={${path}}`]);
    expect(got.code, got.stderr).toBe(0);
    return JSON.parse(got.stdout);
  };

  it('accepts a weighted TraefikService, and refuses one whose weight is not a number', async () => {
    const services = [
      { name: 'stable', port: 80, weight: 90 },
      { name: 'canary', port: 80, weight: 10 },
    ];
    await apply({ apiVersion: 'traefik.io/v1alpha1', kind: 'TraefikService', metadata: { name: 'shop' }, spec: { weighted: { services } } });
    expect(await read('traefikservices.traefik.io', 'shop', '.spec.weighted.services')).toEqual(services);

    const refused = await kubectl(['apply', '--server-side', '-n', ns.name, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'TraefikService', metadata: { name: 'bad' }, spec: { weighted: { services: [{ name: 'x', weight: 'lots' }] } } }),
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/weight/);
  });

  it('accepts an Istio VirtualService with weighted routes and a DestinationRule with subsets', async () => {
    const route = [
      { destination: { host: 'shop', subset: 'stable' }, weight: 75 },
      { destination: { host: 'shop', subset: 'canary' }, weight: 25 },
    ];
    await apply({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'shop' }, spec: { hosts: ['shop'], http: [{ name: 'primary', route }] } });
    expect(await read('virtualservices.networking.istio.io', 'shop', '.spec.http[0].route')).toEqual(route);

    const subsets = [
      { name: 'stable', labels: { 'fledge.dev/pod-template-hash': 'aaa' } },
      { name: 'canary', labels: { 'fledge.dev/pod-template-hash': 'bbb' } },
    ];
    await apply({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'shop' }, spec: { host: 'shop', subsets } });
    expect(await read('destinationrules.networking.istio.io', 'shop', '.spec.subsets')).toEqual(subsets);
  });

  it('accepts an NGINX canary Ingress', async () => {
    const annotations = { 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': '30' };
    await apply({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'shop-canary', annotations },
      spec: {
        ingressClassName: 'nginx',
        rules: [{ host: 'shop.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'canary', port: { number: 80 } } } }] } }],
      },
    });
    expect(await read('ingresses.networking.k8s.io', 'shop-canary', '.metadata.annotations')).toMatchObject(annotations);
  });
});
