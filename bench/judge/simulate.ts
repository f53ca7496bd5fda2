// One simulated release: what the canary and the baseline served, look by look, with a ground truth the bench sets.
// Each arm's requests in a look are Poisson (rate × weight × look), its errors binomial in those requests, and each
// request's latency lognormal (exp of mu + sigma × the normal quantile of a uniform); a regression scales the
// canary's error rate or every one of its latencies. p95s are exact, by nearest rank over the requests they cover.
import { PoissonTable, Rng, normalQuantile } from '../../test/harness/random.js';

export interface SimConfig {
  /** All traffic, requests a second; the canary and the baseline each get `weight` of it, stable the rest. */
  requestsPerSecond: number;
  weight: number;
  /** One look is one analysis measurement; a release is analysed for `looks` of them at most. */
  lookSeconds: number;
  looks: number;
  /** The fixed thresholds' window (a PromQL `[1m]` over 10 s looks is 6 of them). */
  windowLooks: number;
  baseErrorRate: number;
  /** Latency per request: lognormal with this p95 (the baseline's and a good canary's) and this sigma of its log. */
  p95Ms: number;
  latencySigma: number;
}

export type MetricName = 'errorRate' | 'p95';

export interface Scenario {
  name: string;
  label: string;
  baselineErrorRate: number;
  canaryErrorRate: number;
  /** Multiplies every canary request's latency, so its p95 too (1: unchanged). */
  canaryLatencyFactor: number;
  /** Ground truth: a good release must not abort; a regression, in `metric`, should. */
  truth: 'good' | 'regression';
  /** Which metric the regression is in; a good release is judged on both. */
  metric?: MetricName;
}

export interface Release {
  canaryRequests: Int32Array;
  canaryErrors: Int32Array;
  baselineRequests: Int32Array;
  baselineErrors: Int32Array;
  /** Per look, in ms: the p95 of that look's requests of each arm, and the canary's over the window ending there (NaN until the window is full). Only when latency was simulated. */
  canaryP95?: Float64Array;
  baselineP95?: Float64Array;
  canaryWindowP95?: Float64Array;
}

/** The p95 by nearest rank: the ceil(0.95 n)-th smallest (integer arithmetic, so 0.95 × 100 is exactly 95). */
export function p95Rank(n: number): number {
  return Math.ceil((95 * n) / 100);
}

/**
 * A look's latencies of one arm, as the uniforms they are drawn from (a latency is increasing in its uniform, so
 * order statistics are taken on the uniforms): all of them, and those above CANDIDATE, sorted. A p95 is among the
 * top 5%, so it is almost always among the candidates (the top quarter on average) and only those get sorted; when
 * there are too few, everything is sorted instead, so the answer is exact either way.
 */
interface ArmLook {
  all: Float64Array;
  n: number;
  top: Float64Array;
  topCount: number;
}

const CANDIDATE = 0.75;

function armLook(size: number): ArmLook {
  return { all: new Float64Array(size), n: 0, top: new Float64Array(size), topCount: 0 };
}

function draw(look: ArmLook, n: number, rng: Rng): void {
  look.n = n;
  let topCount = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    look.all[i] = u;
    if (u > CANDIDATE) look.top[topCount++] = u;
  }
  look.topCount = topCount;
  look.top.subarray(0, topCount).sort();
}

/** The uniform at the p95 of one look, NaN without requests. */
function lookP95(look: ArmLook): number {
  if (look.n === 0) return Number.NaN;
  const rank = p95Rank(look.n);
  const fromTop = look.n - rank + 1;
  if (look.topCount >= fromTop) return look.top[look.topCount - fromTop] as number;
  return Float64Array.from(look.all.subarray(0, look.n)).sort()[rank - 1] as number;
}

/** The uniform at the p95 of several looks' requests together: the m-th largest, merged from the looks' candidates. */
function windowP95(looks: readonly ArmLook[]): number {
  let total = 0;
  let candidates = 0;
  for (const look of looks) {
    total += look.n;
    candidates += look.topCount;
  }
  if (total === 0) return Number.NaN;
  const rank = p95Rank(total);
  const fromTop = total - rank + 1;
  if (candidates < fromTop) {
    const all = new Float64Array(total);
    let at = 0;
    for (const look of looks) {
      all.set(look.all.subarray(0, look.n), at);
      at += look.n;
    }
    return all.sort()[rank - 1] as number;
  }
  const heads = looks.map((look) => look.topCount - 1);
  let value = Number.NaN;
  for (let taken = 0; taken < fromTop; taken++) {
    let best = -1;
    value = -Infinity;
    for (let s = 0; s < looks.length; s++) {
      const h = heads[s] as number;
      if (h < 0) continue;
      const v = (looks[s] as ArmLook).top[h] as number;
      if (v > value) {
        value = v;
        best = s;
      }
    }
    heads[best] = (heads[best] as number) - 1;
  }
  return value;
}

