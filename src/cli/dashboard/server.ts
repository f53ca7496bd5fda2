import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { GROUP, DeclaredRollout, VERSION } from '../../api/rollout.js';
import { apiErrorMessage } from '../../kube/patch.js';
import { LABEL_ROLLOUT, rolloutLabelValue } from '../../api/labels.js';
import { backtestRollout } from '../backtest.js';
import { CliError, type FledgeClient, type RolloutObjects } from '../client.js';
import type { AnalysisRunObject } from '../view.js';
import { FrameThrottle } from '../watch.js';
import { allowedHosts, newToken, refusal, TOKEN_HEADER } from './guard.js';
import { ACTIONS, backtestPanel, isActionName, rolloutPage, rolloutRows } from './page-data.js';

/** From src/cli/dashboard and dist/cli/dashboard alike: the package root, then the page's files in the source tree. */
const STATIC_DIR = new URL('../../../src/cli/dashboard/static/', import.meta.url);
const STATIC_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/plot.js': 'plot.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };
/** How many past runs the backtest panel replays: the command's --last default. */
const BACKTEST_LAST = 10;
/** A comment on idle event streams, so proxies and the browser keep them open. */
const KEEPALIVE_MS = 25_000;

type Informer<T extends k8s.KubernetesObject> = k8s.Informer<T> & k8s.ObjectCache<T>;

/**
 * Three watches, whatever the number of Rollouts or open pages: Rollouts, their ReplicaSets and their
 * AnalysisRuns in the namespace (or all namespaces). Pages are served from these caches, never by a request of their own.
 */
class Caches {
  readonly rollouts: Informer<k8s.KubernetesObject>;
  readonly replicaSets: Informer<k8s.V1ReplicaSet>;
  readonly runs: Informer<k8s.KubernetesObject>;
  private readonly listeners = new Set<() => void>();

  constructor(
    client: FledgeClient,
    private readonly namespace: string | undefined,
  ) {
    const { kc } = client.target;
    const scope = namespace === undefined ? '' : `/namespaces/${namespace}`;
    const custom = (plural: string, labelSelector?: string) => () =>
      (namespace === undefined
        ? client.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural, ...(labelSelector && { labelSelector }) })
        : client.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural, ...(labelSelector && { labelSelector }) })) as Promise<
        k8s.KubernetesListObject<k8s.KubernetesObject>
      >;
    this.rollouts = k8s.makeInformer(kc, `/apis/${GROUP}/${VERSION}${scope}/rollouts`, custom('rollouts'));
    this.replicaSets = k8s.makeInformer(
      kc,
      `/apis/apps/v1${scope}/replicasets`,
      () =>
        namespace === undefined
          ? client.apps.listReplicaSetForAllNamespaces({ labelSelector: LABEL_ROLLOUT })
          : client.apps.listNamespacedReplicaSet({ namespace, labelSelector: LABEL_ROLLOUT }),
      LABEL_ROLLOUT,
    );
    this.runs = k8s.makeInformer(kc, `/apis/${GROUP}/${VERSION}${scope}/analysisruns`, custom('analysisruns', LABEL_ROLLOUT), LABEL_ROLLOUT);
  }

  private get all(): Array<Informer<k8s.KubernetesObject>> {
    return [this.rollouts, this.replicaSets, this.runs] as Array<Informer<k8s.KubernetesObject>>;
  }

  async start(): Promise<void> {
    for (const informer of this.all) {
      for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) informer.on(verb, () => this.changed());
      // A watch that ends on an error is started again: the dashboard outlives apiserver hiccups.
      informer.on(k8s.ERROR, () => setTimeout(() => void informer.start().catch(() => undefined), 1000));
    }
    await Promise.all(this.all.map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all.map((informer) => informer.stop()));
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  rolloutList(): DeclaredRollout[] {
    return this.rollouts.list(this.namespace).flatMap((raw) => {
      const parsed = DeclaredRollout.safeParse(raw);
      return parsed.success ? [parsed.data] : [];
    });
  }

  objects(namespace: string, name: string): RolloutObjects | undefined {
    const raw = this.rollouts.get(name, namespace);
    const parsed = raw === undefined ? undefined : DeclaredRollout.safeParse(raw);
    if (parsed === undefined || !parsed.success) return undefined;
    const uid = parsed.data.metadata.uid;
    const label = rolloutLabelValue(name);
    return {
      rollout: parsed.data,
      replicaSets: this.replicaSets.list(namespace).filter((rs) => rs.metadata?.ownerReferences?.some((owner) => owner.uid === uid)),
      // Pods are not watched: a watch on every Pod of the namespace costs more than the page gains; ReplicaSets count readiness.
      pods: [],
      analysisRuns: this.runs.list(namespace).filter((run) => run.metadata?.labels?.[LABEL_ROLLOUT] === label) as AnalysisRunObject[],
    };
  }
}

export interface DashboardOptions {
  client: FledgeClient;
  /** undefined: all namespaces. */
  namespace: string | undefined;
  address: string;
  /** 0 picks a free port. */
  port: number;
  /** For the backtest panel: Prometheus when a template's provider names no address (backtest's --prometheus-address). */
  prometheusAddress?: string | undefined;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function statusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 502;
}

