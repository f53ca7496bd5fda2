import { describe, expect, it } from 'vitest';
import { allowedHosts, newToken, refusal } from '../../../../src/cli/dashboard/guard.js';

describe('dashboard request guard', () => {
  const hosts = allowedHosts('127.0.0.1', 3100);
  const token = newToken();
  const post = { method: 'POST', host: '127.0.0.1:3100', origin: 'http://127.0.0.1:3100', token };

  it('answers to loopback names on its port only', () => {
    expect([...hosts].sort()).toEqual(['127.0.0.1:3100', '[::1]:3100', 'localhost:3100']);
    expect([...allowedHosts('::1', 8080)]).toContain('[::1]:8080');
    expect([...allowedHosts('192.0.2.7', 8080)]).toEqual(['192.0.2.7:8080']);
  });

  it('serves reads to its own Host, and refuses a rebound DNS name', () => {
    expect(refusal({ method: 'GET', host: 'localhost:3100', origin: undefined, token: undefined }, hosts, token)).toBeUndefined();
    expect(refusal({ method: 'GET', host: 'evil.example:3100', origin: undefined, token: undefined }, hosts, token)).toMatch(/Host evil.example:3100/);
    expect(refusal({ method: 'GET', host: 'localhost:3101', origin: undefined, token: undefined }, hosts, token)).toMatch(/Host/);
    expect(refusal({ method: 'GET', host: undefined, origin: undefined, token: undefined }, hosts, token)).toMatch(/Host \(none\)/);
  });

  it('takes a POST only with its Origin and its token', () => {
    expect(refusal(post, hosts, token)).toBeUndefined();
    expect(refusal({ ...post, host: 'LOCALHOST:3100', origin: 'http://localhost:3100' }, hosts, token)).toBeUndefined();
    expect(refusal({ ...post, token: undefined }, hosts, token)).toBe('missing or wrong token');
    expect(refusal({ ...post, token: newToken() }, hosts, token)).toBe('missing or wrong token');
    expect(refusal({ ...post, token: token.slice(1) }, hosts, token)).toBe('missing or wrong token');
    expect(refusal({ ...post, origin: 'http://evil.example' }, hosts, token)).toMatch(/Origin http:\/\/evil.example/);
    expect(refusal({ ...post, origin: undefined }, hosts, token)).toMatch(/Origin \(none\)/);
    expect(refusal({ ...post, method: 'DELETE' }, hosts, token)).toBe('DELETE is not allowed');
  });

  it('serves a costly read (the backtest) only with its token, on its own Host', () => {
    const backtest = { method: 'GET', host: '127.0.0.1:3100', origin: undefined, token, costly: true };
    expect(refusal(backtest, hosts, token)).toBeUndefined();
    expect(refusal({ ...backtest, token: undefined }, hosts, token)).toBe('missing or wrong token');
    expect(refusal({ ...backtest, token: newToken() }, hosts, token)).toBe('missing or wrong token');
    expect(refusal({ ...backtest, host: 'evil.example:3100' }, hosts, token)).toMatch(/Host evil.example:3100/);
  });

  it('makes a different token per process', () => {
    expect(newToken()).not.toBe(newToken());
    expect(newToken()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
