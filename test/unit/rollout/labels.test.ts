import { describe, expect, it } from 'vitest';
import { analysisRunName } from '../../../src/rollout/decide/analysis-runs.js';
import { ownedBy, ownedObjectName, rolloutLabelValue } from '../../../src/api/labels.js';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('names and labels of what a Rollout owns', () => {
  it('keeps a short name as the label value', () => {
    expect(rolloutLabelValue('checkout')).toBe('checkout');
    expect(ownedBy('checkout')).toBe('fledge.dev/rollout=checkout');
  });

  it('shortens a name past 63 characters into a valid, distinct label value', () => {
    const long = `${'a'.repeat(60)}-payments-service`;
    const other = `${'a'.repeat(60)}-payments-servicf`;
    for (const name of [long, other, `${'b'.repeat(62)}-`.padEnd(200, 'c')]) {
      const value = rolloutLabelValue(name);
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(LABEL_VALUE);
      expect(value.startsWith(name.slice(0, 40))).toBe(true);
    }
    expect(rolloutLabelValue(long)).not.toBe(rolloutLabelValue(other));
    expect(rolloutLabelValue(long)).toBe(rolloutLabelValue(long));
  });

  it('keeps owned object names within 253 characters', () => {
    const name = 'r'.repeat(253);
    expect(ownedObjectName(name, 'dz94hfjgsv')).toHaveLength(253);
    expect(ownedObjectName(name, 'dz94hfjgsv').endsWith('-dz94hfjgsv')).toBe(true);
    expect(analysisRunName(name, 'dz94hfjgsv', 12, 'background')).toHaveLength(253);
    expect(analysisRunName('api', 'dz94hfjgsv', 1, 3)).toBe('api-dz94hfjgsv-1-s3');
  });
});
