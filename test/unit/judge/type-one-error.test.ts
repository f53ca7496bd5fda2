import { describe, expect, it } from 'vitest';
import { mannWhitney } from '../../../src/judge/mann-whitney.js';
import { exponential, mulberry32, normal } from './random.js';

const TRIALS = 2000;
const SIZE = 50;
const CONFIDENCE = 0.98;
const NOMINAL = 1 - CONFIDENCE;
/** The nominal rate plus three standard errors of a share out of TRIALS: a correct test fails this about once in 700 seeds. */
const BOUND = NOMINAL + 3 * Math.sqrt((NOMINAL * (1 - NOMINAL)) / TRIALS);

/** How often the interval excludes 0 (the judge's High or Low at tolerance 0) when both samples come from one distribution. */
function falseAlarmRate(seed: number, draw: (random: () => number) => number): number {
  const random = mulberry32(seed);
  let alarms = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const baseline = Array.from({ length: SIZE }, () => draw(random));
    const canary = Array.from({ length: SIZE }, () => draw(random));
    const { lower, upper } = mannWhitney(baseline, canary, CONFIDENCE);
    if (lower > 0 || upper < 0) alarms++;
  }
  return alarms / TRIALS;
}

describe('the interval on null data (baseline and canary from the same distribution)', () => {
  // Measured with these seeds: 0.018 (normal), 0.0175 (exponential), 0 (discrete; its p-value is below 0.02 in 0.014).
  it('excludes 0 at most at its nominal rate for normal data', () => {
    expect(falseAlarmRate(1, normal)).toBeLessThanOrEqual(BOUND);
  });

  it('excludes 0 at most at its nominal rate for skewed (exponential) data, like latencies', () => {
    expect(falseAlarmRate(2, exponential)).toBeLessThanOrEqual(BOUND);
  });

  it('excludes 0 at most at its nominal rate for discrete data with many ties, like counts', () => {
    // Values 0, 1, 2, … with P(0) ≈ 0.39: most pairs tie. The interval's ends then often sit on a difference of
    // exactly 0, which a closed interval includes, so it is conservative here (it rarely excludes 0 at all).
    expect(falseAlarmRate(3, (random) => Math.floor(2 * exponential(random)))).toBeLessThanOrEqual(BOUND);
  });
});
