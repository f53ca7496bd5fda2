import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBinaries, type BuildTarget } from './build.js';
import { CONTROL_PLANE_CLIENT, NODE_COUNT, NODE_POD_CAPACITY, clusterDir, k8sBinary, kubectlBinary, kwokBinary, podCidr, ports, traefikBinary } from './config.js';
import { GATEWAY, addPodCidr, gatewayManifests, removePodCidr, routerCrds, traefikConfig } from './dataplane.js';
import { HarnessError } from './errors.js';

/** What `up` leaves behind for `down`, for tests, and for a person's shell. */
export interface ClusterState {
  kubeconfig: string;
  prometheusUrl: string;
  /** Prometheus reads scrape targets from JSON files here (file_sd), so a test can add a real endpoint. */
  prometheusTargetsDir: string;
  apiserverUrl: string;
  adminToken: string;
  caFile: string;
  /** Traefik's `web` entrypoint, where the harness Gateway (dataplane.ts GATEWAY) takes requests. */
  gatewayUrl: string;
  /** Traefik's Prometheus metrics; /ping beside it is its health check. */
  traefikMetricsUrl: string;
  /** The pod IP range kwok assigns and `up` made local; `down` removes it from lo. */
  podCidr: string;
  /**
   * A cluster-admin token whose every request the apiserver writes to `auditLog` (one JSON line each, when it is
   * received), so a bench can count a controller's API requests the same way whatever the controller.
   */
  auditedToken: string;
  /**
   * Audited too, each its own user (`fledge-audited-replica-<i>`), so a bench running several replicas of a
   * controller can tell from the audit log which replica sent each request.
   */
  auditedReplicaTokens: string[];
  auditLog: string;
  processes: Array<{ name: string; pid: number; log: string }>;
}

const stateFile = join(clusterDir, 'state.json');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface HttpAnswer {
  status: number;
  body: string;
}

