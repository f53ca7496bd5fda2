import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sequentialCountTest, SEQUENTIAL_DEFAULTS, type CountIncrement, type SequentialOptions } from '../../../src/judge/index.js';
import { propertyParameters } from '../property.js';
import { binomial, mulberry32 } from './random.js';

const look = (baselineErrors: number, baselineRequests: number, canaryErrors: number, canaryRequests: number): CountIncrement => ({
  baseline: { errors: baselineErrors, requests: baselineRequests },
  canary: { errors: canaryErrors, requests: canaryRequests },
});

describe('the sequential count test, by example', () => {
  it('defaults to alpha 0.01, an increase being bad, and no tolerance', () => {
    expect(SEQUENTIAL_DEFAULTS).toEqual({ alpha: 0.01, direction: 'increase', tolerance: 0 });
  });

  it('rejects a tripled error rate and says so in one line', () => {
    const result = sequentialCountTest([look(10, 1000, 25, 1000), look(10, 1000, 35, 1000)]);
    expect(result).toMatchObject({ rejected: true, rejectedAt: 1, rejectedSide: 'increase', ratio: 3, baseline: { errors: 20, requests: 2000 }, canary: { errors: 60, requests: 2000 } });
    expect(result.explanation).toBe('canary 3% (60/2000) vs baseline 1% (20/2000) errors: rate ratio 3, 99% anytime-valid interval [1.223, 8.597]; e-value 7469 ≥ 100: regression');
  });

  it('does not reject twice the errors on little data, and its interval says how little is known', () => {
    const result = sequentialCountTest([look(20, 2000, 42, 2000)]);
    expect(result.rejected).toBe(false);
    expect(result.rejectedAt).toBeUndefined();
    expect(result.explanation).toBe('canary 2.1% (42/2000) vs baseline 1% (20/2000) errors: rate ratio 2.1, 99% anytime-valid interval [0.802, 6.209]; e-value 12.09 < 100: no regression shown');
  });

  it('stays rejected once the e-process crossed 1/alpha, and says at which look', () => {
    const result = sequentialCountTest([look(0, 1000, 30, 1000), ...Array.from({ length: 40 }, () => look(30, 1000, 20, 1000))]);
    expect(result).toMatchObject({ rejected: true, rejectedAt: 0 });
    expect(result.eValue).toBeLessThan(100);
    expect(result.explanation).toMatch(/; e-value [\d.e+-]+, past 100 at look 1 of 41: regression$/);
  });

  it('knows nothing before any error: e-value 1, ratio NaN, the interval everything', () => {
    for (const increments of [[], [look(0, 100, 0, 100)], [look(0, 0, 0, 0)]]) {
      const result = sequentialCountTest(increments);
      expect(result).toMatchObject({ rejected: false, eValue: 1, logEValue: 0, lowerBound: 0, upperBound: Number.POSITIVE_INFINITY });
      expect(result.ratio).toBeNaN();
    }
    expect(sequentialCountTest([]).explanation).toBe('canary no requests vs baseline no requests errors: rate ratio NaN, 99% anytime-valid interval [0, Infinity]; e-value 1 < 100: no regression shown');
  });

  it('bounds the ratio only from below when the baseline had no error', () => {
    const result = sequentialCountTest([look(0, 2000, 30, 2000)]);
    expect(result).toMatchObject({ rejected: true, ratio: Number.POSITIVE_INFINITY, upperBound: Number.POSITIVE_INFINITY });
    expect(result.lowerBound).toBeGreaterThan(1);
  });

  it('counts a look without errors, or without requests on one side, as a factor of exactly 1', () => {
    const increments = [look(3, 500, 9, 500), look(4, 700, 2, 300), look(1, 200, 6, 250)];
    const padded = [look(0, 500, 0, 500), increments[0] as CountIncrement, look(0, 0, 5, 100), increments[1] as CountIncrement, look(7, 100, 0, 0), increments[2] as CountIncrement];
    const plain = sequentialCountTest(increments);
    const withIdle = sequentialCountTest(padded);
    expect(withIdle.logEValue).toBe(plain.logEValue);
    // The same interval, to the search's precision (its start, the pooled ratio, counts the idle looks' requests).
    expect(withIdle.lowerBound / plain.lowerBound).toBeCloseTo(1, 5);
    expect(withIdle.upperBound / plain.upperBound).toBeCloseTo(1, 5);
  });

  it('reads counts defensively: negative or non-finite as 0, fractions rounded, errors capped at requests', () => {
    const messy = sequentialCountTest([look(-3, Number.NaN, 4, 10), look(2.4, 99.6, 250, 100)]);
    const clean = sequentialCountTest([look(0, 0, 4, 10), look(2, 100, 100, 100)]);
    expect(messy).toEqual(clean);
    expect(messy.canary).toEqual({ errors: 104, requests: 110 });
  });

  it("tests a decrease as an increase with the roles swapped, and 'either' as both at alpha/2", () => {
    const increments = [look(30, 1000, 8, 1000), look(25, 900, 5, 1100)];
    const swapped = increments.map((increment) => ({ baseline: increment.canary, canary: increment.baseline }));
    const decrease = sequentialCountTest(increments, { direction: 'decrease' });
    const increaseSwapped = sequentialCountTest(swapped);
    expect(decrease.logEValue).toBeCloseTo(increaseSwapped.logEValue, 12);
    expect(decrease.lowerBound).toBeCloseTo(1 / increaseSwapped.upperBound, 9);
    expect(decrease).toMatchObject({ rejected: true, rejectedSide: 'decrease' });
    const either = sequentialCountTest(increments, { direction: 'either' });
    const increase = sequentialCountTest(increments);
    expect(either.logEValue).toBeCloseTo(Math.max(decrease.logEValue, increase.logEValue) - Math.log(2), 12);
    expect(either).toMatchObject({ rejected: true, rejectedSide: 'decrease' });
    expect(either.explanation).toMatch(/: regression \(decrease\)$/);
    expect(increase.rejected).toBe(false);
  });

  it('tests against 1 + tolerance: a ratio of 1.5 is no regression at tolerance 1', () => {
    const increments = Array.from({ length: 20 }, () => look(50, 5000, 75, 5000));
    expect(sequentialCountTest(increments).rejected).toBe(true);
    expect(sequentialCountTest(increments, { tolerance: 1 }).rejected).toBe(false);
  });

  it('works in log space: a billion errors neither overflow nor give NaN', () => {
    const result = sequentialCountTest([look(1e9, 1e11, 1.1e9, 1e11)]);
    expect(result.rejected).toBe(true);
    expect(result.eValue).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isFinite(result.logEValue)).toBe(true);
    // The ratio is 1.1 to within 0.01%, yet the interval is [1.089, 1.111]: no interval can be narrower than the
    // mixture's resolution, whose nearest alternative lies 2% from the null.
    expect(result.lowerBound).toBeGreaterThan(1.08);
    expect(result.upperBound).toBeLessThan(1.12);
    expect(result.explanation).toMatch(/e-value e\^[\d.e+]+ ≥ 100: regression$/);
  });

  it('refuses an alpha outside (0, 1) and a negative tolerance', () => {
    expect(() => sequentialCountTest([], { alpha: 0 })).toThrow(/alpha/);
    expect(() => sequentialCountTest([], { tolerance: -0.1 })).toThrow(/tolerance/);
  });
});

