import { createHash } from 'node:crypto';
import * as https from 'node:https';
import * as k8s from '@kubernetes/client-node';

/**
 * A token bucket: `qps` tokens a second, at most `burst` saved up. Requests wait for a token rather than
 * fail, so a busy controller slows itself down instead of overloading the apiserver.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  /** Milliseconds until a token is free, having taken it (the caller waits that long). */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.qps) * 1000);
  }

  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await this.sleep(wait);
  }
}

/** The resource a request is about, `pods` or `rollouts/status`: bounded by the API, never an object name. */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, , subresource] = rest;
  if (resource === undefined) return 'namespaces';
  return subresource !== undefined ? `${resource}/${subresource}` : resource;
}

/** Kubernetes' verb for an HTTP request: GET on a collection is list, on one object get. */
export function verbOf(method: string, path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  switch (method.toUpperCase()) {
    case 'GET':
      return rest.length >= 2 ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return rest.length >= 2 ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

export interface ClientInstrumentation {
  limiter: TokenBucket;
  onResponse(verb: string, resource: string, code: string): void;
  /** Called just before a write is sent (after the limiter's wait); a throw refuses it. */
  beforeWrite?: () => void;
}

const READS = new Set(['get', 'list', 'watch']);

/** The TLS settings that make two agents interchangeable: the same server name, trust and client identity. */
function agentKey(options: https.AgentOptions): string {
  const hash = createHash('sha256');
  for (const value of [options.ca, options.cert, options.key, options.pfx, options.passphrase, options.servername, options.rejectUnauthorized]) {
    hash.update(JSON.stringify(value === undefined ? null : Buffer.isBuffer(value) ? value.toString('base64') : value)).update('\0');
  }
  return hash.digest('hex');
}

/**
 * The kubeconfig's authentication with connections that are kept and reused. client-node builds a new https.Agent
 * for every request, so every request paid a TLS handshake and a new SecureContext: a third of the controller's CPU
 * while it updated 100 Rollouts. Headers (a rotating token) are still applied per request; an agent is shared only
 * between requests with identical TLS settings, so a rotated client certificate gets an agent of its own.
 */
function keepAliveAuthentication(kc: k8s.KubeConfig): k8s.SecurityAuthentication {
  const agents = new Map<string, https.Agent>();
  return {
    getName: () => 'kubeconfig with kept-alive connections',
    async applySecurityAuthentication(context) {
      await kc.applySecurityAuthentication(context);
      const fresh = context.getAgent();
      // Proxy agents and plain HTTP are left as client-node made them.
      if (!(fresh instanceof https.Agent)) return;
      const key = agentKey(fresh.options);
      let shared = agents.get(key);
      if (shared === undefined) {
        // Credentials rotate rarely; should they churn, the oldest agent goes (its open sockets close when idle).
        if (agents.size >= MAX_AGENTS) {
          const [oldestKey, oldest] = agents.entries().next().value as [string, https.Agent];
          agents.delete(oldestKey);
          oldest.destroy();
        }
        shared = new https.Agent({ ...fresh.options, keepAlive: true });
        agents.set(key, shared);
      }
      fresh.destroy();
      context.setAgent(shared);
    },
  };
}

const MAX_AGENTS = 4;

/** One connection pool per kubeconfig, whichever API classes use it. */
const authentications = new WeakMap<k8s.KubeConfig, k8s.SecurityAuthentication>();
function sharedAuthentication(kc: k8s.KubeConfig): k8s.SecurityAuthentication {
  let auth = authentications.get(kc);
  if (auth === undefined) {
    auth = keepAliveAuthentication(kc);
    authentications.set(kc, auth);
  }
  return auth;
}

/**
 * Like KubeConfig.makeApiClient, with client-side rate limiting and a count of every request by verb, resource
 * and code. `timeoutMs` aborts a request that has not been answered by then (code `error`); without it a request
 * waits as long as the connection lives, which on an apiserver that accepts connections but never answers is forever.
 */
export function makeApiClient<T>(
  kc: k8s.KubeConfig,
  apiClass: new (config: k8s.Configuration) => T,
  instrumentation: ClientInstrumentation,
  { timeoutMs }: { timeoutMs?: number } = {},
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const inner = new k8s.IsomorphicFetchHttpLibrary();
  const httpApi = k8s.wrapHttpLibrary({
    async send(request) {
      await instrumentation.limiter.take();
      const url = new URL(request.getUrl());
      const verb = verbOf(request.getHttpMethod(), url.pathname);
      const resource = resourceOf(url.pathname);
      if (!READS.has(verb)) instrumentation.beforeWrite?.();
      if (timeoutMs !== undefined) request.setSignal(AbortSignal.timeout(timeoutMs));
      try {
        const response = await inner.send(request).toPromise();
        instrumentation.onResponse(verb, resource, String(response.httpStatusCode));
        return response;
      } catch (err) {
        instrumentation.onResponse(verb, resource, 'error');
        throw err;
      }
    },
  });
  return new apiClass(
    k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(cluster.server, {}), authMethods: { default: sharedAuthentication(kc) }, httpApi }),
  );
}
