import { normalUpperQuantile, normalUpperTail } from './normal.js';
import { sortedCopy } from './summary.js';

export interface MannWhitneyResult {
  /** U of the canary: the number of (canary, baseline) pairs in which the canary is larger, a tie counting ½. */
  u: number;
  /** U standardized with the tie and continuity corrections (R's wilcox.test with correct = TRUE, exact = FALSE). */
  z: number;
  /** Two-sided. */
  pValue: number;
  /** Hodges–Lehmann estimate of the shift canary − baseline: the median of all pairwise differences. */
  estimate: number;
  /** The distribution-free confidence interval for the shift at `confidence` (see mannWhitney). */
  lower: number;
  upper: number;
  confidence: number;
}

/** What one merge of the two sorted samples yields: U and the sums of t³ − t over groups of equal values. */
interface Ranks {
  u: number;
  /** Over the pooled sample: the ties the test statistic sees. */
  pooledTies: number;
  /** Within each sample only: the ties the shifted samples have between two pairwise differences. */
  withinTies: number;
}

function cube(t: number): number {
  return t * t * t - t;
}

/** U and the tie terms in one pass over the distinct values of both samples, ascending. */
function rankSamples(baseline: Float64Array, canary: Float64Array): Ranks {
  let u = 0;
  let pooledTies = 0;
  let withinTies = 0;
  let baselineBelow = 0;
  let i = 0;
  let j = 0;
  while (i < baseline.length || j < canary.length) {
    const value = Math.min(baseline[i] ?? Number.POSITIVE_INFINITY, canary[j] ?? Number.POSITIVE_INFINITY);
    const baselineStart = i;
    const canaryStart = j;
    while (baseline[i] === value) i++;
    while (canary[j] === value) j++;
    const inBaseline = i - baselineStart;
    const inCanary = j - canaryStart;
    u += inCanary * (baselineBelow + inBaseline / 2);
    baselineBelow += inBaseline;
    pooledTies += cube(inBaseline + inCanary);
    withinTies += cube(inBaseline) + cube(inCanary);
  }
  return { u, pooledTies, withinTies };
}

/** The standard deviation of U under the null, less the share the ties take away. */
function sigma(m: number, n: number, ties: number): number {
  const total = m + n;
  return Math.sqrt(((m * n) / 12) * (total + 1 - ties / (total * (total - 1))));
}

/** Where the pairwise differences stand relative to a shift d: one merge-like pass, O(m + n), no m × n array. */
interface Pass {
  /** How many differences are ≤ d. */
  atMost: number;
  /** The largest difference ≤ d (−∞ if none). */
  largestAtMost: number;
  /** The smallest difference > d (+∞ if none). */
  smallestAbove: number;
}

/**
 * With both samples ascending, canary[i] − baseline[j] grows with i and shrinks with j, so the first j at
 * which it is ≤ d only moves right as i grows: a staircase walk. Each difference is the float
 * canary[i] − baseline[j] exactly as a sort of all differences would compare it (float subtraction is
 * monotone), so the selection below returns the very values such a sort would.
 */
function pass(canary: Float64Array, baseline: Float64Array, d: number): Pass {
  let atMost = 0;
  let largestAtMost = Number.NEGATIVE_INFINITY;
  let smallestAbove = Number.POSITIVE_INFINITY;
  let j = 0;
  for (const c of canary) {
    while (j < baseline.length && c - (baseline[j] as number) > d) j++;
    atMost += baseline.length - j;
    if (j < baseline.length) largestAtMost = Math.max(largestAtMost, c - (baseline[j] as number));
    if (j > 0) smallestAbove = Math.min(smallestAbove, c - (baseline[j - 1] as number));
  }
  return { atMost, largestAtMost, smallestAbove };
}

/**
 * The k-th smallest (1-based) of the m·n differences canary[i] − baseline[j], exactly, in O(m + n)
 * memory: 5,000 × 5,000 samples would be 25 million differences (200 MB) to sort. Bisection on the
 * shift keeps fewer than k differences ≤ `low` and at least k ≤ `high`, snapping `high` down to an
 * actual difference each time; it stops as soon as no difference lies strictly between the two, when
 * `high` is the answer. When the halfway point is no further than the smallest difference above `low`
 * (or rounds onto `high`), that difference is probed instead. Every pass takes at least one
 * difference out of the range (low, high], so it ends; bisection makes it about log2(range / gap
 * between neighbouring differences) passes, about 30 for 5,000 × 5,000 samples. There is no
 * tolerance to document: the result is exact.
 */
