import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { SizeCapExceeded } from '../http/deadline.js';

/** Bytes one answer of the Git server (in practice the pack a clone fetches) may carry, unless --write-back-max-bytes says. */
export const DEFAULT_WRITE_BACK_MAX_BYTES = 32 * 1024 * 1024;

async function collect(body: AsyncIterableIterator<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (body === undefined) return undefined;
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * isomorphic-git's HTTP client, with what its own (simple-get) lacks: one AbortSignal over every request of a
 * write-back (connect, headers and body), and a cap on the bytes of each answer. isomorphic-git holds a fetched pack in
 * memory several times over while it indexes it, so the cap is what bounds a write-back's memory.
 */
export function boundedGitHttp(signal: AbortSignal, maxBytes: number): HttpClient {
  async function* counted(body: ReadableStream<Uint8Array>): AsyncIterableIterator<Uint8Array> {
    let received = 0;
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      received += chunk.byteLength;
      if (received > maxBytes) throw new SizeCapExceeded('the Git server', maxBytes, 'the write-back budget, --write-back-max-bytes');
      yield chunk;
    }
  }
  return {
    request: async (request: GitHttpRequest): Promise<GitHttpResponse> => {
      const body = await collect(request.body);
      const response = await fetch(request.url, { method: request.method ?? 'GET', headers: request.headers ?? {}, ...(body !== undefined && { body }), signal, redirect: 'follow' });
      return {
        url: response.url,
        method: request.method ?? 'GET',
        statusCode: response.status,
        statusMessage: response.statusText,
        headers: Object.fromEntries(response.headers.entries()),
        ...(response.body !== null && { body: counted(response.body) }),
      };
    },
  };
}
