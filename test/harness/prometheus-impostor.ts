import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the impostor answers one instant query. */
export type ImpostorAnswer = (res: ServerResponse, req: IncomingMessage) => void;

/** JSON built per request, so the sample timestamps are current. */
const json = (status: number, body: () => unknown): ImpostorAnswer => (res) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body()));
};
const text = (status: number, contentType: string, body: string): ImpostorAnswer => (res) => {
  res.writeHead(status, { 'Content-Type': contentType });
  res.end(body);
};
const now = (): number => Date.now() / 1000;

/** A well-formed instant vector, one series per value, as Prometheus sends it (values as strings). */
export function vector(...values: string[]): ImpostorAnswer {
  return json(200, () => ({
    status: 'success',
    data: { resultType: 'vector', result: values.map((value, i) => ({ metric: { pod: `pod-${i}` }, value: [now(), value] })) },
  }));
}

/** `bytes` of text that is not JSON, streamed in 64 KiB chunks with backpressure, stopping when the client hangs up. */
export function hugeText(bytes: number): ImpostorAnswer {
  const chunk = Buffer.alloc(64 * 1024, 'not json, just a very long log line that never ends; ');
  return (res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(bytes) });
    let left = bytes;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (left === 0) res.end(piece);
        else if (!res.write(piece)) return void res.once('drain', pump);
      }
    };
    pump();
  };
}

/**
 * Every way a Prometheus (or what stands in front of it) has been seen to answer badly. None of these
 * is a measurement of the canary: each one must end in an Error, a hold, or a failure, never a pass.
 */
export const BAD_PROMETHEUS_ANSWERS = {
  'http500-text': text(500, 'text/plain', 'internal server error\n'),
  // A 500 whose body looks like a passing answer: the status alone must make it an error.
  'http500-json': json(500, () => ({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [now(), '0.01'] }] } })),
  // Holds the request open; the client's timeout has to end it.
  hang: () => undefined,
  'proxy-html-502': text(502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n'),
  'error-envelope-200': json(200, () => ({ status: 'error', errorType: 'execution', error: 'query processing would load too many samples into memory' })),
  'error-envelope-422': json(422, () => ({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:1: parse error' })),
  'matrix-for-vector': json(200, () => ({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[now() - 1, '0.01'], [now(), '0.01']] }] } })),
  'no-result-type': json(200, () => ({ status: 'success', data: { result: [{ metric: {}, value: [now(), '0.01'] }] } })),
  'value-not-a-pair': json(200, () => ({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: '0.01' }] } })),
  // Both series pass `result < 0.05` on their own; a scalar condition over two of them is still ambiguous.
  'two-series-for-scalar': vector('0.01', '0.02'),
  'huge-50mb-not-json': hugeText(50 * 1024 * 1024),
  nan: vector('NaN'),
  'plus-inf': vector('+Inf'),
  'minus-inf': vector('-Inf'),
  'empty-vector': vector(),
} satisfies Record<string, ImpostorAnswer>;

export interface PrometheusImpostor {
  /** The address to put in a metric's `provider.prometheus.address` to get `kind`'s answer. */
  address(kind: string): string;
  /** Instant queries received under `kind`'s prefix. */
  queries(kind: string): number;
  stop(): Promise<void>;
}

/**
 * HTTP servers on 127.0.0.1 that pretend to be Prometheus: `/<kind>/api/v1/query` gets `answers[kind]`; anything else
 * is a 404. Each kind has a server, so a port, of its own: the controller limits measurements in flight per backend,
 * and one kind that hangs would otherwise hold the others' queries in its queue until their deadlines.
 */
export async function startPrometheusImpostor(answers: Record<string, ImpostorAnswer>): Promise<PrometheusImpostor> {
  const received = new Map<string, number>();
  const servers = new Map<string, { server: Server; base: string }>();
  for (const [kind, answer] of Object.entries(answers)) {
    const server = createServer((req, res) => {
      if (new URL(req.url ?? '/', 'http://impostor').pathname !== `/${kind}/api/v1/query`) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not an impostor path\n');
        return;
      }
      received.set(kind, (received.get(kind) ?? 0) + 1);
      answer(res, req);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(kind, { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  }
  return {
    address: (kind) => {
      const served = servers.get(kind);
      if (served === undefined) throw new Error(`the impostor has no answer for ${kind}`);
      return `${served.base}/${kind}`;
    },
    queries: (kind) => received.get(kind) ?? 0,
    stop: async () => {
      await Promise.all(
        [...servers.values()].map(async ({ server }) => {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
        }),
      );
    },
  };
}
