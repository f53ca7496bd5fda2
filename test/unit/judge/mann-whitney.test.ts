import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kthDifference, mannWhitney } from '../../../src/judge/mann-whitney.js';
import { normalUpperQuantile, normalUpperTail } from '../../../src/judge/normal.js';
import { propertyParameters } from '../property.js';

const series = (length: number, at: (i: number) => number): number[] => Array.from({ length }, (_, k) => at(k + 1));

/** All m·n differences canary − baseline, sorted: what the selection must agree with, affordable for small samples. */
function allDifferences(canary: readonly number[], baseline: readonly number[]): number[] {
  return canary.flatMap((c) => baseline.map((b) => c - b)).sort((a, b) => a - b);
}

/**
 * Reference figures from R 4.2.2 (Debian bookworm's r-base-core 4.2.2.20221110-2), per data set:
 *
 *   t <- wilcox.test(canary, baseline, conf.int = TRUE, conf.level = 0.98, correct = TRUE, exact = FALSE, tol.root = 1e-12)
 *   sprintf("%.17g", c(t$statistic, t$p.value, t$estimate, t$conf.int))
 *   sprintf("%.17g", median(outer(canary, baseline, "-")))
 *
 * tol.root = 1e-12 because R finds the interval's ends with uniroot, whose default tolerance (1e-4)
 * leaves them off by up to that much: with the default call (no tol.root) R prints, e.g., for `large`
 * [0.74307816658769155, 4.9891808110136093] and for `depression` [-0.55995169526318367, 1.232960408303311].
 * W and the p-value do not depend on it. The data sets written as formulas use only +, −, ×, / and
 * integer remainders, which R and JavaScript compute to the same doubles.
 */
const R_REFERENCE = [
  {
    // R's own example (?wilcox.test: Hollander & Wolfe, 1973, p. 69, permeability constants), no ties, sizes 10 and 5.
    name: 'permeability',
    canary: [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46],
    baseline: [1.15, 0.88, 0.9, 0.74, 1.21],
    w: 35,
    p: 0.24462360512698336,
    lower: -0.31999999999923512,
    upper: 0.98999999999945154,
    rEstimate: 0.30250833904157232,
    hodgesLehmann: 0.30500000000000005,
  },
  {
    // Hollander & Wolfe's depression data (?wilcox.test), read as two samples; ties within the baseline.
    name: 'depression',
    canary: [1.83, 0.5, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.3],
    baseline: [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29],
    w: 58,
    p: 0.13291945818531886,
    lower: -0.55999999999963856,
    upper: 1.2329999999999952,
    rEstimate: 0.56000000000047434,
    hodgesLehmann: 0.56000000000000005,
  },
  {
    // Small integers: ties within and across the samples, sizes 12 and 10.
    name: 'integers',
    canary: [3, 5, 5, 6, 7, 7, 7, 9, 10, 12, 12, 15],
    baseline: [2, 3, 3, 4, 5, 5, 6, 6, 8, 9],
    w: 92.5,
    p: 0.033631562590588082,
    lower: -1.9556899751314851e-13,
    upper: 6.9999999999998721,
    rEstimate: 2.9999999999996221,
    hodgesLehmann: 3,
  },
  {
    // canary <- sapply(1:62, function(j) 52 + ((j*29) %% 67)/4 + j/997); baseline <- sapply(1:60, function(i) 50 + ((i*37) %% 61)/4 + i/1000). No ties.
    name: 'large',
    canary: series(62, (j) => 52 + ((j * 29) % 67) / 4 + j / 997),
    baseline: series(60, (i) => 50 + ((i * 37) % 61) / 4 + i / 1000),
    w: 2468,
    p: 0.0018639674133215703,
    lower: 0.74310230692073587,
    upper: 4.9891414242731802,
    rEstimate: 2.7711214293651381,
    hodgesLehmann: 2.7711519558676017,
  },
  {
    // canary <- sapply(1:64, function(j) ((j*29) %% 67) %/% 6 + 1); baseline <- sapply(1:60, function(i) ((i*37) %% 61) %/% 6). Eleven values, heavy ties.
    name: 'largeTies',
    canary: series(64, (j) => Math.floor(((j * 29) % 67) / 6) + 1),
    baseline: series(60, (i) => Math.floor(((i * 37) % 61) / 6)),
    w: 2439,
    p: 0.0092491345030228534,
    lower: 4.6802667200897849e-13,
    upper: 2.9999999999995621,
    rEstimate: 1.9999999999999241,
    hodgesLehmann: 2,
  },
  {
    // canary <- sapply(1:55, function(j) 180 + (j*j) %% 89 + j/7); baseline <- sapply(1:58, function(i) 200 + (i*i) %% 97 + i/11). The canary is lower.
    name: 'lower',
    canary: series(55, (j) => 180 + ((j * j) % 89) + j / 7),
    baseline: series(58, (i) => 200 + ((i * i) % 97) + i / 11),
    w: 998,
    p: 0.00061132003923441806,
    lower: -35.012987012986436,
    upper: -8.3246753246753666,
    rEstimate: -21.775972195349489,
    hodgesLehmann: -21.772727272727295,
  },
];

