import { randomBytes, timingSafeEqual } from 'node:crypto';

/** The header the page sends its token in; a form on another site cannot set it. */
export const TOKEN_HEADER = 'x-fledge-token';

export const newToken = (): string => randomBytes(24).toString('base64url');

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/** The Host values the server answers to: the address it listens on and, on loopback, loopback's other names. */
export function allowedHosts(address: string, port: number): Set<string> {
  const literal = address.includes(':') ? `[${address}]` : address;
  const names = LOOPBACK.includes(literal) ? LOOPBACK : [literal];
  return new Set(names.map((name) => `${name}:${port}`));
}

export interface RequestFacts {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  token: string | undefined;
  /** A read that costs something (a backtest queries Prometheus): it needs the token, so another site's page cannot start it. */
  costly?: boolean;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Why a request must be refused, or undefined. Every request needs a Host the server answers to (a rebound DNS
 * name does not pass); a state-changing one also needs this server's Origin and the per-process token the page
 * carries; a costly read needs the token (a browser sends no Origin on a same-origin GET).
 */
export function refusal(request: RequestFacts, hosts: ReadonlySet<string>, token: string): string | undefined {
  if (request.host === undefined || !hosts.has(request.host.toLowerCase())) return `Host ${request.host ?? '(none)'} is not this dashboard`;
  if (request.method === 'GET' || request.method === 'HEAD') return request.costly === true && !(request.token !== undefined && sameToken(request.token, token)) ? 'missing or wrong token' : undefined;
  if (request.method !== 'POST') return `${request.method} is not allowed`;
  if (request.origin === undefined || !hosts.has(request.origin.toLowerCase().replace(/^http:\/\//, ''))) return `Origin ${request.origin ?? '(none)'} is not this dashboard`;
  if (request.token === undefined || !sameToken(request.token, token)) return 'missing or wrong token';
  return undefined;
}
