/**
 * The standard normal distribution, to the precision the judge's p-values need. Written here rather than
 * taken from a library because two short, classical expansions give close to double precision (checked
 * against R's pnorm and qnorm in the tests), and a p-value of 1e-12 must not come out as 0 or 1e-9.
 */

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Below this, the Taylor series of Φ converges fast and 0.5 − φ·series loses at most 1e-13 relative. */
const SERIES_LIMIT = 3;

/** Terms of the continued fraction for z ≥ 3: enough for 1e-15 relative at z = 3 (fewer suffice further out). */
const FRACTION_TERMS = 300;

function normalDensity(z: number): number {
  return Math.exp(-0.5 * z * z) / SQRT_2PI;
}

/** Φ(z) − 1/2 = φ(z)·(z + z³/3 + z⁵/(3·5) + …), every term positive, so no cancellation inside the sum. */
function centralSeries(z: number): number {
  let term = z;
  let sum = z;
  for (let k = 1; Math.abs(term) > 1e-17 * Math.abs(sum); k++) {
    term *= (z * z) / (2 * k + 1);
    sum += term;
  }
  return normalDensity(z) * sum;
}

/** Laplace's continued fraction Q(z) = φ(z) / (z + 1/(z + 2/(z + 3/(z + …)))), evaluated from the tail inwards. */
function tailFraction(z: number): number {
  let denominator = z;
  for (let k = FRACTION_TERMS; k >= 1; k--) denominator = z + k / denominator;
  return normalDensity(z) / denominator;
}

/**
 * Q(z) = P(Z > z), the upper tail. Computed directly, not as 1 − Φ(z), so a small tail keeps its
 * relative precision: a p-value of 1e-30 is still 1e-30.
 */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z < 0) return 1 - normalUpperTail(-z);
  return z < SERIES_LIMIT ? 0.5 - centralSeries(z) : tailFraction(z);
}

/**
 * The z with Q(z) = q, for 0 < q < 1: the critical value of a two-sided interval at confidence c is
 * normalUpperQuantile((1 − c)/2). A rational starting point (Abramowitz & Stegun 26.2.23, error below
 * 4.5e-4) refined by Newton's method on Q, which converges to full precision in a few steps.
 */
export function normalUpperQuantile(q: number): number {
  if (!(q > 0 && q < 1)) throw new RangeError(`a tail probability must lie strictly between 0 and 1, not ${q}`);
  if (q > 0.5) return -normalUpperQuantile(1 - q);
  const t = Math.sqrt(-2 * Math.log(q));
  let z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
  for (let step = 0; step < 20; step++) {
    const next = z + (normalUpperTail(z) - q) / normalDensity(z);
    if (Math.abs(next - z) <= 1e-15 * Math.max(1, Math.abs(z))) return next;
    z = next;
  }
  return z;
}