function get(url: string, opts: { ca?: string; token?: string; method?: string; body?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? request : httpRequest;
    const req = send(
      u,
      {
        method: opts.method ?? 'GET',
        ca: opts.ca,
        timeout: 5000,
        headers: {
          ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.body ? { 'Content-Type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

function openssl(args: string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.error) throw new HarnessError('openssl is needed to generate the cluster certificates: apt-get install openssl');
  if (run.status !== 0) throw new HarnessError(`openssl ${args[0]} failed: ${run.stderr}`);
}

/** A CA, a serving certificate for 127.0.0.1/localhost, and the service-account signing key pair. */
function generatePki(dir: string): void {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=fledge-test-ca'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\n' +
      'extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '30', '-extfile', 'server.ext'], dir);
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fledge-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: fledge-test',
    '  context:',
    '    cluster: fledge-test',
    '    user: admin',
    '    namespace: default',
    'current-context: fledge-test',
    '',
  ].join('\n');
}

interface DataPlaneScrape {
  traefikMetricsUrl: string;
  /** HTTP SD with kubernetes_sd's pod labels (pod-discovery.ts). */
  podDiscoveryUrl: string;
}

/**
 * Scrapes itself, the file_sd targets tests register, and with a data plane Traefik and every Ready pod that
 * has a pod-template-hash label and a TCP container port: at <podIP>:<port>/metrics, labelled with its
 * namespace, pod and pod_template_hash as the simulator's synthetic series are. The relabelling is a real
 * cluster's for `kubernetes_sd_configs: [{role: pod}]`; only the discovery differs (see pod-discovery.ts).
 */
export function prometheusConfig(targetsDir: string, dataPlane?: DataPlaneScrape): string {
  const lines = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '- job_name: prometheus',
    '  static_configs:',
    `  - targets: ['127.0.0.1:${ports.prometheus}']`,
    '- job_name: fledge-test',
    '  file_sd_configs:',
    '  - files:',
    `    - ${targetsDir}/*.json`,
    '    refresh_interval: 1s',
  ];
  if (dataPlane) {
    const traefik = new URL(dataPlane.traefikMetricsUrl);
    const hash = '__meta_kubernetes_pod_label_fledge_dev_pod_template_hash';
    lines.push(
      '- job_name: traefik',
      `  metrics_path: ${traefik.pathname}`,
      '  static_configs:',
      `  - targets: ['${traefik.host}']`,
      '- job_name: kubernetes-pods',
      '  http_sd_configs:',
      `  - url: ${dataPlane.podDiscoveryUrl}`,
      '    refresh_interval: 1s',
      '  relabel_configs:',
      // One target per declared TCP port of a regular container of a Ready pod with the label.
      `  - {action: keep, source_labels: [${hash}], regex: .+}`,
      '  - {action: keep, source_labels: [__meta_kubernetes_pod_ready], regex: "true"}',
      '  - {action: keep, source_labels: [__meta_kubernetes_pod_container_init], regex: "false"}',
      '  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_number], regex: .+}',
      '  - {action: keep, source_labels: [__meta_kubernetes_pod_container_port_protocol], regex: TCP}',
      '  - {source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_container_port_number], regex: "(.+);(.+)", target_label: __address__, replacement: "$1:$2"}',
      '  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}',
      '  - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}',
      `  - {source_labels: [${hash}], target_label: pod_template_hash}`,
    );
  }
  return [...lines, ''].join('\n');
}

function tailOf(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

class Launcher {
  readonly processes: ClusterState['processes'] = [];

  constructor(private readonly logDir: string) {}

  start(name: string, binary: string, args: string[], cwd?: string): number {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, 'a');
    // Detached in its own process group so the cluster outlives `npm run cluster:up`.
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], ...(cwd !== undefined && { cwd }) });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new HarnessError(`could not start ${name} (${binary})`);
    this.processes.push({ name, pid: child.pid, log });
    return child.pid;
  }

  /** Polls until `check` passes; fails early, with the log, if the process died. */
  async waitFor(name: string, what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
    const proc = this.processes.find((p) => p.name === name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc && !isAlive(proc.pid)) {
        throw new HarnessError(`${name} exited while waiting for ${what}; last lines of ${proc.log}:\n${tailOf(proc.log)}`);
      }
      if (await check().catch(() => false)) return;
      await sleep(250);
    }
    throw new HarnessError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${proc ? `; see ${proc.log}:\n${tailOf(proc.log)}` : ''}`);
  }
}

async function stopProcesses(processes: ClusterState['processes']): Promise<void> {
  for (const { pid } of [...processes].reverse()) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && processes.some((p) => isAlive(p.pid))) await sleep(100);
  for (const { pid } of processes) {
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

export function readState(): ClusterState | undefined {
  if (!existsSync(stateFile)) return undefined;
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function isHealthy(state: ClusterState): Promise<boolean> {
  if (!state.processes.every((p) => isAlive(p.pid))) return false;
  const prom = await get(`${state.prometheusUrl}/-/ready`).catch(() => undefined);
  if (prom?.status !== 200) return false;
  if (state.traefikMetricsUrl !== '') {
    const ping = await get(new URL('/ping', state.traefikMetricsUrl).href).catch(() => undefined);
    if (ping?.status !== 200) return false;
  }
  if (state.apiserverUrl === '') return true;
  const ca = readFileSync(state.caFile, 'utf8');
  const ready = await get(`${state.apiserverUrl}/readyz`, { ca, token: state.adminToken }).catch(() => undefined);
  return ready?.status === 200;
}

/**
 * Healthy now, or within `ms` while every process lives: a test may stop the shared apiserver (SIGSTOP) for a
 * few seconds, and a run starting meanwhile must wait for it rather than tear the cluster down.
 */
async function isHealthyWithin(state: ClusterState, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await isHealthy(state)) return true;
    if (Date.now() >= deadline || !state.processes.every((p) => isAlive(p.pid))) return false;
    await sleep(1_000);
  }
}

interface FakeNode {
  spec?: { taints?: unknown[] };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

function nodeManifest(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: String(NODE_POD_CAPACITY) },
      capacity: { cpu: '32', memory: '256Gi', pods: String(NODE_POD_CAPACITY) },
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', kubeProxyVersion: 'fake' },
    },
  });
}

async function startKubernetes(
  launcher: Launcher,
  pki: string,
  log: (line: string) => void,
): Promise<KubernetesAccess> {
  generatePki(pki);
  const adminToken = `fledge-admin-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const auditedToken = `fledge-audited-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const auditedReplicaTokens = Array.from({ length: AUDITED_REPLICAS }, (_, i) => `fledge-audited-${i}-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`);
  const replicaUsers = auditedReplicaTokens.map((_, i) => `${AUDITED_USER}-replica-${i}`);
  writeFileSync(
    join(pki, 'tokens.csv'),
    [
      `${adminToken},admin,admin-uid,"system:masters"`,
      `${auditedToken},${AUDITED_USER},audited-uid,"system:masters"`,
      ...auditedReplicaTokens.map((token, i) => `${token},${replicaUsers[i]},audited-replica-${i}-uid,"system:masters"`),
      '',
    ].join('\n'),
  );
  const auditPolicy = join(pki, 'audit-policy.json');
  writeFileSync(auditPolicy, JSON.stringify(auditPolicyFor([AUDITED_USER, ...replicaUsers])));
  const auditLog = join(clusterDir, 'logs', 'audit.jsonl');
  // For Traefik and Prometheus, which read the token from a file rather than a kubeconfig.
  const tokenFile = join(pki, 'admin.token');
  writeFileSync(tokenFile, adminToken, { mode: 0o600 });
  const caFile = join(pki, 'ca.crt');
  const ca = readFileSync(caFile, 'utf8');
  const apiserverUrl = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfig = join(clusterDir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(apiserverUrl, caFile, adminToken), { mode: 0o600 });

  log('starting etcd');
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  launcher.start('etcd', k8sBinary, [
    'etcd',
    '--name=fledge',
    `--data-dir=${join(clusterDir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=fledge=http://127.0.0.1:${ports.etcdPeer}`,
    '--unsafe-no-fsync',
    // Four times the default 2 GiB: room for a 10,000-Rollout bench (20,000 pods, their ReplicaSets, Events and
    // the revisions kept between compactions), since a full quota turns the whole cluster read-only.
    '--quota-backend-bytes=8589934592',
    '--log-level=warn',
  ]);
  await launcher.waitFor('etcd', 'etcd health', async () => (await get(`${etcdUrl}/health`)).status === 200, 30_000);

  log('starting kube-apiserver');
  launcher.start('kube-apiserver', k8sBinary, [
    'kube-apiserver',
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${ports.apiserver}`,
    `--tls-cert-file=${join(pki, 'server.crt')}`,
    `--tls-private-key-file=${join(pki, 'server.key')}`,
    `--client-ca-file=${caFile}`,
    `--token-auth-file=${join(pki, 'tokens.csv')}`,
    '--authorization-mode=Node,RBAC',
    // As on OpenShift: an ownerReference with blockOwnerDeletion needs update on the owner's finalizers.
    '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--allow-privileged=true',
    `--service-account-issuer=${apiserverUrl}`,
    `--service-account-key-file=${join(pki, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
    '--enable-priority-and-fairness=false',
    `--audit-policy-file=${auditPolicy}`,
    `--audit-log-path=${auditLog}`,
    '--audit-log-format=json',
    // Never rotated (the default rotates at 100 MB): the bench counts requests between offsets in this one file.
    '--audit-log-maxsize=100000',
    '--v=0',
  ]);
  await launcher.waitFor('kube-apiserver', 'kube-apiserver /readyz', async () => (await get(`${apiserverUrl}/readyz`, { ca, token: adminToken })).status === 200);

  log('starting kube-controller-manager and kube-scheduler');
  launcher.start('kube-controller-manager', k8sBinary, [
    'kube-controller-manager',
    `--kubeconfig=${kubeconfig}`,
    '--leader-elect=false',
    '--secure-port=0',
    `--service-account-private-key-file=${join(pki, 'sa.key')}`,
    `--root-ca-file=${caFile}`,
    '--use-service-account-credentials=false',
    // No cloud, no real nodes: the node IPAM and lifecycle controllers would only fight kwok.
    '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller',
    `--kube-api-qps=${CONTROL_PLANE_CLIENT.qps}`,
    `--kube-api-burst=${CONTROL_PLANE_CLIENT.burst}`,
    '--concurrent-replicaset-syncs=50',
  ]);
  const schedulerConfig = join(clusterDir, 'kube-scheduler.json');
  writeFileSync(schedulerConfig, JSON.stringify(schedulerConfigFor(kubeconfig)));
  launcher.start('kube-scheduler', k8sBinary, ['kube-scheduler', `--config=${schedulerConfig}`, '--secure-port=0']);

  log('starting kwok and registering fake nodes');
  launcher.start('kwok', kwokBinary, [
    `--kubeconfig=${kubeconfig}`,
    '--manage-all-nodes=true',
    `--server-address=127.0.0.1:${ports.kwok}`,
    '--node-ip=127.0.0.1',
    // Pod IPs from the range up made local, so a simulated pod can listen on its own IP.
    `--cidr=${podCidr}`,
    // Renew node Leases: without them the node lifecycle controller sees kwok's nodes go NotReady every ~50 s
    // and marks every Pod unready, which kwok never undoes, so ReplicaSets lose their ready Pods for good.
    '--node-lease-duration-seconds=40',
    // kwok's own Pod stages plus one that fails an analysis Job's Pod on request (see the file).
    `--config=${kwokStages}`,
  ]);
  for (let i = 0; i < NODE_COUNT; i++) {
    const created = await get(`${apiserverUrl}/api/v1/nodes`, { ca, token: adminToken, method: 'POST', body: nodeManifest(`kwok-node-${i}`) });
    if (created.status !== 201 && created.status !== 409) throw new HarnessError(`creating node kwok-node-${i} failed: ${created.status} ${created.body}`);
  }
  await launcher.waitFor('kwok', `${NODE_COUNT} Ready nodes`, async () => {
    const list = await get(`${apiserverUrl}/api/v1/nodes`, { ca, token: adminToken });
    const nodes = (JSON.parse(list.body) as { items: FakeNode[] }).items;
    // Ready, and the node-lifecycle controller has lifted the not-ready taint, so Pods can schedule.
    const schedulable = nodes.filter(
      (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !(n.spec?.taints ?? []).length,
    );
    return schedulable.length >= NODE_COUNT;
  });

  return { kubeconfig, apiserverUrl, adminToken, caFile, tokenFile, auditedToken, auditedReplicaTokens, auditLog };
}

type KubernetesAccess = Pick<ClusterState, 'kubeconfig' | 'apiserverUrl' | 'adminToken' | 'caFile' | 'auditedToken' | 'auditedReplicaTokens' | 'auditLog'> & { tokenFile: string };

/** The user of ClusterState.auditedToken; nobody else's requests are audited, so the tests pay nothing for it. */
const AUDITED_USER = 'fledge-audited';
/** How many ClusterState.auditedReplicaTokens: the scale-out bench's largest replica count, and one to replace a killed one. */
const AUDITED_REPLICAS = 8;

/** One line per request of `users`, written when the apiserver receives it; nothing for anyone else. */
function auditPolicyFor(users: string[]): object {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['ResponseStarted', 'ResponseComplete', 'Panic'],
    rules: [{ level: 'Metadata', users }, { level: 'None' }],
  };
}

/** The scheduler's client limits belong in a config file (its flags for them are deprecated). */
function schedulerConfigFor(kubeconfig: string): object {
  return {
    apiVersion: 'kubescheduler.config.k8s.io/v1',
    kind: 'KubeSchedulerConfiguration',
    clientConnection: { kubeconfig, ...CONTROL_PLANE_CLIENT },
    leaderElection: { leaderElect: false },
  };
}

/** Runs the harness's kubectl; fails with its output. */
function kubectl(kube: KubernetesAccess, args: string[], input?: string): void {
  const run = spawnSync(kubectlBinary, ['--kubeconfig', kube.kubeconfig, ...args], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error || run.status !== 0) throw new HarnessError(`kubectl ${args.slice(0, 2).join(' ')} failed: ${run.error?.message ?? run.stderr.trim()}`);
}

/** Server-side apply, so applying the same objects again changes nothing. */
function apply(kube: KubernetesAccess, objects: object[]): void {
  kubectl(kube, ['apply', '--server-side', '--force-conflicts', '--field-manager=fledge-harness', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

interface Conditions {
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/**
 * Installs the CRDs of every traffic router Fledge drives (Gateway API, Traefik, Istio), starts Traefik on them,
 * and creates the shared Gateway it serves on ports.gateway.
 */
async function startDataPlane(
  launcher: Launcher,
  kube: KubernetesAccess,
  log: (line: string) => void,
): Promise<Pick<ClusterState, 'gatewayUrl' | 'traefikMetricsUrl'> & { podDiscoveryUrl: string }> {
  // First, so that its Node start-up overlaps the CRD installation.
  // `--import tsx` resolves from the working directory: the repository's, wherever the harness was started from
  // (vitest's module runner has no import.meta.resolve).
  launcher.start('pod-discovery', process.execPath, ['--import', 'tsx', podDiscoveryCli, '--kubeconfig', kube.kubeconfig, '--port', String(ports.podDiscovery)], repoRoot);

  log('installing the Gateway API, Traefik and Istio CRDs');
  const crds = await routerCrds();
  apply(kube, crds);
  kubectl(kube, ['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((crd) => `crd/${crd.metadata.name}`)]);

  log('starting traefik');
  const traefikDir = join(clusterDir, 'traefik');
  mkdirSync(traefikDir, { recursive: true });
  writeFileSync(join(traefikDir, 'traefik.yml'), traefikConfig(kube));
  launcher.start('traefik', traefikBinary, [`--configFile=${join(traefikDir, 'traefik.yml')}`]);
  const traefikMetricsUrl = `http://127.0.0.1:${ports.traefik}/metrics`;
  await launcher.waitFor('traefik', 'Traefik /ping', async () => (await get(`http://127.0.0.1:${ports.traefik}/ping`)).status === 200, 30_000);

  apply(kube, gatewayManifests());
  const ca = readFileSync(kube.caFile, 'utf8');
  const gatewayPath = `/apis/gateway.networking.k8s.io/v1/namespaces/${GATEWAY.namespace}/gateways/${GATEWAY.name}`;
  await launcher.waitFor('traefik', `Gateway ${GATEWAY.namespace}/${GATEWAY.name} Programmed by Traefik`, async () => {
    const gateway = JSON.parse((await get(`${kube.apiserverUrl}${gatewayPath}`, { ca, token: kube.adminToken })).body) as Conditions;
    return ['Accepted', 'Programmed'].every((type) => gateway.status?.conditions?.some((c) => c.type === type && c.status === 'True'));
  }, 60_000);

  const podDiscoveryUrl = `http://127.0.0.1:${ports.podDiscovery}/targets`;
  await launcher.waitFor('pod-discovery', 'pod discovery /targets', async () => (await get(podDiscoveryUrl)).status === 200, 30_000);
  return { gatewayUrl: `http://127.0.0.1:${ports.gateway}`, traefikMetricsUrl, podDiscoveryUrl };
}

const kwokStages = fileURLToPath(new URL('kwok-stages.yaml', import.meta.url));
const podDiscoveryCli = fileURLToPath(new URL('pod-discovery-cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (fake nodes), Traefik (with the
 * router CRDs and a Gateway) and Prometheus on loopback, with the pod IP range made local. Reuses a healthy running cluster; on any failure stops whatever it started and removes its data.
 * `buildFor` says who needs the cluster, which decides what is built when the cache lacks it.
 */
export async function up(
  log: (line: string) => void,
  { withKubernetes = true, buildFor = 'cluster' }: { withKubernetes?: boolean; buildFor?: BuildTarget } = {},
): Promise<ClusterState & { reused: boolean }> {
  const existing = readState();
  if (existing) {
    // A cluster from before the data plane (no gatewayUrl) or the audited users is restarted rather than reused.
    const fits = withKubernetes ? existing.apiserverUrl !== '' && Boolean(existing.gatewayUrl) && (existing.auditedReplicaTokens ?? []).length > 0 : existing.apiserverUrl === '';
    if (fits && (await isHealthyWithin(existing, 40_000))) {
      // A person may have removed the address (or rebooted, which kills the cluster anyway).
      if (existing.podCidr) addPodCidr(existing.podCidr);
      // The cluster may have been started for someone who needs less (the demo, then the bench needs Argo Rollouts).
      if (withKubernetes) await ensureBinaries(buildFor, log);
      log(`reusing the running cluster in ${clusterDir}`);
      return { ...existing, reused: true };
    }
    log('a previous cluster is only partly running; stopping it and starting afresh');
    await down(() => {});
  }

  const needed = withKubernetes ? Object.entries(ports) : [['prometheus', ports.prometheus] as const];
  for (const [name, port] of needed) {
    if (!(await portFree(port))) {
      throw new HarnessError(
        `port ${port} on 127.0.0.1 (for ${name}) is in use. Stop what holds it (\`ss -ltnp 'sport = :${port}'\` shows it), ` +
          'or choose another range with FLEDGE_CLUSTER_PORT_BASE=<port> (it uses that port and the next ten).',
      );
    }
  }
  if (spawnSync('prometheus', ['--version']).error) {
    throw new HarnessError('prometheus is not installed: apt-get install prometheus (Debian package)');
  }

  if (withKubernetes) {
    // Before the build, so a missing permission shows at once rather than after minutes of compiling.
    addPodCidr(podCidr);
    await ensureBinaries(buildFor, log).catch((err: unknown) => {
      removePodCidr(podCidr);
      throw err;
    });
  }

  rmSync(clusterDir, { recursive: true, force: true });
  const pki = join(clusterDir, 'pki');
  const logs = join(clusterDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const launcher = new Launcher(logs);
  try {
    let kube = { kubeconfig: '', apiserverUrl: '', adminToken: '', caFile: '', auditedToken: '', auditedReplicaTokens: [] as string[], auditLog: '' };
    let dataPlane = { gatewayUrl: '', traefikMetricsUrl: '', podCidr: '' };
    let scrape: DataPlaneScrape | undefined;
    if (withKubernetes) {
      const access = await startKubernetes(launcher, pki, log);
      const started = Date.now();
      const { podDiscoveryUrl, ...served } = await startDataPlane(launcher, access, log);
      dataPlane = { ...served, podCidr };
      log(`data plane ready in ${Math.round((Date.now() - started) / 1000)} s: Gateway ${GATEWAY.namespace}/${GATEWAY.name} at ${dataPlane.gatewayUrl}`);
      kube = {
        kubeconfig: access.kubeconfig,
        apiserverUrl: access.apiserverUrl,
        adminToken: access.adminToken,
        caFile: access.caFile,
        auditedToken: access.auditedToken,
        auditedReplicaTokens: access.auditedReplicaTokens,
        auditLog: access.auditLog,
      };
      scrape = { traefikMetricsUrl: dataPlane.traefikMetricsUrl, podDiscoveryUrl };
    }
    log('starting prometheus');
    const promDir = join(clusterDir, 'prometheus');
    const prometheusTargetsDir = join(promDir, 'targets');
    mkdirSync(prometheusTargetsDir, { recursive: true });
    writeFileSync(join(promDir, 'prometheus.yml'), prometheusConfig(prometheusTargetsDir, scrape));
    const prometheusUrl = `http://127.0.0.1:${ports.prometheus}`;
    launcher.start('prometheus', 'prometheus', [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${ports.prometheus}`,
      '--storage.tsdb.retention.time=2h',
      '--web.enable-lifecycle',
    ]);
    await launcher.waitFor('prometheus', 'Prometheus /-/ready', async () => (await get(`${prometheusUrl}/-/ready`)).status === 200, 60_000);

    const state: ClusterState = { ...kube, ...dataPlane, prometheusUrl, prometheusTargetsDir, processes: launcher.processes };
    writeFileSync(stateFile, JSON.stringify(state, null, 2));
    return { ...state, reused: false };
  } catch (err) {
    await stopProcesses(launcher.processes);
    if (withKubernetes) removePodCidr(podCidr);
    rmSync(clusterDir, { recursive: true, force: true });
    throw err;
  }
}

/** Stops every process `up` started (by pid) and removes the cluster's data. */
export async function down(log: (line: string) => void): Promise<void> {
  const state = readState();
  if (state) {
    await stopProcesses(state.processes);
    log(`stopped ${state.processes.map((p) => p.name).join(', ')}`);
    const kept = state.podCidr ? removePodCidr(state.podCidr) : undefined;
    if (kept !== undefined) log(`the pod IP range ${state.podCidr} stays on lo: ${kept}`);
  } else {
    log('no cluster is running');
  }
  rmSync(clusterDir, { recursive: true, force: true });
}