describe('the Mann-Whitney test against R', () => {
  for (const reference of R_REFERENCE) {
    it(`agrees with wilcox.test on ${reference.name}`, () => {
      const result = mannWhitney(reference.baseline, reference.canary, 0.98);
      expect(result.u).toBe(reference.w);
      expect(Math.abs(result.pValue - reference.p) / reference.p).toBeLessThan(1e-12);
      // R's ends are uniroot's, to tol.root = 1e-12; ours are the exact order statistics they converge to.
      expect(Math.abs(result.lower - reference.lower)).toBeLessThan(1e-11);
      expect(Math.abs(result.upper - reference.upper)).toBeLessThan(1e-11);
      expect(result.estimate).toBeCloseTo(reference.hodgesLehmann, 13);
      // R's estimate with exact = FALSE is a root of the uncorrected z, anywhere between the middle two differences.
      const differences = allDifferences(reference.canary, reference.baseline);
      const middle = differences.length / 2;
      const [below, above] = differences.length % 2 === 1 ? [differences[Math.floor(middle)], differences[Math.floor(middle)]] : [differences[middle - 1], differences[middle]];
      expect(reference.rEstimate).toBeGreaterThanOrEqual((below as number) - 1e-11);
      expect(reference.rEstimate).toBeLessThanOrEqual((above as number) + 1e-11);
    });
  }

  it('computes the normal distribution as R does: pnorm and qnorm to 1e-14 relative', () => {
    // R 4.2.2: sprintf("%.17g", pnorm(z, lower.tail = FALSE)) and sprintf("%.17g", qnorm(q, lower.tail = FALSE)).
    const tails: [number, number][] = [
      [0.1, 0.46017216272297101], [1, 0.15865525393145705], [2, 0.022750131948179212], [2.5, 0.0062096653257761349],
      [2.99, 0.0013948872354922499], [3, 0.0013498980316300946], [3.01, 0.001306238448769469], [4, 3.1671241833119924e-5],
      [6, 9.8658764503769809e-10], [8.3, 5.2055697448902552e-17], [20, 2.7536241186062337e-89], [30, 4.9067139271481872e-198],
    ];
    for (const [z, q] of tails) {
      expect(Math.abs(normalUpperTail(z) - q) / q).toBeLessThan(1e-13);
      expect(Math.abs(normalUpperTail(-z) - (1 - q))).toBeLessThan(1e-15);
    }
    const quantiles: [number, number][] = [
      [0.25, 0.67448975019608171], [0.05, 1.6448536269514726], [0.025, 1.9599639845400538], [0.01, 2.3263478740408408],
      [0.005, 2.5758293035488999], [1e-5, 4.2648907939228256], [1e-20, 9.2623400897984052], [1e-100, 21.273453560965319],
    ];
    for (const [q, z] of quantiles) {
      expect(Math.abs(normalUpperQuantile(q) - z) / z).toBeLessThan(1e-14);
      // 1 − q itself rounds (1 − 1e-20 is 1): the lower quantiles only as closely as 1 − q is a double.
      if (q >= 1e-5) expect(normalUpperQuantile(1 - q)).toBeCloseTo(-z, 10);
    }
  });
});

/** Values on a binary grid (multiples of 1/8), so shifting them is exact and invariances can be checked exactly. */
const gridValue = fc.oneof(fc.integer({ min: -4, max: 4 }), fc.integer({ min: -80_000, max: 80_000 }).map((k) => k / 8));
const gridSample = fc.array(gridValue, { minLength: 1, maxLength: 40 });
const shift = fc.integer({ min: -8_000, max: 8_000 }).map((k) => k / 8);
const confidence = fc.constantFrom(0.8, 0.9, 0.95, 0.98, 0.99);