export class Simulator {
  private readonly arm: PoissonTable;
  private readonly logMedian: number;
  /** The last `windowLooks` looks of the canary, and this look of the baseline. */
  private readonly canaryWindow: ArmLook[];
  private readonly baselineLook: ArmLook;

  constructor(readonly config: SimConfig) {
    this.arm = new PoissonTable(config.requestsPerSecond * config.weight * config.lookSeconds);
    // p95 = exp(mu + 1.6449 sigma) for a lognormal: the median that puts the p95 where it is asked to be.
    this.logMedian = Math.log(config.p95Ms) - normalQuantile(0.95) * config.latencySigma;
    this.canaryWindow = Array.from({ length: config.windowLooks }, () => armLook(this.arm.max + 1));
    this.baselineLook = armLook(this.arm.max + 1);
  }

  /** Requests a look per arm, on average. */
  get armRequestsPerLook(): number {
    return this.arm.mean;
  }

  /**
   * Counts come from `counts`, latencies from `latencies` (when given: only scenarios judged on latency need them, a
   * draw per request), so a release's counts are the same whether its latencies are simulated or not.
   */
  release(scenario: Scenario, counts: Rng, latencies?: Rng): Release {
    const { looks, windowLooks, latencySigma } = this.config;
    const release: Release = {
      canaryRequests: new Int32Array(looks),
      canaryErrors: new Int32Array(looks),
      baselineRequests: new Int32Array(looks),
      baselineErrors: new Int32Array(looks),
    };
    const canaryP95 = new Float64Array(looks);
    const baselineP95 = new Float64Array(looks);
    const canaryWindowP95 = new Float64Array(looks).fill(Number.NaN);
    if (latencies !== undefined) Object.assign(release, { canaryP95, baselineP95, canaryWindowP95 });
    const canaryLogMedian = this.logMedian + Math.log(scenario.canaryLatencyFactor);
    const canaryMs = (u: number): number => Math.exp(canaryLogMedian + latencySigma * normalQuantile(u));
    for (let look = 0; look < looks; look++) {
      const canary = this.arm.sample(counts);
      const baseline = this.arm.sample(counts);
      release.canaryRequests[look] = canary;
      release.baselineRequests[look] = baseline;
      release.canaryErrors[look] = counts.binomial(canary, scenario.canaryErrorRate);
      release.baselineErrors[look] = counts.binomial(baseline, scenario.baselineErrorRate);
      if (latencies === undefined) continue;
      const mine = this.canaryWindow[look % windowLooks] as ArmLook;
      draw(mine, canary, latencies);
      draw(this.baselineLook, baseline, latencies);
      canaryP95[look] = canaryMs(lookP95(mine));
      baselineP95[look] = Math.exp(this.logMedian + latencySigma * normalQuantile(lookP95(this.baselineLook)));
      if (look >= windowLooks - 1) canaryWindowP95[look] = canaryMs(windowP95(this.canaryWindow));
    }
    return release;
  }
}

/** The canary's error rate over the window ending at each look (NaN until the window is full): what `errorRate < T` reads. */
export function canaryWindowErrorRates(release: Release, windowLooks: number): Float64Array {
  const looks = release.canaryRequests.length;
  const rates = new Float64Array(looks).fill(Number.NaN);
  let requests = 0;
  let errors = 0;
  for (let look = 0; look < looks; look++) {
    requests += release.canaryRequests[look] as number;
    errors += release.canaryErrors[look] as number;
    if (look >= windowLooks) {
      requests -= release.canaryRequests[look - windowLooks] as number;
      errors -= release.canaryErrors[look - windowLooks] as number;
    }
    if (look >= windowLooks - 1 && requests > 0) rates[look] = errors / requests;
  }
  return rates;
}
