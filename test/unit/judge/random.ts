/**
 * Seeded random numbers for the judge's simulations, written out so a failure replays bit for bit and
 * no sampling library stands between the tests and what they claim.
 */

/** mulberry32 (Tommy Ettinger): a 32-bit state, uniform in [0, 1), good enough for Monte Carlo of this size. */
export function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal by Box-Muller (one of the pair; the other is thrown away for simplicity). */
export function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Exponential with mean 1, by inversion: skewed like latencies. */
export function exponential(random: () => number): number {
  return -Math.log(1 - random());
}

/**
 * Binomial(n, p) by inversion of its distribution function, term by term from k = 0: O(np) draws,
 * fine for the small error rates here (it needs (1 − p)^n not to underflow, np below ~700).
 */
export function binomial(random: () => number, n: number, p: number): number {
  const u = random();
  let k = 0;
  let probability = (1 - p) ** n;
  let cumulative = probability;
  while (u > cumulative && k < n) {
    probability *= ((n - k) / (k + 1)) * (p / (1 - p));
    k++;
    cumulative += probability;
  }
  return k;
}
