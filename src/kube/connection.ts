import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * An answer from the apiserver other than 2xx. `code` and `body` (as sent: usually a Status object's JSON) are
 * where client-node's ApiException had them, so isConflict, apiErrorMessage and the informer's log level read both.
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    request: string,
  ) {
    super(`${request}: ${code} ${http.STATUS_CODES[code] ?? ''}${statusMessage(body)}`);
    this.name = 'KubeApiError';
  }
}

function statusMessage(body: string): string {
  try {
    const { message } = JSON.parse(body) as { message?: unknown };
    return typeof message === 'string' ? `: ${message}` : '';
  } catch {
    return body === '' ? '' : `: ${body.slice(0, 200)}`;
  }
}

export interface SendOptions {
  method: string;
  /** From the server's root, query included: the kubeconfig's server URL is prefixed as written (it may have a path). */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** How many differently configured agents are kept: one, unless client certificates rotate. */
const MAX_AGENTS = 4;

/** The TLS settings that make two agents interchangeable: the same server name, trust and client identity. */
function agentKey(agent: http.Agent): string {
  const options = (agent as http.Agent & { options: https.AgentOptions }).options;
  const hash = createHash('sha256').update(agent instanceof https.Agent ? 'https' : 'http');
  for (const value of [options.ca, options.cert, options.key, options.pfx, options.passphrase, options.servername, options.rejectUnauthorized]) {
    hash.update(JSON.stringify(value === undefined ? null : Buffer.isBuffer(value) ? value.toString('base64') : value)).update('\0');
  }
  return hash.digest('hex');
}

/**
 * Requests to the apiserver of a kubeconfig's current context, with its credentials and kept-alive connections.
 * client-node's KubeConfig still does the authentication (tokens and token files, client certificates, exec and
 * auth-provider plugins, proxies) and is asked again for every request, so a rotating token is always current; the
 * agent it makes is swapped for a kept one with the same TLS settings, as a new agent per request cost a TLS
 * handshake each time (a third of the controller's CPU while it updated 100 Rollouts). Proxy agents are used as made.
 */
export class KubeConnection {
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly kc: KubeConfig) {}

  /** Sends one request; resolves with the response as soon as its headers arrive, whatever its status. */
  async send({ method, path, headers, body, signal }: SendOptions): Promise<http.IncomingMessage> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const auth: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    const url = new URL(cluster.server + path);
    const send = url.protocol === 'https:' ? https.request : http.request;
    const request = send(url, {
      method,
      agent: this.kept(auth.agent),
      // Node sends a DELETE's body neither chunked nor with a length unless told: the server would read it as the next request.
      headers: { ...auth.headers, ...headers, ...(body !== undefined && { 'Content-Length': String(Buffer.byteLength(body)) }) },
      ...(auth.auth !== undefined && { auth: auth.auth }),
      ...(signal !== undefined && { signal }),
    });
    return new Promise((resolve, reject) => {
      request.once('response', resolve);
      request.once('error', reject);
      request.end(body);
    });
  }

  private kept(fresh: http.Agent | boolean | undefined): http.Agent | boolean | undefined {
    if (!(fresh instanceof http.Agent) || (fresh.constructor !== https.Agent && fresh.constructor !== http.Agent)) return fresh;
    const key = agentKey(fresh);
    let kept = this.agents.get(key);
    if (kept === undefined) {
      // Credentials rotate rarely; should they churn, the oldest agent goes (its open sockets close when idle).
      if (this.agents.size >= MAX_AGENTS) {
        const [oldestKey, oldest] = this.agents.entries().next().value as [string, http.Agent];
        this.agents.delete(oldestKey);
        oldest.destroy();
      }
      const options = (fresh as http.Agent & { options: https.AgentOptions }).options;
      kept = fresh instanceof https.Agent ? new https.Agent({ ...options, keepAlive: true }) : new http.Agent({ ...options, keepAlive: true });
      this.agents.set(key, kept);
    }
    fresh.destroy();
    return kept;
  }
}

/** One connection (and connection pool) per kubeconfig, whoever asks for it. */
const connections = new WeakMap<KubeConfig, KubeConnection>();
export function connectionFor(kc: KubeConfig): KubeConnection {
  let connection = connections.get(kc);
  if (connection === undefined) {
    connection = new KubeConnection(kc);
    connections.set(kc, connection);
  }
  return connection;
}

/** The whole body of a response, as text; rejects if the response is cut off. */
export async function readBody(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface WatchEvent {
  type: string;
  object: { metadata?: { resourceVersion?: string }; code?: number };
}

/**
 * Opens a watch (the path says `watch=true`) and hands on each event line as it arrives. `ended` hears once that the watch is over: without an error when the server closed it. Rejects when the
 * watch cannot be opened, with a KubeApiError when the apiserver refused it. The function it resolves with stops
 * the watch without calling `ended`.
 */
export async function openWatch(
  connection: KubeConnection,
  path: string,
  headers: Record<string, string>,
  onEvent: (event: WatchEvent) => void,
  ended: (err?: unknown) => void,
): Promise<() => void> {
  const abort = new AbortController();
  const response = await connection.send({ method: 'GET', path, headers, signal: abort.signal });
  if (response.statusCode !== 200) throw new KubeApiError(response.statusCode ?? 0, await readBody(response), `watch ${path.split('?')[0] ?? ''}`);
  let over = false;
  const end = (err?: unknown): void => {
    if (over) return;
    over = true;
    abort.abort();
    ended(err);
  };
  let partial = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    if (over) return;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        onEvent(JSON.parse(line) as WatchEvent);
      } catch {
        // As client-node's watch did: a line that is not JSON, or a handler that throws, loses that event, not the watch.
      }
    }
  });
  response.once('end', () => end());
  response.once('close', () => end());
  response.once('error', end);
  return () => {
    over = true;
    abort.abort();
  };
}
