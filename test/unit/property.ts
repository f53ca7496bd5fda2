import type { Parameters as FcParameters } from 'fast-check';

/**
 * One seed for every property test, so CI is repeatable: FLEDGE_PROPERTY_SEED replays a reported
 * failure (fast-check prints the seed and the shrunk counterexample), FLEDGE_PROPERTY_RUNS searches
 * harder locally.
 */
export function propertyParameters<T>(defaultRuns: number): FcParameters<T> {
  return {
    seed: Number(process.env.FLEDGE_PROPERTY_SEED ?? 20261124),
    numRuns: Number(process.env.FLEDGE_PROPERTY_RUNS ?? defaultRuns),
    verbose: 1,
  };
}
