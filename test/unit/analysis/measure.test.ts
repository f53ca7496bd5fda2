import { describe, expect, it } from 'vitest';
import { compileMetricConditions } from '../../../src/analysis/condition.js';
import { judge } from '../../../src/analysis/measure.js';

const successOnly = compileMetricConditions({ name: 'm', successCondition: 'result >= 0.95' });
const failureOnly = compileMetricConditions({ name: 'm', failureCondition: 'result < 0.95' });
const both = compileMetricConditions({ name: 'm', successCondition: 'result >= 0.95', failureCondition: 'result < 0.5' });

describe('judging a measurement', () => {
  it('follows Argo: failureCondition first, then successCondition', () => {
    expect(judge({ kind: 'value', value: 0.99 }, successOnly)).toEqual({ phase: 'Successful', value: '0.99' });
    expect(judge({ kind: 'value', value: 0.9 }, successOnly)).toMatchObject({ phase: 'Failed', value: '0.9' });
    expect(judge({ kind: 'value', value: 0.9 }, failureOnly)).toMatchObject({ phase: 'Failed' });
    expect(judge({ kind: 'value', value: 0.99 }, failureOnly)).toMatchObject({ phase: 'Successful' });
    expect(judge({ kind: 'value', value: 0.3 }, both)).toMatchObject({ phase: 'Failed' });
    expect(judge({ kind: 'value', value: 0.7 }, both)).toMatchObject({ phase: 'Inconclusive', message: 'neither condition is true' });
  });

  it('never passes on no data by default; a per-metric policy can fail or pass it', () => {
    expect(judge({ kind: 'noData', message: 'the query returned no series' }, failureOnly)).toMatchObject({ phase: 'Inconclusive' });
    expect(judge({ kind: 'noData', message: 'x' }, successOnly, 'Fail')).toMatchObject({ phase: 'Failed' });
    expect(judge({ kind: 'noData', message: 'x' }, successOnly, 'Pass')).toMatchObject({ phase: 'Successful' });
  });

  it('treats NaN (0/0 over no traffic) as no data, so a failure-only condition cannot pass it', () => {
    expect(judge({ kind: 'value', value: Number.NaN }, failureOnly)).toMatchObject({ phase: 'Inconclusive', value: 'NaN' });
    expect(judge({ kind: 'values', values: [Number.NaN, Number.NaN] }, failureOnly)).toMatchObject({ phase: 'Inconclusive' });
  });

  it('records values without float noise', () => {
    expect(judge({ kind: 'value', value: 0.7999999999999999 }, successOnly)).toMatchObject({ phase: 'Failed', value: '0.8' });
    expect(judge({ kind: 'value', value: 0.123456789012345 }, successOnly).value).toBe('0.123456789012');
  });

  it('lets an infinity fail a condition but never pass one', () => {
    expect(judge({ kind: 'value', value: Number.POSITIVE_INFINITY }, failureOnly)).toMatchObject({ phase: 'Inconclusive', value: '+Inf', message: expect.stringContaining('not finite') });
    expect(judge({ kind: 'value', value: Number.NEGATIVE_INFINITY }, failureOnly)).toMatchObject({ phase: 'Failed', value: '-Inf' });
    const lowErrorRate = compileMetricConditions({ name: 'm', successCondition: 'result < 0.05' });
    expect(judge({ kind: 'value', value: Number.NEGATIVE_INFINITY }, lowErrorRate)).toMatchObject({ phase: 'Inconclusive', value: '-Inf' });
    expect(judge({ kind: 'value', value: Number.POSITIVE_INFINITY }, lowErrorRate)).toMatchObject({ phase: 'Failed', value: '+Inf' });
    expect(judge({ kind: 'values', values: [0.01, Number.NEGATIVE_INFINITY] }, compileMetricConditions({ name: 'm', successCondition: 'result.all(x, x < 0.05)' })).phase).toBe('Inconclusive');
  });

  it('makes provider errors and shape mismatches Error measurements', () => {
    expect(judge({ kind: 'error', message: 'timed out' }, successOnly)).toEqual({ phase: 'Error', message: 'timed out' });
    expect(judge({ kind: 'values', values: [1, 2] }, successOnly)).toMatchObject({ phase: 'Error', value: '[1, 2]', message: expect.stringContaining('several series') });
  });
});

describe('judging with conditions over series', () => {
  const indexed = compileMetricConditions({ name: 'm', successCondition: 'result[0] >= 0.95' });
  const every = compileMetricConditions({ name: 'm', successCondition: 'result.all(x, x >= 0.95)', failureCondition: 'result.exists(x, x < 0.5)' });

  it("judges Argo's result[0] on a single-series answer instead of erroring", () => {
    expect(judge({ kind: 'value', value: 0.99 }, indexed)).toEqual({ phase: 'Successful', value: '0.99' });
    expect(judge({ kind: 'value', value: 0.9 }, indexed)).toMatchObject({ phase: 'Failed', value: '0.9' });
  });

  it('applies list conditions to every series, failure first', () => {
    expect(judge({ kind: 'values', values: [0.99, 0.97] }, every)).toMatchObject({ phase: 'Successful', value: '[0.99, 0.97]' });
    expect(judge({ kind: 'values', values: [0.99, 0.4] }, every)).toMatchObject({ phase: 'Failed' });
    expect(judge({ kind: 'values', values: [0.99, 0.7] }, every)).toMatchObject({ phase: 'Inconclusive' });
  });

  it('is Failed, not Successful, when both conditions hold (failureCondition wins)', () => {
    const overlapping = compileMetricConditions({ name: 'm', successCondition: 'result > 0.0', failureCondition: 'result > 0.5' });
    expect(judge({ kind: 'value', value: 0.7 }, overlapping)).toMatchObject({ phase: 'Failed', message: 'failureCondition result > 0.5 is true' });
  });

  it('never lets no data pass by default, whatever the conditions say', () => {
    const trivial = compileMetricConditions({ name: 'm', successCondition: 'true' });
    expect(judge({ kind: 'noData', message: 'empty' }, trivial).phase).toBe('Inconclusive');
    expect(judge({ kind: 'value', value: Number.NaN }, trivial).phase).toBe('Inconclusive');
    expect(judge({ kind: 'noData', message: 'empty' }, trivial, 'Fail')).toMatchObject({ phase: 'Failed', message: 'no data: empty; noDataPolicy Fail' });
  });
});
