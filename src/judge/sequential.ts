import { formatNumber, type Direction } from './judge.js';

export interface Counts {
  errors: number;
  requests: number;
}

/** One look's new counts, not running totals. Negative or non-finite counts read as 0, others are rounded, and errors are capped at requests. */
export interface CountIncrement {
  baseline: Counts;
  canary: Counts;
}

export interface SequentialOptions {
  /** The chance of ever calling a good canary a regression, however often one looks. Default 0.01. */
  alpha: number;
  /** Default 'increase': more canary errors is the regression. */
  direction: Direction;
  /** Default 0: the null hypothesis is rate ratio ≤ 1 + tolerance (for 'decrease', ≥ 1/(1 + tolerance)). */
  tolerance: number;
}

export const SEQUENTIAL_DEFAULTS: SequentialOptions = { alpha: 0.01, direction: 'increase', tolerance: 0 };

export interface SequentialResult {
  /** Whether the e-process reached 1/alpha at some look; it stays rejected after, whatever later looks say. */
  rejected: boolean;
  /** The index (into the increments) of the look at which it first did. */
  rejectedAt?: number;
  /** Which way the canary regressed; with direction 'either', the side whose e-process crossed. */
  rejectedSide?: 'increase' | 'decrease';
  /** The e-process at the last look (1 before any error). Infinity once its log passes ~709: see logEValue. */
  eValue: number;
  logEValue: number;
  /** canary error rate / baseline error rate over all looks; NaN without requests or errors on a side to divide by, Infinity with no baseline error. */
  ratio: number;
  /** The anytime-valid (1 − alpha) confidence sequence for the rate ratio at the last look; 0 and Infinity when not bounded. */
  lowerBound: number;
  upperBound: number;
  /** Totals over all looks. */
  baseline: Counts;
  canary: Counts;
  /** One line, e.g. "canary 2.1% (42/2000) vs baseline 1% (20/2000) errors: rate ratio 2.1, 99% anytime-valid interval [1.3, 3.6]; e-value 152 ≥ 100: regression". */
  explanation: string;
}

/** A look reduced to what the conditional likelihood needs: the errors on each side and each side's share of the requests. */
interface Look {
  canaryErrors: number;
  baselineErrors: number;
  logCanaryShare: number;
  logBaselineShare: number;
}

/**
 * The prior of the mixture: 40 alternatives ρ0·r with r log-evenly spaced from 1.02 to 20, equal
 * weights. Fixed in advance (it must not depend on the data, or the mixture is no longer an e-process);
 * 1.02 because a smaller excess is no regression anyone acts on, 20 because a larger one drives the
 * top alternatives' ratios past 1/alpha within a few errors anyway. The spacing also sets the
 * confidence sequence's resolution: it cannot narrow much below ±2% however many errors are counted.
 */
const ALTERNATIVES = Array.from({ length: 40 }, (_, k) => Math.log(1.02) + (k / 39) * Math.log(20 / 1.02));
const LOG_WEIGHT = -Math.log(ALTERNATIVES.length);

/** The confidence sequence is searched for ratios in [1e-6, 1e6]; beyond, its bounds are reported as 0 and Infinity. */
const SEARCH_LIMIT = Math.log(1e6);

/** The search for a bound in log ρ stops at this width: bounds to a relative 1e-6, rounded outwards. */
const SEARCH_WIDTH = 1e-6;

