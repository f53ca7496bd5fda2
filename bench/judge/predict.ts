// The offline prediction a live run is checked against: bench/judge.ts's simulator, analyses and threshold tuning at
// the live run's parameters (requests a look per arm, error rates, look, horizon, alpha), over many releases: the
// probability that each analysis aborts a scenario's release, and the spread of its time to detect.
import { Rng, streamSeed } from '../../test/harness/random.js';
import type { Analysis } from './analyses.js';
import { Simulator, canaryWindowErrorRates, type Scenario, type SimConfig } from './simulate.js';
import { percentile, round, wilson } from './summary.js';
import { abortingThreshold, tuneThreshold, type Tuned } from './thresholds.js';

export interface LiveShape {
  /** Requests a second each arm (canary, baseline) gets, and the share of all traffic that is. */
  armRequestsPerSecond: number;
  weight: number;
  lookSeconds: number;
  /** The horizon: looks until a release that was not aborted is promoted. */
  looks: number;
  /** The threshold's window, in looks. */
  windowLooks: number;
  baseErrorRate: number;
}

/** Only error counts are simulated (no latency draws): the p95 fields are the simulator's defaults, unused. */
export function simConfig(shape: LiveShape): SimConfig {
  const { armRequestsPerSecond, weight, lookSeconds, looks, windowLooks, baseErrorRate } = shape;
  return { requestsPerSecond: armRequestsPerSecond / weight, weight, lookSeconds, looks, windowLooks, baseErrorRate, p95Ms: 200, latencySigma: 0.5 };
}

export function goodScenario(baseErrorRate: number): Scenario {
  return { name: 'good', label: 'good', baselineErrorRate: baseErrorRate, canaryErrorRate: baseErrorRate, canaryLatencyFactor: 1, truth: 'good' };
}

/**
 * `errorRate < T` with this failureLimit, T the lowest on bench/judge.ts's grid that aborts at most `target` of
 * `releases` good releases of this shape (over the whole horizon): the threshold at its best for that false-abort rate.
 */
export function tuneErrorRateThreshold(shape: LiveShape, failureLimit: number, target: number, releases: number, seed: number): Tuned {
  const simulator = new Simulator(simConfig(shape));
  const good = { ...goodScenario(shape.baseErrorRate), name: 'tuning' };
  const aborting: number[] = [];
  for (let i = 0; i < releases; i++) {
    const release = simulator.release(good, new Rng(streamSeed(seed, good.name, i)));
    aborting.push(abortingThreshold(canaryWindowErrorRates(release, shape.windowLooks), failureLimit));
  }
  return tuneThreshold(aborting, target, 0.001, 0.0001);
}

export interface Prediction {
  releases: number;
  aborted: number;
  abortProbability: number;
  abortCi: [number, number];
  /** Seconds from the analysis's start to the abort, over the releases it aborted: p5, median, p95. */
  detectSeconds?: { p5: number; p50: number; p95: number };
}

/** What `analysis` does to `releases` simulated releases of `scenario` at this shape. */
export function predict(shape: LiveShape, scenario: Scenario, analysis: Analysis, releases: number, seed: number): Prediction {
  const simulator = new Simulator(simConfig(shape));
  const abortSeconds: number[] = [];
  for (let i = 0; i < releases; i++) {
    const look = analysis.abortLook(simulator.release(scenario, new Rng(streamSeed(seed, scenario.name, i))));
    if (look !== undefined) abortSeconds.push((look + 1) * shape.lookSeconds);
  }
  abortSeconds.sort((a, b) => a - b);
  const [p5, p50, p95] = [0.05, 0.5, 0.95].map((q) => percentile(abortSeconds, q));
  return {
    releases,
    aborted: abortSeconds.length,
    abortProbability: round(abortSeconds.length / releases, 5),
    abortCi: wilson(abortSeconds.length, releases).map((v) => round(v, 5)) as [number, number],
    ...(p5 !== undefined && p50 !== undefined && p95 !== undefined && { detectSeconds: { p5, p50, p95 } }),
  };
}