/** What every request is served from; `hosts` is known once the server listens (port 0 picks one). */
interface Site {
  client: FledgeClient;
  caches: Caches;
  options: DashboardOptions;
  token: string;
  hosts: Set<string>;
}

/** The event stream of one page: the list, and the selected rollout, sent again whenever the caches change. */
function stream(site: Site, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const { caches } = site;
  const selected = url.searchParams.get('rollout')?.split('/');
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const send = (): void => {
    res.write(`event: list\ndata: ${JSON.stringify({ namespace: site.options.namespace ?? null, rows: rolloutRows(caches.rolloutList()) })}\n\n`);
    if (selected?.length === 2) {
      const objects = caches.objects(selected[0] as string, selected[1] as string);
      res.write(`event: rollout\ndata: ${JSON.stringify(objects === undefined ? null : rolloutPage(objects))}\n\n`);
    }
  };
  const throttle = new FrameThrottle(send);
  const unsubscribe = caches.onChange(() => throttle.changed());
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  send();
  req.on('close', () => {
    unsubscribe();
    throttle.cancel();
    clearInterval(keepalive);
  });
}

/** A button's POST. */
async function act(site: Site, res: ServerResponse, namespace: string, name: string, action: string): Promise<void> {
  if (!isActionName(action)) return sendJson(res, 404, { message: `no action ${action}` });
  if (site.caches.rollouts.get(name, namespace) === undefined) return sendJson(res, 404, { message: `rollout ${namespace}/${name} is not listed by this dashboard` });
  try {
    // The same as the command: read the Rollout, plan from what it says, then one merge patch.
    const rollout = await site.client.getRollout(name, namespace);
    const plan = ACTIONS[action](rollout);
    if (plan.kind === 'refuse') return sendJson(res, 409, { message: `refused: ${plan.message}` });
    await site.client.patchRollout(name, plan.subresource, plan.patch, namespace);
    sendJson(res, 200, { message: plan.done });
  } catch (err) {
    sendJson(res, statusOf(err), { message: apiErrorMessage(err) });
  }
}

/** The backtest panel of one rollout. */
async function backtest(site: Site, res: ServerResponse, namespace: string, name: string): Promise<void> {
  if (site.caches.rollouts.get(name, namespace) === undefined) return sendJson(res, 404, { message: `rollout ${namespace}/${name} is not listed by this dashboard` });
  try {
    const result = await backtestRollout(site.client, name, { namespace, given: new Map(), last: BACKTEST_LAST, prometheusAddress: site.options.prometheusAddress, nowMs: Date.now() });
    sendJson(res, 200, backtestPanel(result));
  } catch (err) {
    if (err instanceof CliError) return sendJson(res, 422, { message: err.message });
    sendJson(res, statusOf(err), { message: apiErrorMessage(err) });
  }
}

/** The page's own files, the token written into the page. */
function serveStatic(site: Site, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const file = STATIC_FILES[url.pathname];
  if (req.method !== 'GET' || file === undefined) return sendJson(res, 404, { message: `no ${req.method} ${url.pathname}` });
  void readFile(new URL(file, STATIC_DIR), 'utf8').then((text) => {
    res.writeHead(200, {
      'content-type': TYPES[file.split('.').pop() ?? ''] ?? 'text/plain',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    res.end(file === 'index.html' ? text.replace('%TOKEN%', site.token) : text);
  });
}

/** Refuses what the guard refuses, then routes the request. */
function handle(site: Site, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  const why = refusal(
    {
      method: req.method ?? 'GET',
      host: req.headers.host,
      origin: req.headers.origin,
      token: typeof req.headers[TOKEN_HEADER] === 'string' ? req.headers[TOKEN_HEADER] : undefined,
      costly: url.pathname === '/api/backtest',
    },
    site.hosts,
    site.token,
  );
  if (why !== undefined) return sendJson(res, 403, { message: why });
  const action = /^\/api\/rollouts\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (req.method === 'POST' && action !== null) {
    void act(site, res, decodeURIComponent(action[1] as string), decodeURIComponent(action[2] as string), action[3] as string);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/api/stream') return stream(site, req, res, url);
  if (req.method === 'GET' && url.pathname === '/api/backtest') {
    void backtest(site, res, url.searchParams.get('namespace') ?? '', url.searchParams.get('rollout') ?? '');
    return;
  }
  // Browsers ask for one whatever the page says; "no content" keeps their consoles free of a 404.
  if (url.pathname === '/favicon.ico') return void res.writeHead(204).end();
  serveStatic(site, req, res, url);
}

/** Serves the page, its event stream and the buttons' POSTs on one address; returns once the caches have listed. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { client } = options;
  const caches = new Caches(client, options.namespace);
  await caches.start();
  const site: Site = { client, caches, options, token: newToken(), hosts: new Set() };
  const server = createServer((req, res) => handle(site, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  site.hosts = allowedHosts(options.address, port);
  const host = options.address.includes(':') ? `[${options.address}]` : options.address;
  return {
    url: `http://${host}:${port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await caches.stop();
    },
  };
}
