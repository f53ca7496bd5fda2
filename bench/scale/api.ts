import { Agent, request } from 'node:https';

export interface ApiAnswer {
  status: number;
  body: string;
}

interface ObjectMeta {
  metadata?: { name?: string; resourceVersion?: string };
}

/** What a watch hands on: `listed` is true for objects that already existed when the (re)list ran. */
export type WatchHandler<T> = (type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T, at: number, listed: boolean) => void;

/**
 * The bench's own client: plain HTTPS with keep-alive and no client-side throttle, so what it measures is the
 * controller's pace, never its own. It uses the admin token, which the apiserver does not audit.
 */
export class Api {
  private readonly agent: Agent;

  constructor(
    private readonly server: string,
    private readonly token: string,
    ca: string,
  ) {
    this.agent = new Agent({ ca, keepAlive: true, maxSockets: 64 });
  }

  /**
   * One request. A kept-alive socket the apiserver closed while it sat idle fails the next request sent on it before
   * the request reaches the server ("socket hang up"): that one is sent again, once, on a new socket, as Node's
   * documentation advises.
   */
  send(method: string, path: string, body?: unknown, contentType = 'application/json', retried = false): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.server),
        {
          method,
          agent: this.agent,
          headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(body !== undefined && { 'Content-Type': contentType }) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(this.send(method, path, body, contentType, true));
        else reject(err);
      });
      if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
      req.end();
    });
  }

  /** Like send, but fails unless the answer is 2xx, and parses it. */
  async call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const answer = await this.send(method, path, body, contentType);
    if (answer.status < 200 || answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.body.slice(0, 500)}`);
    return JSON.parse(answer.body) as T;
  }

  /** Server-side apply as `fieldManager`, forcing ownership of what it sets. */
  apply(path: string, object: object, fieldManager: string): Promise<unknown> {
    return this.call('PATCH', `${path}?fieldManager=${fieldManager}&force=true`, object, 'application/apply-patch+yaml');
  }

  /** List, then watch from there; relists when the watch's resourceVersion is too old. Stop with the returned function. */
  async watch<T extends ObjectMeta>(path: string, onEvent: WatchHandler<T>): Promise<() => void> {
    let stopped = false;
    let current: { destroy(): void } | undefined;
    const list = async (): Promise<string> => {
      const answer = await this.call<{ metadata: { resourceVersion: string }; items: T[] }>('GET', path);
      const at = Date.now();
      for (const item of answer.items) onEvent('ADDED', item, at, true);
      return answer.metadata.resourceVersion;
    };
    const follow = (resourceVersion: string): void => {
      if (stopped) return;
      let rv = resourceVersion;
      let buffered = '';
      let gone = false;
      const req = request(
        new URL(`${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, this.server),
        { agent: this.agent, headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' } },
        (res) => {
          res.on('data', (chunk: Buffer) => {
            const at = Date.now();
            buffered += chunk.toString();
            let newline: number;
            while ((newline = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, newline);
              buffered = buffered.slice(newline + 1);
              if (!line.trim()) continue;
              const event = JSON.parse(line) as { type: string; object: T & { code?: number } };
              if (event.type === 'ERROR') {
                gone = event.object.code === 410;
                continue;
              }
              rv = event.object.metadata?.resourceVersion ?? rv;
              if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') onEvent(event.type, event.object, at, false);
            }
          });
          res.on('end', () => {
            if (stopped) return;
            if (gone) void list().then(follow, (err: unknown) => process.stderr.write(`bench: relist of ${path} failed: ${String(err)}\n`));
            else follow(rv);
          });
        },
      );
      req.on('error', () => {
        if (!stopped) setTimeout(() => follow(rv), 1000);
      });
      req.end();
      current = req;
    };
    follow(await list());
    return () => {
      stopped = true;
      current?.destroy();
    };
  }
}
