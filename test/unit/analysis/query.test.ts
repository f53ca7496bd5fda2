import { describe, expect, it } from 'vitest';
import { ArgumentError, renderPromQL, renderText, renderUrl } from '../../../src/analysis/query.js';

const TEMPLATE = 'sum(rate(http_requests_total{pod_template_hash="{{args.hash}}",code=~"{{args.codes}}"}[{{args.window}}]))';

describe('argument substitution', () => {
  it('substitutes plain values in strings and tokens in bare positions', () => {
    expect(renderPromQL(TEMPLATE, { hash: 'abc123', codes: '5xx', window: '30s' })).toBe(
      'sum(rate(http_requests_total{pod_template_hash="abc123",code=~"5xx"}[30s]))',
    );
  });

  it('cannot close a string literal: quotes and backslashes are escaped', () => {
    const injected = renderPromQL(TEMPLATE, { hash: '"} or vector(1) #', codes: '5..', window: '1m' });
    expect(injected).toContain('pod_template_hash="\\"} or vector(1) #"');
    // The value stays inside one string literal: the only unescaped quotes are the template's own.
    expect(injected.replace(/\\./g, '').match(/"/g)).toHaveLength(4);
  });

  it('regex-escapes values after =~ so they match only themselves', () => {
    expect(renderPromQL(TEMPLATE, { hash: 'a', codes: '.*', window: '1m' })).toContain('code=~"\\\\.\\\\*"');
  });

  it('refuses anything but one token outside a string', () => {
    expect(() => renderPromQL(TEMPLATE, { hash: 'a', codes: 'b', window: '1m] or vector(1) [1m' })).toThrow(ArgumentError);
    expect(() => renderPromQL('x > {{args.threshold}}', { threshold: '1 or vector(1)' })).toThrow(/only be used inside a quoted string/);
    expect(() => renderPromQL('x {{args.op}} y', { op: 'or' })).toThrow(ArgumentError);
    expect(renderPromQL('x > {{args.threshold}}', { threshold: '0.95' })).toBe('x > 0.95');
  });

  it('names a missing argument', () => {
    expect(() => renderPromQL(TEMPLATE, { hash: 'a' })).toThrow('argument codes has no value');
  });

  it('percent-encodes URL values and JSON-escapes text values', () => {
    expect(renderUrl('http://x/api?service={{args.svc}}', { svc: 'a&b=c/d' })).toBe('http://x/api?service=a%26b%3Dc%2Fd');
    expect(renderText('{"svc":"{{args.svc}}"}', { svc: 'a","admin":true,"x":"' })).toBe('{"svc":"a\\",\\"admin\\":true,\\"x\\":\\""}');
    expect(JSON.parse(renderText('{"svc":"{{args.svc}}"}', { svc: 'a","admin":true' }))).toEqual({ svc: 'a","admin":true' });
  });
});
