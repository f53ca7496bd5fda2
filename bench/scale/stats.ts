export interface Percentiles {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles, in the samples' unit, rounded to whole numbers. */
export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => Math.round(sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN);
  return { samples: sorted.length, p50: rank(50), p90: rank(90), p99: rank(99), max: rank(100) };
}