describe('the Mann-Whitney test, for any samples', () => {
  it('negates the estimate and interval and keeps the p-value when baseline and canary swap', () => {
    fc.assert(
      fc.property(gridSample, gridSample, confidence, (baseline, canary, level) => {
        const forward = mannWhitney(baseline, canary, level);
        const backward = mannWhitney(canary, baseline, level);
        expect(backward.estimate + forward.estimate).toBe(0);
        expect(backward.lower + forward.upper).toBe(0);
        expect(backward.upper + forward.lower).toBe(0);
        expect(backward.pValue).toBe(forward.pValue);
        expect(backward.u).toBe(baseline.length * canary.length - forward.u);
      }),
      propertyParameters(300),
    );
  });

  it('is unchanged when both samples shift by the same amount, and follows a shift of the canary alone', () => {
    fc.assert(
      fc.property(gridSample, gridSample, shift, confidence, (baseline, canary, c, level) => {
        const original = mannWhitney(baseline, canary, level);
        const both = mannWhitney(
          baseline.map((value) => value + c),
          canary.map((value) => value + c),
          level,
        );
        expect(both).toEqual(original);
        const moved = mannWhitney(
          baseline,
          canary.map((value) => value + c),
          level,
        );
        expect(moved.estimate).toBe(original.estimate + c);
        expect(moved.lower).toBe(original.lower + c);
        expect(moved.upper).toBe(original.upper + c);
      }),
      propertyParameters(300),
    );
  });

  it('keeps lower ≤ estimate ≤ upper and 0 ≤ p ≤ 1, for any finite doubles', () => {
    const value = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 30 }), fc.array(value, { minLength: 1, maxLength: 30 }), confidence, (baseline, canary, level) => {
        const result = mannWhitney(baseline, canary, level);
        expect(result.lower).toBeLessThanOrEqual(result.estimate);
        expect(result.estimate).toBeLessThanOrEqual(result.upper);
        expect(result.pValue).toBeGreaterThanOrEqual(0);
        expect(result.pValue).toBeLessThanOrEqual(1);
        expect(result.u).toBeGreaterThanOrEqual(0);
        expect(result.u).toBeLessThanOrEqual(baseline.length * canary.length);
      }),
      propertyParameters(300),
    );
  });

  it('selects every order statistic of the pairwise differences exactly as sorting them all would', () => {
    const value = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -1e3, max: 1e3, noNaN: true }));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 15 }), fc.array(value, { minLength: 1, maxLength: 15 }), (canary, baseline) => {
        const sortedCanary = Float64Array.from(canary).sort();
        const sortedBaseline = Float64Array.from(baseline).sort();
        allDifferences(canary, baseline).forEach((difference, index) => expect(kthDifference(sortedCanary, sortedBaseline, index + 1)).toBe(difference));
      }),
      propertyParameters(200),
    );
  });

  it('gives the median of the differences as the estimate, including with an even number of pairs', () => {
    fc.assert(
      fc.property(gridSample, gridSample, (baseline, canary) => {
        const differences = allDifferences(canary, baseline);
        const half = differences.length / 2;
        const median = differences.length % 2 === 1 ? differences[Math.floor(half)] : ((differences[half - 1] as number) + (differences[half] as number)) / 2;
        expect(mannWhitney(baseline, canary, 0.98).estimate).toBe(median);
      }),
      propertyParameters(200),
    );
  });
});

describe('the Mann-Whitney test, at the edges', () => {
  it('treats two samples of one and the same value as no evidence: z 0, p 1, a zero shift', () => {
    expect(mannWhitney([0, 0, 0], [0, 0], 0.98)).toEqual({ u: 3, z: 0, pValue: 1, estimate: 0, lower: 0, upper: 0, confidence: 0.98 });
  });

  it('gives the one difference when each sample is a constant', () => {
    expect(mannWhitney([2, 2, 2, 2], [5, 5, 5], 0.98)).toMatchObject({ u: 12, estimate: 3, lower: 3, upper: 3 });
  });

  it('refuses what it cannot test: an empty sample, a non-finite value, a confidence outside (0, 1)', () => {
    expect(() => mannWhitney([], [1], 0.98)).toThrow(RangeError);
    expect(() => mannWhitney([1], [Number.NaN], 0.98)).toThrow(/not a finite number/);
    expect(() => mannWhitney([1], [2], 1)).toThrow(/confidence/);
  });

  it('handles 5,000 × 5,000 samples (25 million differences) without an array of them', () => {
    // Differences i − j + 0.5 for i, j in 0..4999: symmetric about 0.5, so the estimate is 0.5 and the interval symmetric about it.
    const baseline = Array.from({ length: 5000 }, (_, i) => i);
    const canary = baseline.map((value) => value + 0.5);
    const result = mannWhitney(baseline, canary, 0.98);
    expect(result.u).toBe((5000 * 5001) / 2);
    expect(result.estimate).toBe(0.5);
    expect(result.lower + result.upper).toBe(1);
    expect(result.lower).toBeLessThan(0);
  });
});
