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

describe('CEL condition errors and shapes', () => {
  const problemOf = (expression: string): string | undefined => {
    try {
      compileCondition(expression);
      return undefined;
    } catch (err) {
      return err instanceof ConditionError ? err.problem : 'not a ConditionError';
    }
  };

  it('tells a parse error from a type error, and names the expression', () => {
    expect(problemOf('result >= ')).toBe('parse');
    expect(problemOf('result >= "high"')).toBe('type');
    expect(problemOf('result')).toBe('type');
    expect(problemOf('result >= 0.95')).toBeUndefined();
    expect(() => compileCondition('result >= "high"')).toThrow(/^"result >= \\"high\\"": does not type-check to bool/);
    expect(() => compileMetricConditions({ name: 'rate' })).toThrow(expect.objectContaining({ problem: 'missing' }));
    expect(() => compileMetricConditions({ name: 'rate', successCondition: 'result >=' })).toThrow(expect.objectContaining({ problem: 'parse' }));
  });

  it('accepts an int literal against a double result', () => {
    expect(compileCondition('result >= 1').evaluate(1.5)).toBe(true);
    expect(compileCondition('result >= 1').evaluate(0.5)).toBe(false);
  });

  it("treats one sample as a list of one for list conditions (Argo's result[0] idiom)", () => {
    const indexed = compileCondition('result[0] >= 0.95');
    expect([...indexed.kinds]).toEqual(['list']);
    expect(indexed.evaluate(0.97)).toBe(true);
    expect(indexed.evaluate(0.9)).toBe(false);
    expect(indexed.evaluate([0.9, 0.99])).toBe(false);
    expect(compileCondition('size(result) == 1').evaluate(3)).toBe(true);
  });

  it('keeps the double reading when a condition accepts both shapes', () => {
    // `result == result` type-checks either way; a number must stay a number, not become [n].
    const both = compileCondition('result == result');
    expect([...both.kinds].sort()).toEqual(['double', 'list']);
    expect(both.evaluate(1)).toBe(true);
    expect(both.evaluate([1, 2])).toBe(true);
  });

  it('refuses oversized or deeply nested expressions at parse time', () => {
    expect(problemOf(`${'('.repeat(80)}result > 1.0${')'.repeat(80)}`)).toBe('parse');
    expect(problemOf(`[${Array(150).fill('1.0').join(', ')}].exists(x, x == result)`)).toBe('parse');
    // A long but ordinary condition is fine, and the limits are on the expression, not on the answer.
    expect(problemOf(Array(50).fill('result > 0.1').join(' && '))).toBeUndefined();
    expect(compileCondition('size(result) == 500').evaluate(Array<number>(500).fill(1))).toBe(true);
  });

  it('shortens a long expression in the message', () => {
    const long = `${'result > 0.1 && '.repeat(20)}result >= "x"`;
    expect(() => compileCondition(long)).toThrow(/^"result > 0\.1 && .{100,}\.\.\.": does not type-check/);
  });
});

describe('compiled conditions are shared', () => {
  it('compiles an expression once, and still refuses a bad one every time', () => {
    const first = compileCondition('result >= 0.9123');
    expect(compileCondition('result >= 0.9123')).toBe(first);
    expect(first.evaluate(0.95)).toBe(true);
    expect(compileCondition('result <= 0.9123')).not.toBe(first);
    expect(() => compileCondition('result >=')).toThrow(ConditionError);
    expect(() => compileCondition('result >=')).toThrow(ConditionError);
  });
});
