// Seeded randomness for the judge's bench and the workload simulator's random error mode: sfc32 (Chris
// Doty-Humphrey's small fast counting generator, 128 bits of state), one generator per stream seeded from the run's
// seed, and what a simulated release draws: Poisson request counts, binomial error counts, and uniforms that become
// lognormal latencies by the normal quantile. Not mulberry32: its state is one 32-bit counter, so every seed starts
// somewhere on the same cycle of 2^32 draws, and thousands of streams of tens of thousands of draws each would
// overlap. Nothing here reads Math.random: a seed replays a run.

/** A 32-bit integer hash (the finaliser of MurmurHash3). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of one stream (a scenario's releases, their latencies, the tuning set) and one release in it. */
export function streamSeed(seed: number, stream: string, index: number): number {
  let h = mix(seed ^ 0x9e3779b9);
  for (let i = 0; i < stream.length; i++) h = mix(h ^ stream.charCodeAt(i));
  return mix(h ^ mix(index + 0x632be5ab));
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = mix(seed ^ 0x243f6a88);
    this.b = mix(seed ^ 0x85a308d3);
    this.c = mix(seed ^ 0x13198a2e);
    this.d = 1;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** sfc32: uniform on (0, 1), never 0 or 1 (the half step keeps a quantile finite). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return ((t >>> 0) + 0.5) / 4294967296;
  }

  /**
   * Binomial(n, p) by inversion from 0 (a few steps at the bench's means of 1 to 12 errors a look). Above a mean of
   * 200, where (1 - p)^n nears underflow and inversion gets slow, the normal approximation, rounded and clamped.
   */
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const mean = n * p;
    if (mean > 200) return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * normalQuantile(this.next()))));
    const odds = p / (1 - p);
    let pk = (1 - p) ** n;
    let cdf = pk;
    const u = this.next();
    let k = 0;
    while (u > cdf && k < n) {
      pk *= (odds * (n - k)) / (k + 1);
      k++;
      cdf += pk;
    }
    return k;
  }
}

/**
 * Poisson(mean) by inversion on a table of its CDF, built once per mean (in log space, so large means do not underflow
 * e^-mean), searched by bisection: exact to double precision and a handful of steps a draw.
 */
export class PoissonTable {
  private readonly cdf: Float64Array;

  constructor(readonly mean: number) {
    if (!(mean > 0)) throw new Error(`a Poisson mean must be positive, got ${mean}`);
    const top = Math.ceil(mean + 12 * Math.sqrt(mean) + 30);
    const logPmf = new Float64Array(top + 1);
    logPmf[0] = -mean;
    for (let k = 1; k <= top; k++) logPmf[k] = (logPmf[k - 1] ?? 0) + Math.log(mean) - Math.log(k);
    const peak = logPmf.reduce((a, b) => Math.max(a, b), -Infinity);
    this.cdf = new Float64Array(top + 1);
    let sum = 0;
    for (let k = 0; k <= top; k++) {
      sum += Math.exp((logPmf[k] ?? 0) - peak);
      this.cdf[k] = sum;
    }
    for (let k = 0; k <= top; k++) this.cdf[k] = (this.cdf[k] ?? 0) / sum;
  }

  /** The largest count it can draw (the mean plus 12 standard deviations): sizes the buffers of a look. */
  get max(): number {
    return this.cdf.length - 1;
  }

  sample(rng: Rng): number {
    const u = rng.next();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The standard normal quantile, by Acklam's rational approximations (relative error below 1.2e-9): a latency is
 * exp(mu + sigma * normalQuantile(u)) for a uniform u, and since that is increasing in u, an order statistic of the
 * latencies is the same order statistic of the uniforms, transformed once.
 */
export function normalQuantile(p: number): number {
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x =
      (((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) * q + 4.374664141464968) * q + 2.938163982698783) /
      ((((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r + 1.38357751867269e2) * r - 3.066479806614716e1) * r + 2.506628277459239) * q) /
    (((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r + 6.680131188771972e1) * r - 1.328068155288572e1) * r + 1)
  );
}