export function kthDifference(canary: Float64Array, baseline: Float64Array, k: number): number {
  const smallest = (canary[0] as number) - (baseline[baseline.length - 1] as number);
  const first = pass(canary, baseline, smallest);
  if (first.atMost >= k) return smallest;
  let low = smallest;
  let aboveLow = first.smallestAbove;
  let high = (canary[canary.length - 1] as number) - (baseline[0] as number);
  while (aboveLow < high) {
    const halfway = low / 2 + high / 2;
    const middle = halfway > aboveLow && halfway < high ? halfway : aboveLow;
    const at = pass(canary, baseline, middle);
    if (at.atMost >= k) {
      high = at.largestAtMost;
    } else {
      low = middle;
      aboveLow = at.smallestAbove;
    }
  }
  return high;
}

function clamp(k: number, max: number): number {
  return Math.min(Math.max(k, 1), max);
}

function checkSample(role: string, samples: readonly number[]): void {
  if (samples.length === 0) throw new RangeError(`the ${role} has no samples: the test needs at least one on each side`);
  if (!samples.every(Number.isFinite)) throw new RangeError(`the ${role} has a sample that is not a finite number: drop those first`);
}

/**
 * The Mann-Whitney U test (Wilcoxon rank-sum) of canary against baseline, with the Hodges–Lehmann
 * estimate of the shift and its confidence interval. It asks whether the canary's values tend to be
 * larger than the baseline's without assuming any distribution, which latencies and error ratios rarely
 * follow; it is the test Netflix's Kayenta judge uses.
 *
 * The p-value is R's `wilcox.test(canary, baseline, correct = TRUE, exact = FALSE)`: the normal
 * approximation to U with the tie correction of its variance and a continuity correction of ½ towards
 * the mean. One deviation: when every value of both samples is equal R gives NaN; here z = 0 and p = 1,
 * since identical samples are no evidence of a shift (an error ratio that is 0 everywhere is common).
 *
 * The interval inverts the same test, as R does: it is the set of shifts d for which the corrected z of
 * (canary − d) against the baseline stays within ±z(1 − (1 − confidence)/2). Between two neighbouring
 * pairwise differences that z is constant: U(d) counts the differences above d, and the only ties are
 * those within each sample (a tie across the samples happens exactly at a difference). So the bounds are
 * order statistics of the differences, D(kL) and D(kU) with a = mn/2 + ½ + z·σ_within,
 * kU = ⌊a⌋ + 1 and kL = ⌊mn − a⌋ + 1 (clamped to 1..mn). R finds the same step by uniroot, so the two
 * agree to uniroot's tolerance, with ties too (the tests hold six data sets against R; 300 random ones,
 * a third of them small integers full of ties, agreed to 1e-12). In principle R could differ: were
 * uniroot to evaluate z exactly at a difference shared by many pairs, the cross ties there shrink σ and
 * could make that single point look like a crossing. The estimate is the median of the differences
 * (the mean of the middle two when mn is even); R, with exact = FALSE, reports some root of the
 * uncorrected z instead, a point between those middle two, which the tests check.
 */
export function mannWhitney(baseline: readonly number[], canary: readonly number[], confidence: number): MannWhitneyResult {
  checkSample('baseline', baseline);
  checkSample('canary', canary);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must lie strictly between 0 and 1, not ${confidence}`);
  const sortedBaseline = sortedCopy(baseline);
  const sortedCanary = sortedCopy(canary);
  const m = sortedCanary.length;
  const n = sortedBaseline.length;
  const pairs = m * n;
  const ranks = rankSamples(sortedBaseline, sortedCanary);
  const centred = ranks.u - pairs / 2;
  const spread = sigma(m, n, ranks.pooledTies);
  const z = spread > 0 ? (centred - 0.5 * Math.sign(centred)) / spread : 0;
  const kth = (k: number): number => kthDifference(sortedCanary, sortedBaseline, k);
  const estimate = pairs % 2 === 1 ? kth((pairs + 1) / 2) : (kth(pairs / 2) + kth(pairs / 2 + 1)) / 2;
  const a = pairs / 2 + 0.5 + normalUpperQuantile((1 - confidence) / 2) * sigma(m, n, ranks.withinTies);
  return {
    u: ranks.u,
    z,
    pValue: Math.min(1, 2 * normalUpperTail(Math.abs(z))),
    estimate,
    lower: kth(clamp(Math.floor(pairs - a) + 1, pairs)),
    upper: kth(clamp(Math.floor(a) + 1, pairs)),
    confidence,
  };
}