const counts = fc.record({ errors: fc.integer({ min: 0, max: 30 }), requests: fc.integer({ min: 0, max: 300 }) });
const increment: fc.Arbitrary<CountIncrement> = fc.record({ baseline: counts, canary: counts });
const direction = fc.constantFrom<SequentialOptions['direction']>('increase', 'decrease', 'either');

describe('the sequential count test, for any counts', () => {
  it('decides at each look what it would have decided stopping there: rejectedAt is the first look of any prefix that rejects', () => {
    fc.assert(
      fc.property(fc.array(increment, { maxLength: 12 }), direction, (increments, side) => {
        const full = sequentialCountTest(increments, { direction: side, alpha: 0.05 });
        increments.forEach((_, t) => {
          const prefix = sequentialCountTest(increments.slice(0, t + 1), { direction: side, alpha: 0.05 });
          expect(prefix.rejected).toBe(full.rejectedAt !== undefined && full.rejectedAt <= t);
          expect(prefix.rejectedAt).toBe(prefix.rejected ? full.rejectedAt : undefined);
        });
      }),
      propertyParameters(60),
    );
  });

  it('keeps the rate ratio inside its interval when the shares are the same at every look (it is then the maximum-likelihood estimate)', () => {
    const sameShares = fc.tuple(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.array(fc.tuple(fc.nat(40), fc.nat(40)), { minLength: 1, maxLength: 8 }));
    fc.assert(
      fc.property(sameShares, ([baselineRequests, canaryRequests, errors]) => {
        const result = sequentialCountTest(errors.map(([b, c]) => look(Math.min(b, baselineRequests), baselineRequests, Math.min(c, canaryRequests), canaryRequests)));
        if (Number.isNaN(result.ratio)) return;
        expect(result.lowerBound).toBeLessThanOrEqual(result.ratio);
        expect(result.upperBound).toBeGreaterThanOrEqual(result.ratio);
      }),
      propertyParameters(200),
    );
  });
});

