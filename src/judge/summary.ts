/** What a person reads beside a verdict: the spread of the samples that were actually judged. */
export interface Summary {
  n: number;
  min: number;
  p25: number;
  median: number;
  p75: number;
  p90: number;
  max: number;
  mean: number;
}

/**
 * The p-quantile of ascending values by linear interpolation between order statistics (Hyndman & Fan's
 * type 7, R's and NumPy's default), so the figures a person checks with R or a spreadsheet agree.
 */
export function quantileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * p;
  const below = Math.floor(h);
  const low = sorted[below] as number;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return low + (h - below) * (high - low);
}

/** Ascending, as numbers: a Float64Array sorts numerically (a plain array's sort() would compare strings). */
export function sortedCopy(samples: readonly number[]): Float64Array {
  return Float64Array.from(samples).sort();
}

/**
 * The summary of samples as given: the judge calls it after dropping non-finite values and outliers, so
 * n is the count the test saw. With no samples every figure but n is NaN: there is nothing to describe.
 */
export function summarize(samples: readonly number[]): Summary {
  const sorted = sortedCopy(samples);
  const n = sorted.length;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    n,
    min: n === 0 ? Number.NaN : (sorted[0] as number),
    p25: quantileOfSorted(sorted, 0.25),
    median: quantileOfSorted(sorted, 0.5),
    p75: quantileOfSorted(sorted, 0.75),
    p90: quantileOfSorted(sorted, 0.9),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
    mean: n === 0 ? Number.NaN : sum / n,
  };
}
