// What the bench reports of a set of releases: a rate with its 95% Wilson interval, and percentiles of the times to detect.

/** The Wilson score interval (z = 1.96): stays inside [0, 1] and is honest at 0 of 2,000, where the normal one is not. */
export function wilson(successes: number, n: number, z = 1.959963984540054): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Nearest-rank percentile of sorted values (q in (0, 1]); undefined of none. */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

export const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/**
 * The central 95% range of a Binomial(n, p) count: the smallest k with P(X ≤ k) > 2.5% to the smallest with
 * P(X ≤ k) ≥ 97.5%. A live count outside it is evidence against p at about the 5% level.
 */
export function binomialRange(n: number, p: number): [number, number] {
  let cdf = 0;
  let low: number | undefined;
  for (let k = 0; k <= n; k++) {
    cdf += binomialPmf(n, k, p);
    if (low === undefined && cdf > 0.025) low = k;
    if (cdf >= 0.975 - 1e-12) return [low ?? k, k];
  }
  return [low ?? n, n];
}

function binomialPmf(n: number, k: number, p: number): number {
  if (p <= 0) return k === 0 ? 1 : 0;
  if (p >= 1) return k === n ? 1 : 0;
  let logChoose = 0;
  for (let i = 1; i <= k; i++) logChoose += Math.log(n - k + i) - Math.log(i);
  return Math.exp(logChoose + k * Math.log(p) + (n - k) * Math.log(1 - p));
}
