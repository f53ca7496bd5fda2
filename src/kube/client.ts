import type { IncomingMessage } from 'node:http';
import { KubeApiError, readBody, type KubeConnection } from './connection.js';

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

/** What one call adds to a request: a patch's Content-Type, a metadata-only list's Accept. */
export interface RequestOptions {
  headers: Record<string, string>;
}

export interface Request {
  query?: Record<string, string | undefined>;
  body?: unknown;
  options?: RequestOptions;
}

/**
 * JSON requests to the apiserver, each waiting for a token of `limiter` and counted by verb, resource and code.
 * `timeoutMs` aborts a request that has not been answered by then (code `error`); without it a request waits as long
 * as the connection lives, which on an apiserver that accepts connections but never answers is forever. Answers are
 * the apiserver's JSON as sent (timestamps are strings); a non-2xx answer throws a KubeApiError.
 */
export class KubeClient {
  constructor(
    private readonly connection: KubeConnection,
    private readonly instrumentation: ClientInstrumentation,
    private readonly timeoutMs?: number,
  ) {}

  async request<T>(method: string, path: string, { query = {}, body, options }: Request = {}): Promise<T> {
    await this.instrumentation.limiter.take();
    const verb = verbOf(method, path);
    const resource = resourceOf(path);
    if (!READS.has(verb)) this.instrumentation.beforeWrite?.();
    const search = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined)).toString();
    let response: IncomingMessage;
    try {
      response = await this.connection.send({
        method,
        path: search === '' ? path : `${path}?${search}`,
        headers: { Accept: 'application/json', ...(body !== undefined && { 'Content-Type': 'application/json' }), ...options?.headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(this.timeoutMs !== undefined && { signal: AbortSignal.timeout(this.timeoutMs) }),
      });
    } catch (err) {
      this.instrumentation.onResponse(verb, resource, 'error');
      throw err;
    }
    const code = response.statusCode ?? 0;
    this.instrumentation.onResponse(verb, resource, String(code));
    const text = await readBody(response);
    if (code < 200 || code > 299) throw new KubeApiError(code, text, `${method} ${path}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}