function count(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

function sanitize(counts: Counts): Counts {
  const requests = count(counts.requests);
  return { errors: Math.min(count(counts.errors), requests), requests };
}

/**
 * A look with no error, or with no requests on one side, is left out: it is a factor of exactly 1 in
 * every likelihood ratio. With no error there is nothing to attribute; with one side idle every error
 * is the other side's whatever ρ is, so the split carries no information about ρ.
 */
function toLook(increment: CountIncrement): Look | undefined {
  const canary = sanitize(increment.canary);
  const baseline = sanitize(increment.baseline);
  if (canary.errors + baseline.errors === 0 || canary.requests === 0 || baseline.requests === 0) return undefined;
  const requests = canary.requests + baseline.requests;
  return { canaryErrors: canary.errors, baselineErrors: baseline.errors, logCanaryShare: Math.log(canary.requests / requests), logBaselineShare: Math.log(baseline.requests / requests) };
}

/** The same look seen from the baseline: the ratio becomes 1/ρ, so a test for a decrease is a test for an increase. */
function mirror(look: Look): Look {
  return { canaryErrors: look.baselineErrors, baselineErrors: look.canaryErrors, logCanaryShare: look.logBaselineShare, logBaselineShare: look.logCanaryShare };
}

function logAddExp(a: number, b: number): number {
  const high = Math.max(a, b);
  return high + Math.log1p(Math.exp(-Math.abs(a - b)));
}

function logSumExp(values: readonly number[]): number {
  const high = Math.max(...values);
  let sum = 0;
  for (const value of values) sum += Math.exp(value - high);
  return high + Math.log(sum);
}

/**
 * The log-likelihood of a look at log ρ = u, up to a term free of ρ: eC·log θ + eB·log(1 − θ) with
 * θ = ρs / (ρs + 1 − s), that is eC·u − (eC + eB)·log(ρs + 1 − s) (+ eC·log s + eB·log(1 − s)).
 * Computed as a log-sum-exp, so a ratio of 1e-6 or 1e6 neither underflows nor overflows.
 */
function logLikelihood(look: Look, u: number): number {
  return look.canaryErrors * u - (look.canaryErrors + look.baselineErrors) * logAddExp(look.logCanaryShare + u, look.logBaselineShare);
}

function sumLogLikelihood(looks: readonly Look[], u: number): number {
  let sum = 0;
  for (const look of looks) sum += logLikelihood(look, u);
  return sum;
}

/** log E for H0: ρ ≤ e^u0 from the looks' summed log-likelihoods: the mixture over the alternatives of the likelihood ratios. */
function logMixture(looks: readonly Look[], u0: number): number {
  const atNull = sumLogLikelihood(looks, u0);
  return logSumExp(ALTERNATIVES.map((r) => LOG_WEIGHT + sumLogLikelihood(looks, u0 + r) - atNull));
}

/**
 * log E_t after each increment, for H0: ρ ≤ e^u0 (an increase beyond it is the regression). Kept as
 * running sums of the per-alternative log-likelihood ratios, O(40) per look.
 */
function logEProcess(looks: readonly (Look | undefined)[], u0: number): number[] {
  const sums = ALTERNATIVES.map(() => 0);
  return looks.map((look) => {
    if (look !== undefined) {
      const atNull = logLikelihood(look, u0);
      ALTERNATIVES.forEach((r, k) => (sums[k] = (sums[k] as number) + logLikelihood(look, u0 + r) - atNull));
    }
    return LOG_WEIGHT + logSumExp(sums);
  });
}

/** Looks with the same shares add up: the likelihood depends on a look only through its errors and shares. */
function pooled(looks: readonly Look[]): Look[] {
  const byShare = new Map<number, Look>();
  for (const look of looks) {
    const seen = byShare.get(look.logCanaryShare);
    byShare.set(look.logCanaryShare, seen === undefined ? look : { ...seen, canaryErrors: seen.canaryErrors + look.canaryErrors, baselineErrors: seen.baselineErrors + look.baselineErrors });
  }
  return [...byShare.values()];
}

interface Bracket {
  /** A log ratio the test rejects, and its margin log E + log alpha (≥ 0). */
  excluded: number;
  atExcluded: number;
  /** A log ratio it does not reject (margin < 0). */
  included: number;
  atIncluded: number;
}

/**
 * Brackets the bound with steps that double away from `start`, where the data put the ratio, so the
 * search begins beside the bound rather than across all of [1e-6, 1e6]. Reaching the limit first
 * means there is no bound inside it: 0 below, and above, e^limit, a bound that can only be too low.
 */
function bracketFrom(margin: (u0: number) => number, start: number): Bracket | number {
  const atStart = margin(start);
  const upwards = atStart >= 0;
  let previous = { u: start, at: atStart };
  for (let step = 0.25; ; step *= 2) {
    const u = Math.min(Math.max(start + (upwards ? step : -step), -SEARCH_LIMIT), SEARCH_LIMIT);
    const at = margin(u);
    if (at >= 0 !== upwards) {
      return upwards ? { excluded: previous.u, atExcluded: previous.at, included: u, atIncluded: at } : { excluded: u, atExcluded: at, included: previous.u, atIncluded: previous.at };
    }
    if (Math.abs(u) === SEARCH_LIMIT) return upwards ? Math.exp(SEARCH_LIMIT) : 0;
    previous = { u, at };
  }
}

/**
 * The smallest ratio not rejected by the one-sided test of H0: ρ ≤ ρ0 at level alphaSide, i.e.
 * inf{ρ0 : E(ρ0) < 1/alphaSide}. E(ρ0) never increases with ρ0 (the log-likelihood is concave in log ρ,
 * so each log-ratio ℓ(u0 + r) − ℓ(u0) with r > 0 falls as u0 grows), so the set is [bound, ∞). Its end
 * is found in log ρ0 from a bracket by regula falsi with the Illinois modification (it cannot leave the
 * bracket, and converges superlinearly); the bracket's excluded end is returned, which can only widen
 * the sequence.
 */
function lowerBoundOf(looks: readonly Look[], alphaSide: number, start: number): number {
  const margin = (u0: number): number => logMixture(looks, u0) + Math.log(alphaSide);
  const found = bracketFrom(margin, start);
  if (typeof found === 'number') return found;
  let { excluded, atExcluded, included, atIncluded } = found;
  let lastMoved: 'excluded' | 'included' | undefined;
  while (included - excluded > SEARCH_WIDTH) {
    const secant = (excluded * atIncluded - included * atExcluded) / (atIncluded - atExcluded);
    const next = secant > excluded && secant < included ? secant : (excluded + included) / 2;
    const atNext = margin(next);
    if (atNext >= 0) {
      [excluded, atExcluded] = [next, atNext];
      if (lastMoved === 'excluded') atIncluded /= 2;
      lastMoved = 'excluded';
    } else {
      [included, atIncluded] = [next, atNext];
      if (lastMoved === 'included') atExcluded /= 2;
      lastMoved = 'included';
    }
  }
  return Math.exp(excluded);
}

interface Decision {
  /** log of the e-process at the last look. */
  logEValue: number;
  /** The first look at which it reached 1/alpha, or −1. */
  crossing: number;
  side?: 'increase' | 'decrease';
}

/**
 * The e-process of the direction, look by look: one side, or for 'either' both sides with
 * max(E+, E−)/2 against the same 1/alpha, which is Bonferroni's alpha/2 for each.
 */
function decide(looks: readonly (Look | undefined)[], options: SequentialOptions): Decision {
  const u0 = Math.log(1 + options.tolerance);
  const sides = (['increase', 'decrease'] as const).filter((side) => options.direction === 'either' || options.direction === side);
  const paths = sides.map((side) => logEProcess(side === 'increase' ? looks : looks.map((look) => (look === undefined ? undefined : mirror(look))), u0));
  const split = Math.log(sides.length);
  const threshold = -Math.log(options.alpha);
  const combined = looks.map((_, t) => Math.max(...paths.map((path) => path[t] as number)) - split);
  const crossing = combined.findIndex((logE) => logE >= threshold);
  const logEValue = combined.at(-1) ?? 0;
  if (crossing < 0) return { logEValue, crossing };
  return { logEValue, crossing, side: sides[paths.findIndex((path) => (path[crossing] as number) - split >= threshold)] };
}

/**
 * Both one-sided tests inverted at alpha/2 each, at the last look: see sequentialCountTest. The searches
 * start at the observed ratio, or at 1 when there is none to take the log of.
 */
function confidenceSequence(looks: readonly Look[], alpha: number, ratio: number): { lowerBound: number; upperBound: number } {
  const start = Number.isFinite(Math.log(ratio)) ? Math.min(Math.max(Math.log(ratio), -SEARCH_LIMIT), SEARCH_LIMIT) : 0;
  return {
    lowerBound: lowerBoundOf(pooled(looks), alpha / 2, start),
    upperBound: 1 / lowerBoundOf(pooled(looks.map(mirror)), alpha / 2, -start),
  };
}

function rate(counts: Counts): string {
  return counts.requests === 0 ? 'no requests' : `${formatNumber((100 * counts.errors) / counts.requests)}% (${counts.errors}/${counts.requests})`;
}

function formatLogE(logE: number): string {
  return logE < 700 ? formatNumber(Math.exp(logE)) : `e^${formatNumber(logE)}`;
}

/**
 * The end of the explanation: the e-value against 1/alpha, and the look at which it crossed if it no
 * longer stands there (counted from 1 for a person; rejectedAt is the index).
 */
function verdictLine(at: { logEValue: number; alpha: number; crossing: number; looks: number; side: string | undefined }): string {
  const eValue = `e-value ${formatLogE(at.logEValue)}`;
  const bar = formatNumber(1 / at.alpha);
  if (at.crossing < 0) return `${eValue} < ${bar}: no regression shown`;
  const where = at.logEValue >= -Math.log(at.alpha) ? `${eValue} ≥ ${bar}` : `${eValue}, past ${bar} at look ${at.crossing + 1} of ${at.looks}`;
  return `${where}: regression${at.side === undefined ? '' : ` (${at.side})`}`;
}

function totals(increments: readonly CountIncrement[], role: 'baseline' | 'canary'): Counts {
  return increments.reduce<Counts>((sum, increment) => {
    const counts = sanitize(increment[role]);
    return { errors: sum.errors + counts.errors, requests: sum.requests + counts.requests };
  }, { errors: 0, requests: 0 });
}

function checkOptions(options: SequentialOptions): void {
  if (!(options.alpha > 0 && options.alpha < 1)) throw new RangeError(`alpha must lie strictly between 0 and 1, not ${options.alpha}`);
  if (!(options.tolerance >= 0 && Number.isFinite(options.tolerance))) throw new RangeError(`tolerance must be a finite number ≥ 0, not ${options.tolerance}`);
}

/**
 * A sequential, anytime-valid test of whether the canary's error rate exceeds the baseline's, for counts
 * of errors out of requests read at each look (Lindon, Sanden & Shirikian, "Rapid Regression Detection
 * in Software Deployments through Sequential Testing", KDD 2022, arXiv:2205.14762; Lindon & Malek,
 * "Anytime-valid inference for multinomial count data", NeurIPS 2022).
 *
 * Model: errors arrive as Poisson processes with rates λ_B·requests_B and λ_C·requests_C. Given that a
 * look saw e errors and the canary served a share s of its requests, each error is the canary's with
 * probability θ(ρ) = ρs / (ρs + 1 − s), where ρ = λ_C/λ_B is the rate ratio; the unknown base rate λ_B,
 * which drifts with traffic, drops out. A look's likelihood ratio of ρ against ρ0 is
 * θ(ρ)^eC (1 − θ(ρ))^eB / (θ(ρ0)^eC (1 − θ(ρ0))^eB).
 *
 * E-process: for direction 'increase', H0: ρ ≤ ρ0 = 1 + tolerance, and E_t is the mixture, over the
 * alternatives ρ0·r (r from 1.02 to 20, see ALTERNATIVES), of the products of the looks' ratios.
 * Why it is valid: if the true ratio is ρ' ≤ ρ0, then given a look's e and s, eC ~ Binomial(e, θ'), and
 * the expectation of one look's ratio is (θ'·θ/θ0 + (1 − θ')(1 − θ)/(1 − θ0))^e. That is linear in θ',
 * equal to 1 at θ' = θ0, and increasing in θ' since θ > θ0; so it is ≤ 1 for every θ' ≤ θ0. Each
 * product is therefore a nonnegative supermartingale under H0, and so is their fixed mixture. Ville's
 * inequality gives P(sup_t E_t ≥ 1/alpha) ≤ alpha: rejecting when E_t first reaches 1/alpha is valid
 * however often one looks and whenever one stops. (With binomial rather than Poisson errors and equal
 * rates the split given e is hypergeometric, which is less spread than the binomial in convex order
 * (Hoeffding, 1963), so each factor's expectation is still ≤ 1.)
 *
 * 'decrease' is the same test with the roles swapped (H0: ρ ≥ 1/(1 + tolerance)); 'either' runs both,
 * each at alpha/2 (Bonferroni), and reports max(E+, E−)/2, which reaches 1/alpha exactly when either
 * side reaches 2/alpha (and is itself an e-value, being below the mean of the two). Everything is in
 * log space.
 *
 * Confidence sequence: at the last look, {ρ0 : E+(ρ0) < 2/alpha and E−(ρ0) < 2/alpha}, where E+(ρ0)
 * tests ρ ≤ ρ0 and E−(ρ0) tests ρ ≥ ρ0 with the same mixture: two one-sided tests each at alpha/2,
 * inverted, whatever the direction. Each is monotone in ρ0, so the set is an interval, whose ends are
 * found by a bracketing search in log ρ0 (to 1e-6, rounded outwards) rather than on a grid; ends beyond
 * [1e-6, 1e6] are reported as 0 and Infinity. By Ville and the union bound, the true ratio lies in every
 * one of these intervals, at every look, with probability ≥ 1 − alpha.
 */
export function sequentialCountTest(increments: readonly CountIncrement[], options: Partial<SequentialOptions> = {}): SequentialResult {
  const opts: SequentialOptions = { ...SEQUENTIAL_DEFAULTS, ...options };
  checkOptions(opts);
  const looks = increments.map(toLook);
  const decision = decide(looks, opts);
  const baseline = totals(increments, 'baseline');
  const canary = totals(increments, 'canary');
  const ratio = canary.errors / canary.requests / (baseline.errors / baseline.requests);
  const bounds = confidenceSequence(looks.filter((look): look is Look => look !== undefined), opts.alpha, ratio);
  const verdict = verdictLine({ ...decision, alpha: opts.alpha, looks: increments.length, side: opts.direction === 'either' ? decision.side : undefined });
  const explanation =
    `canary ${rate(canary)} vs baseline ${rate(baseline)} errors: rate ratio ${formatNumber(ratio)}, ` +
    `${formatNumber(100 * (1 - opts.alpha))}% anytime-valid interval [${formatNumber(bounds.lowerBound)}, ${formatNumber(bounds.upperBound)}]; ${verdict}`;
  return {
    rejected: decision.crossing >= 0,
    ...(decision.crossing >= 0 && { rejectedAt: decision.crossing, rejectedSide: decision.side }),
    eValue: Math.exp(decision.logEValue),
    logEValue: decision.logEValue,
    ratio,
    ...bounds,
    baseline,
    canary,
    explanation,
  };
}
