// Fixed thresholds on the canary alone, as AnalysisTemplates are written today: `result < T` on the window ending at
// each look, and the metric fails once more than failureLimit looks have failed (counted over the release, not in a
// row, as Argo Rollouts counts them). Tuning picks the lowest T on a grid whose false-abort rate over whole good
// releases is at most the target: the threshold at its best for that false-abort rate.

/**
 * The look (0-based) at which a series of window values aborts under `value < threshold` with failureLimit F: the
 * first look where more than F have failed; undefined if the release goes through. NaN (window not yet full) is no
 * measurement.
 */
export function thresholdAbortLook(values: Float64Array, threshold: number, failureLimit: number): number | undefined {
  let failed = 0;
  for (let look = 0; look < values.length; look++) {
    const v = values[look] as number;
    if (Number.isNaN(v) || v < threshold) continue;
    failed++;
    if (failed > failureLimit) return look;
  }
  return undefined;
}

/** The (F+1)-th largest value of a release: `value < T` aborts that release exactly when T is at most this. */
export function abortingThreshold(values: Float64Array, failureLimit: number): number {
  const measured = Array.from(values).filter((v) => !Number.isNaN(v));
  measured.sort((a, b) => b - a);
  return measured[failureLimit] ?? -Infinity;
}

export interface Tuned {
  threshold: number;
  /** The false-abort rate on the tuning releases at that threshold. */
  tuningFalseAbortRate: number;
}

/**
 * The lowest threshold on the grid (start, start + step, ...) whose false-abort rate over the tuning releases is at
 * most `target`, given each release's aborting threshold.
 */
export function tuneThreshold(abortingThresholds: readonly number[], target: number, start: number, step: number): Tuned {
  const sorted = [...abortingThresholds].sort((a, b) => a - b);
  const allowed = Math.floor(target * sorted.length + 1e-9);
  for (let i = 0; ; i++) {
    const threshold = Number((start + i * step).toPrecision(12));
    // A release aborts when its aborting threshold is >= T: count those from the top of the sorted list.
    let aborts = 0;
    for (let j = sorted.length - 1; j >= 0 && (sorted[j] as number) >= threshold; j--) aborts++;
    if (aborts <= allowed) return { threshold, tuningFalseAbortRate: aborts / sorted.length };
  }
}