/** A release of `looks` looks, each drawing binomial errors for the requests `traffic` gives the two sides. */
function release(random: () => number, looks: number, traffic: () => [number, number], baselineRate: number, canaryRate: number): CountIncrement[] {
  return Array.from({ length: looks }, () => {
    const [baselineRequests, canaryRequests] = traffic();
    return look(binomial(random, baselineRequests, baselineRate), baselineRequests, binomial(random, canaryRequests, canaryRate), canaryRequests);
  });
}

interface Simulated {
  /** The share of releases rejected at any look. */
  rejected: number;
  /** The share whose interval at the last look missed the true ratio. */
  missed: number;
}

function simulate(trials: number, seed: number, draw: (random: () => number) => CountIncrement[], trueRatio: number, options: Partial<SequentialOptions> = {}): Simulated {
  const random = mulberry32(seed);
  let rejected = 0;
  let missed = 0;
  for (let trial = 0; trial < trials; trial++) {
    const result = sequentialCountTest(draw(random), options);
    if (result.rejected) rejected++;
    if (trueRatio < result.lowerBound || trueRatio > result.upperBound) missed++;
  }
  return { rejected: rejected / trials, missed: missed / trials };
}

/** alpha plus three standard errors of a share out of `trials`. */
const bound = (alpha: number, trials: number): number => alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / trials);

describe('the sequential count test on simulated releases', () => {
  // Rejected at any of the 60 looks is what `rejected` reports: the e-process is checked at every look (the anytime claim).
  it('rarely rejects a good release, however often it looks: 1,000 releases, 60 looks of 100 requests a side, both at 1%', () => {
    const good = simulate(1000, 11, (random) => release(random, 60, () => [100, 100], 0.01, 0.01), 1);
    // Measured: 0.005 rejected (at a median look of 7), 0 missed; over 5,000 releases (seed 21), 0.005 and 0.0002.
    expect(good.rejected).toBeLessThanOrEqual(bound(0.01, 1000));
    expect(good.missed).toBeLessThanOrEqual(bound(0.01, 1000));
  });

  it("stays valid with 'either' and with a tolerance, on its null boundary (a ratio of exactly 1 + tolerance)", () => {
    const either = simulate(400, 12, (random) => release(random, 60, () => [100, 100], 0.01, 0.01), 1, { direction: 'either' });
    const tolerated = simulate(400, 13, (random) => release(random, 60, () => [200, 200], 0.01, 0.015), 1.5, { tolerance: 0.5 });
    // Measured: 0 with 'either'; 0.0125 with the tolerance (5 of 400: over 4,000 releases, seed 23, 0.00425).
    expect(either.rejected).toBeLessThanOrEqual(bound(0.01, 400));
    expect(tolerated.rejected).toBeLessThanOrEqual(bound(0.01, 400));
  });

  it('stays valid when the shares of traffic vary from look to look', () => {
    // A stream of 1,000 to 5,000 requests a look, 5% of it to each side by chance, so every look has its own share.
    const stream = (random: () => number): [number, number] => {
      const total = 1000 + Math.floor(random() * 4000);
      return [binomial(random, total, 0.05), binomial(random, total, 0.05)];
    };
    const varying = simulate(300, 14, (random) => release(random, 60, () => stream(random), 0.01, 0.01), 1);
    // Measured: 0 rejected, 0 missed; over 2,000 releases (seed 22), 0.0055 rejected.
    expect(varying.rejected).toBeLessThanOrEqual(bound(0.01, 300));
    expect(varying.missed).toBeLessThanOrEqual(bound(0.01, 300));
  });

  it('rejects a release that doubles the error rate (2% against 1%)', () => {
    const busy = simulate(300, 15, (random) => release(random, 60, () => [500, 500], 0.01, 0.02), 2);
    const quiet = simulate(300, 16, (random) => release(random, 60, () => [100, 100], 0.01, 0.02), 2);
    // Measured: all of them with 500 requests a side (at a median look of 7); 0.853 with 100 (median look 28).
    expect(busy.rejected).toBeGreaterThanOrEqual(0.97);
    expect(quiet.rejected).toBeGreaterThanOrEqual(0.8);
    expect(busy.missed).toBeLessThanOrEqual(bound(0.01, 300));
  });
});
