import { Agent, request } from 'node:http';

/** What one request through the gateway got back. */
export interface Answer {
  /** Epoch ms the answer arrived. */
  at: number;
  status: number;
  /** X-Fledge-Version of the pod that answered, or '' when no pod did (a proxy error). */
  version: string;
  /** X-Fledge-Pod-Template-Hash of the pod that answered: tells a baseline's pods from the stable's ('' when none did). */
  hash: string;
}

export interface RequestOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:16446. */
  url: string;
  /** Host header, which picks the HTTPRoute. */
  host: string;
  path?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** One GET through the gateway; a connection error is an answer with status 0, so counts stay honest. */
export function send(opts: RequestOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const target = new URL(opts.path ?? '/', opts.url);
    const req = request(target, { agent, headers: { Host: opts.host, ...opts.headers }, timeout: opts.timeoutMs ?? 5000 }, (res) => {
      res.resume();
      const answered = { version: String(res.headers['x-fledge-version'] ?? ''), hash: String(res.headers['x-fledge-pod-template-hash'] ?? '') };
      res.on('end', () => resolve({ at: Date.now(), status: res.statusCode ?? 0, ...answered }));
      res.on('error', () => resolve({ at: Date.now(), status: 0, version: '', hash: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ at: Date.now(), status: 0, version: '', hash: '' }));
    req.end();
  });
}

/** `count` requests, `concurrency` at a time; the answers in the order they were sent. */
export async function sendMany(opts: RequestOptions, count: number, concurrency = 16): Promise<Answer[]> {
  const answers: Answer[] = new Array<Answer>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      answers[index] = await send(opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return answers;
}

/** How many answers came from each version ('' for none). */
export function tally(answers: readonly Answer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const answer of answers) counts.set(answer.version, (counts.get(answer.version) ?? 0) + 1);
  return counts;
}

export interface LoadGenerator {
  /** Answers since the generator started (or since the last `reset`). */
  answers(): readonly Answer[];
  reset(): void;
  stop(): Promise<void>;
}

/** Steady traffic: `perSecond` requests a second until stopped, as users of the app would send. */
export function startLoad(opts: RequestOptions, perSecond: number): LoadGenerator {
  let answers: Answer[] = [];
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    if (stopped) return;
    // Every 100 ms, so the proxy sees a steady rate rather than bursts; as many as are owed since the start, so a
    // late tick (a busy event loop) catches up instead of lowering the rate.
    const batch = Math.floor(((Date.now() - started) / 1000) * perSecond) - sent;
    sent += batch;
    for (let i = 0; i < batch; i++) {
      const sent = send(opts).then((answer) => {
        answers.push(answer);
        inFlight.delete(sent);
      });
      inFlight.add(sent);
    }
  }, 100);
  return {
    answers: () => answers,
    reset: () => {
      answers = [];
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await Promise.all(inFlight);
    },
  };
}
