import { describe, expect, it } from 'vitest';
import { canonicalJson, podTemplateHash } from '../../../src/rollout/decide/revision.js';
import { formatLabelSelector } from '../../../src/rollout/decide/selector.js';

describe('podTemplateHash', () => {
  const template = { metadata: { labels: { app: 'api', tier: 'web' } }, spec: { containers: [{ name: 'api', image: 'api:1' }] } };

  it('is 10 characters of the Kubernetes safe alphabet', () => {
    expect(podTemplateHash(template)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
  });

  it('ignores key order and undefined fields, but not content', () => {
    const reordered = { spec: { containers: [{ image: 'api:1', name: 'api' }] }, metadata: { labels: { tier: 'web', app: 'api' }, annotations: undefined } };
    expect(podTemplateHash(reordered)).toBe(podTemplateHash(template));
    expect(podTemplateHash({ ...template, spec: { containers: [{ name: 'api', image: 'api:2' }] } })).not.toBe(podTemplateHash(template));
  });

  it('is a pinned value, so revisions survive upgrades of the controller', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: null }], a: 'x' })).toBe('{"a":"x","b":[2,{"c":null,"d":1}]}');
    expect(podTemplateHash(template)).toBe('cl8vf56tdp');
  });
});

describe('formatLabelSelector', () => {
  it('formats like metav1.FormatLabelSelector, sorted by key', () => {
    expect(formatLabelSelector({ matchLabels: { tier: 'web', app: 'api' } })).toBe('app=api,tier=web');
    expect(
      formatLabelSelector({
        matchLabels: { app: 'api' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'canary'] },
          { key: 'zone', operator: 'DoesNotExist' },
          { key: 'beta', operator: 'Exists' },
        ],
      }),
    ).toBe('app=api,beta,env in (canary,prod),!zone');
    expect(formatLabelSelector({})).toBe('');
  });
});
