import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCondition } from '../../../../src/analysis/condition.js';
import { metricThreshold, simpleComparison } from '../../../../src/cli/dashboard/threshold.js';

describe('simpleComparison', () => {
  it('reads result, result[0] and number-first comparisons as `result <op> value`', () => {
    expect(simpleComparison('result < 0.05', 'failure')).toEqual({ op: '<', value: 0.05, condition: 'failure', expression: 'result < 0.05' });
    expect(simpleComparison('result[0] >= 0.95', 'success')).toMatchObject({ op: '>=', value: 0.95 });
    expect(simpleComparison('result <= 100', 'success')).toMatchObject({ op: '<=', value: 100 });
    expect(simpleComparison('  (result>1e3) ', 'success')).toMatchObject({ op: '>', value: 1000 });
    expect(simpleComparison('0.95 <= result', 'success')).toMatchObject({ op: '>=', value: 0.95 });
    expect(simpleComparison('-2 > result [ 0 ]', 'success')).toMatchObject({ op: '<', value: -2 });
  });

  it('refuses anything that one line would misrepresent', () => {
    for (const expression of ['result >= 0.95 && result < 2', 'result[1] > 3', 'result.all(x, x < 0.5)', 'result == 1', 'size(result) > 0', 'result > other', '(result > 1) || (result < 0)']) {
      expect(simpleComparison(expression, 'success'), expression).toBeUndefined();
    }
  });

  it('draws the same verdict as the condition: a value passes the line exactly when the compiled condition holds', () => {
    const ops = ['<', '<=', '>', '>='] as const;
    fc.assert(
      fc.property(fc.constantFrom(...ops), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), fc.boolean(), (op, limit, value, numberFirst) => {
        const mirrored = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' }[op];
        const expression = numberFirst ? `${limit} ${mirrored} result` : `result ${op} ${limit}`;
        const threshold = simpleComparison(expression, 'success');
        expect(threshold).toMatchObject({ op, value: limit });
        const line = { '<': value < limit, '<=': value <= limit, '>': value > limit, '>=': value >= limit }[op];
        expect(line).toBe(compileCondition(expression).evaluate(value));
      }),
      { numRuns: 200 },
    );
  });

  it("prefers the success condition's line, then the failure condition's", () => {
    expect(metricThreshold({ successCondition: 'result >= 0.95', failureCondition: 'result < 0.5' })).toMatchObject({ condition: 'success', value: 0.95 });
    expect(metricThreshold({ successCondition: 'result.all(x, x > 1)', failureCondition: 'result < 0.5' })).toMatchObject({ condition: 'failure', value: 0.5 });
    expect(metricThreshold({})).toBeUndefined();
  });
});
