import { describe, expect, it } from 'vitest';
import { compileCondition, compileMetricConditions, ConditionError } from '../../../src/analysis/condition.js';

describe('CEL conditions', () => {
  it('type-checks result as a double and as a list(double)', () => {
    const scalar = compileCondition('result >= 0.95');
    expect([...scalar.kinds]).toEqual(['double']);
    expect(scalar.evaluate(0.97)).toBe(true);
    expect(scalar.evaluate(0.9)).toBe(false);
    const list = compileCondition('result.all(x, x < 0.5)');
    expect([...list.kinds]).toEqual(['list']);
    expect(list.evaluate([0.1, 0.2])).toBe(true);
    expect(list.evaluate([0.1, 0.7])).toBe(false);
  });

  it('handles infinities as CEL doubles', () => {
    expect(compileCondition('result < 1.0').evaluate(Number.POSITIVE_INFINITY)).toBe(false);
    expect(compileCondition('result < 1.0').evaluate(Number.NEGATIVE_INFINITY)).toBe(true);
  });

  it('rejects an expression that does not parse, before any measurement', () => {
    expect(() => compileCondition('result >= ')).toThrow(ConditionError);
    expect(() => compileCondition('result >= ')).toThrow(/does not parse/);
  });

  it('rejects an expression that is not bool, or names an unknown variable', () => {
    expect(() => compileCondition('result + 1.0')).toThrow(/not bool/);
    expect(() => compileCondition('latency > 1.0')).toThrow(/does not type-check to bool.*Unknown variable: latency/);
    expect(() => compileCondition('result + 1 > 2.0')).toThrow(/no such overload/);
  });

  it('refuses to apply a scalar condition to several series (and says so)', () => {
    expect(() => compileCondition('result > 0.5').evaluate([1, 2])).toThrow(/several series/);
  });

  it('needs at least one condition per metric and names the metric and field in errors', () => {
    expect(() => compileMetricConditions({ name: 'rate' })).toThrow(/metric rate needs a successCondition or a failureCondition/);
    expect(() => compileMetricConditions({ name: 'rate', successCondition: 'result >= 0.9', failureCondition: 'result <' })).toThrow(
      /metric rate failureCondition: does not parse/,
    );
    const both = compileMetricConditions({ name: 'rate', successCondition: 'result >= 0.9', failureCondition: 'result < 0.5' });
    expect(both.success?.expression).toBe('result >= 0.9');
    expect(both.failure?.expression).toBe('result < 0.5');
  });
});
