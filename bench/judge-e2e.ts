// The judge's detection record, end to end: a handful of good and bad releases on the local data plane, where a load
// generator's requests go through the Gateway API and a real Traefik to simulated pods that fail each request at
// random with the rate their image tag gives (the simulator's random error mode, seeded), and Prometheus scrapes
// Traefik's counters. Each release is judged live by the sequential count test against a baseline behind the router;
// its twin, the same release on a Rollout of its own, by the threshold users write today, tuned as bench/judge.ts
// tunes it. Then the offline simulator predicts, at the same parameters and at the request rates the arms were
// measured to get, each analysis's abort probability and time to detect over many releases, and the live outcomes
// are checked against that. Writes bench/recorded/judge-e2e.json and prints a Markdown table; `--help` lists the
// options. Not part of `npm test`: it loads the machine for several minutes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { AnalysisRun } from '../src/api/analysis.js';
import type { RolloutStatus } from '../src/api/rollout.js';
import { down, up } from '../test/harness/cluster.js';
import { kubectlBinary } from '../test/harness/config.js';
import { gatewayRoute, gatewayServices } from '../test/harness/dataplane.js';
import { sendMany, startLoad, type LoadGenerator } from '../test/harness/load.js';
import { startSimulator, type Simulator } from '../test/harness/simulator.js';
import { sequentialJudge, thresholdAnalysis, type Analysis } from './judge/analyses.js';
import { liveOutcome, liveRollout, templates, type LiveAnalysis, type LiveAnalysisShape, type LiveOutcome } from './judge/live.js';
import { goodScenario, predict, tuneErrorRateThreshold, type LiveShape, type Prediction } from './judge/predict.js';
import { canaryWindowErrorRates, type Scenario } from './judge/simulate.js';
import { binomialRange, round } from './judge/summary.js';

const USAGE = `usage: npm run bench:judge-e2e -- [options]
  --releases N             live releases per scenario (good, bad) and analysis (judge, threshold) (default 4)
  --rps R                  requests a second the load generator sends each release's app (default 20)
  --weight W               the canary's setWeight in %, and the baseline's share beside it (default 40)
  --bad-errors P           the bad releases' error rate in whole % (default 5; every other version fails 1%)
  --looks N                the horizon: looks of 10 s before a release is promoted (default 18)
  --seed S                 the simulator's seed, and the prediction's (default 1)
  --prediction-releases N  simulated releases per prediction (default 4000)
  --out PATH               where the JSON goes (default bench/recorded/judge-e2e.json)`;

const { values: flags } = parseArgs({
  options: {
    releases: { type: 'string', default: '4' },
    rps: { type: 'string', default: '20' },
    weight: { type: 'string', default: '40' },
    'bad-errors': { type: 'string', default: '5' },
    looks: { type: 'string', default: '18' },
    seed: { type: 'string', default: '1' },
    'prediction-releases': { type: 'string', default: '4000' },
    out: { type: 'string', default: join(import.meta.dirname, 'recorded', 'judge-e2e.json') },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [releasesPerGroup, rps, weight, badPercent, looks, seed, predictionReleases] = [
  flags.releases,
  flags.rps,
  flags.weight,
  flags['bad-errors'],
  flags.looks,
  flags.seed,
  flags['prediction-releases'],
].map(Number) as [number, number, number, number, number, number, number];
for (const value of [releasesPerGroup, rps, weight, badPercent, looks, seed, predictionReleases]) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`every option takes a positive integer\n${USAGE}`);
}
if (weight > 50) throw new Error(`--weight at most 50: the baseline takes as much again\n${USAGE}`);

const root = join(import.meta.dirname, '..');
const log = (line: string): void => void process.stderr.write(`bench:judge-e2e: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

const BASE_PERCENT = 1;
const LOOK_SECONDS = 10;
/** The threshold's window: a PromQL [1m] over 10 s looks, as in the offline bench. */
const WINDOW_LOOKS = 6;
/** failureLimit 2: of the two the offline bench tunes, the one that detected 1% → 2% sooner at equal false aborts. */
const FAILURE_LIMIT = 2;
const FALSE_ABORT_TARGET = 0.01;
const TUNING_RELEASES = 20_000;
const ALPHA = 0.01;
const REPLICAS = 5;
const WARMUP_SECONDS = 30;

const tag = (version: string, percent: number): string => `${version}-errors${String(percent).padStart(2, '0')}`;
type ScenarioName = 'good' | 'bad';
const SCENARIOS: Record<ScenarioName, { percent: number; scenario: Scenario }> = {
  good: { percent: BASE_PERCENT, scenario: goodScenario(BASE_PERCENT / 100) },
  bad: {
    percent: badPercent,
    scenario: { ...goodScenario(BASE_PERCENT / 100), name: 'bad', label: `${BASE_PERCENT}% → ${badPercent}%`, canaryErrorRate: badPercent / 100, truth: 'regression', metric: 'errorRate' },
  },
};
const SCENARIO_NAMES: readonly ScenarioName[] = ['good', 'bad'];

const plannedShape: LiveShape = { armRequestsPerSecond: (rps * weight) / 100, weight: weight / 100, lookSeconds: LOOK_SECONDS, looks, windowLooks: WINDOW_LOOKS, baseErrorRate: BASE_PERCENT / 100 };

interface Release {
  app: string;
  analysis: LiveAnalysis;
  scenario: ScenarioName;
  host: string;
  image: string;
  stableRevision?: string;
  load?: LoadGenerator;
  verdict?: LiveOutcome['verdict'];
}

/** Polls `probe` until it returns something, or throws with `what` after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const startedCpu = process.cpuUsage();
  const loadBefore = loadavg();

  // 1. The threshold, tuned offline at the planned shape before anything runs: it goes into the template.
  const tuned = tuneErrorRateThreshold(plannedShape, FAILURE_LIMIT, FALSE_ABORT_TARGET, TUNING_RELEASES, seed);
  log(`errorRate threshold tuned on ${TUNING_RELEASES} good releases at ${plannedShape.armRequestsPerSecond} req/s an arm: < ${tuned.threshold} (${tuned.tuningFalseAbortRate} aborted there)`);
  const analysisShape: LiveAnalysisShape = { lookSeconds: LOOK_SECONDS, looks, windowLooks: WINDOW_LOOKS, alpha: ALPHA, threshold: tuned.threshold, failureLimit: FAILURE_LIMIT };

  // 2. The cluster, the simulator (random errors) and the controller, in a namespace of the run's own.
  const cluster = await up(log);
  const runDir = mkdtempSync(join(tmpdir(), 'fledge-judge-e2e-'));
  // Not execFileSync: the load generator and the simulated pods share this process's event loop.
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const child = promisify(execFile)(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, '--cache-dir', join(runDir, 'kube-cache'), ...args], { maxBuffer: 16 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  };
  await kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(root, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '--all', 'crd']);
  const namespace = `judge-e2e-${Date.now().toString(36)}`;
  await kubectl(['create', 'namespace', namespace]);
  const apply = (objects: object[]): Promise<string> => kubectl(['apply', '-n', namespace, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const fledge = { group: 'fledge.dev', version: 'v1alpha1', namespace };

  let simulator: Simulator | undefined;
  let controller: ChildProcess | undefined;
  const releases: Release[] = [];
  try {
    simulator = await startSimulator({ kubeconfig: cluster.kubeconfig, namespaces: [namespace], targetsDir: cluster.prometheusTargetsDir, requestsPerSecond: 0, randomErrors: { seed }, log });
    const controllerLog = join(runDir, 'controller.log');
    const fd = openSync(controllerLog, 'a');
    controller = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/main.ts'), '--kubeconfig', cluster.kubeconfig, '--namespaces', namespace, '--prometheus-address', cluster.prometheusUrl, '--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'],
      { cwd: root, stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    log(`namespace ${namespace}; controller log ${controllerLog}`);

    for (const scenario of SCENARIO_NAMES) {
      for (let i = 0; i < releasesPerGroup; i++) {
        for (const analysis of ['judge', 'threshold'] as const) {
          const app = `${analysis}-${scenario}-${i}`;
          releases.push({ app, analysis, scenario, host: `${app}.${namespace}.fledge.test`, image: `demo:${tag('v2', SCENARIOS[scenario].percent)}` });
        }
      }
    }
    const rolloutShape = { replicas: REPLICAS, weight, warmupSeconds: WARMUP_SECONDS };
    const rolloutOf = (release: Release, image: string): object => liveRollout(release.app, image, release.analysis, `${namespace}-${release.app}`, rolloutShape);
    const stableImage = `demo:${tag('v1', BASE_PERCENT)}`;
    await apply([...templates(analysisShape), ...releases.flatMap((release) => [...gatewayServices(release.app), gatewayRoute(release.app, release.host), rolloutOf(release, stableImage)])]);
    const status = async (app: string): Promise<RolloutStatus> =>
      ((await custom.getNamespacedCustomObject({ ...fledge, plural: 'rollouts', name: app })) as { status?: RolloutStatus }).status ?? {};
    for (const release of releases) {
      const healthy = await until(`${release.app} Healthy on v1`, async () => {
        const s = await status(release.app);
        return s.phase === 'Healthy' && s.stableRevision !== undefined ? s : undefined;
      }, 180_000);
      release.stableRevision = healthy.stableRevision;
      await until(`${release.app} answering through the gateway`, async () => {
        const answers = await sendMany({ url: cluster.gatewayUrl, host: release.host }, 20, 4);
        return answers.every((answer) => answer.version === tag('v1', BASE_PERCENT)) ? true : undefined;
      }, 60_000, 250);
    }
    log(`${releases.length} Rollouts Healthy on v1 and served through Traefik; load ${rps} req/s each`);

    // 3. The releases, all at once, each with its load; then wait for every verdict.
    for (const release of releases) release.load = startLoad({ url: cluster.gatewayUrl, host: release.host }, rps);
    await sleep(5000);
    const releasedAt = Date.now();
    await apply(releases.map((release) => rolloutOf(release, release.image)));
    const deadline = releasedAt + (WARMUP_SECONDS + looks * LOOK_SECONDS + 240) * 1000;
    while (releases.some((release) => release.verdict === undefined) && Date.now() < deadline) {
      for (const release of releases.filter((r) => r.verdict === undefined)) {
        const s = await status(release.app).catch(() => undefined);
        if (s?.phase === 'Degraded' && s.abort === true) release.verdict = 'aborted';
        else if (s?.phase === 'Healthy' && s.stableRevision !== release.stableRevision && s.stableRevision === s.currentRevision) release.verdict = 'promoted';
        if (release.verdict !== undefined) log(`${release.app}: ${release.verdict} ${Math.round((Date.now() - releasedAt) / 1000)} s after the release`);
      }
      await sleep(2000);
    }
    const liveSeconds = round((Date.now() - releasedAt) / 1000, 1);
    await Promise.all(releases.map((release) => release.load?.stop()));

    // 4. Each release's outcome, from its AnalysisRun and the answers.
    const outcomes = await Promise.all(
      releases.map(async (release) => {
        const runs = (await custom.listNamespacedCustomObject({ ...fledge, plural: 'analysisruns', labelSelector: `fledge.dev/rollout=${release.app}` })) as { items: AnalysisRun[] };
        if (runs.items.length > 1) throw new Error(`${release.app} has ${runs.items.length} AnalysisRuns, not one`);
        const arms = { canaryVersion: release.image.slice('demo:'.length), baselineHash: `${release.stableRevision}-baseline` };
        return liveOutcome(release.analysis, release.verdict ?? 'unfinished', runs.items[0], release.load?.answers() ?? [], arms, analysisShape);
      }),
    );
    const liveReleases = releases.map((release, i) => ({ app: release.app, analysis: release.analysis, scenario: release.scenario, image: release.image, ...(outcomes[i] as LiveOutcome) }));

    // 5. The prediction per analysis and scenario, at the request rate its arms were measured to get.
    const analyses: Record<LiveAnalysis, Analysis> = {
      judge: sequentialJudge({ alpha: ALPHA, tolerance: 0 }),
      threshold: thresholdAnalysis('errorRate', tuned.threshold, FAILURE_LIMIT, (release) => canaryWindowErrorRates(release, WINDOW_LOOKS)),
    };
    const groups = (['judge', 'threshold'] as const).flatMap((analysis) =>
      SCENARIO_NAMES.map((scenario): Group => {
        const live = liveReleases.filter((r) => r.analysis === analysis && r.scenario === scenario);
        const rates = live.flatMap((r) => {
          const secs = r.analysisSeconds ?? 0;
          return secs > 0 ? [r.served.canary / secs, ...(r.served.baseline !== undefined ? [r.served.baseline / secs] : [])] : [];
        });
        const armRequestsPerSecond = rates.length > 0 ? round(rates.reduce((a, b) => a + b, 0) / rates.length, 2) : plannedShape.armRequestsPerSecond;
        const predicted: Prediction = predict({ ...plannedShape, armRequestsPerSecond }, SCENARIOS[scenario].scenario, analyses[analysis], predictionReleases, seed);
        const finished = live.filter((r) => r.verdict !== 'unfinished');
        const aborted = finished.filter((r) => r.verdict === 'aborted');
        const range = binomialRange(finished.length, predicted.abortProbability);
        const times = aborted.flatMap((r) => (r.detectSeconds === undefined ? [] : [r.detectSeconds]));
        const spread = predicted.detectSeconds;
        const within = spread === undefined ? 0 : times.filter((t) => t >= spread.p5 && t <= spread.p95).length;
        return {
          analysis,
          scenario,
          armRequestsPerSecond,
          predicted,
          live: { releases: finished.length, unfinished: live.length - finished.length, aborted: aborted.length, detectSeconds: times },
          checks: {
            abortCountRange: range,
            abortCountAgrees: aborted.length >= range[0] && aborted.length <= range[1],
            detectionsWithinP5P95: within,
            detections: times.length,
          },
        };
      }),
    );

    const cpu = process.cpuUsage(startedCpu);
    const report = {
      generatedAt: new Date().toISOString(),
      seed,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, totalMemoryGiB: round(totalmem() / 2 ** 30, 1), loadAverageBefore: loadBefore.map((v) => round(v, 2)), loadAverageAfter: loadavg().map((v) => round(v, 2)) },
      config: {
        releasesPerScenarioAndAnalysis: releasesPerGroup,
        requestsPerSecondPerApp: rps,
        weightPercent: weight,
        plannedArmRequestsPerSecond: plannedShape.armRequestsPerSecond,
        replicas: REPLICAS,
        warmupSeconds: WARMUP_SECONDS,
        lookSeconds: LOOK_SECONDS,
        horizonLooks: looks,
        errorRates: { stable: BASE_PERCENT / 100, baseline: BASE_PERCENT / 100, good: BASE_PERCENT / 100, bad: badPercent / 100 },
        judge: { test: 'sequential count test', alpha: ALPHA, tolerance: 0, direction: 'increase', counts: 'Traefik per backend Service, increase() over each look' },
        threshold: { condition: `errorRate < ${tuned.threshold}`, windowLooks: WINDOW_LOOKS, failureLimit: FAILURE_LIMIT, tunedOn: { releases: TUNING_RELEASES, falseAbortTarget: FALSE_ABORT_TARGET, armRequestsPerSecond: plannedShape.armRequestsPerSecond }, tuningFalseAbortRate: tuned.tuningFalseAbortRate },
        predictionReleases,
        errorMode: 'simulator random errors: each request fails with its pod’s rate, one seeded sfc32 stream per pod',
      },
      releases: liveReleases,
      groups,
      agreement: {
        abortCounts: `${groups.filter((g) => g.checks.abortCountAgrees).length} of ${groups.length} groups within the predicted binomial 95% range`,
        detectionTimes: `${groups.reduce((n, g) => n + g.checks.detectionsWithinP5P95, 0)} of ${groups.reduce((n, g) => n + g.checks.detections, 0)} live detections within the predicted p5–p95`,
      },
      liveSeconds,
      runtimeSeconds: round((performance.now() - started) / 1000, 1),
      cpuSecondsOfThisProcess: round((cpu.user + cpu.system) / 1e6, 1),
    };
    const out = resolve(flags.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${table(groups)}\n\n${report.agreement.abortCounts}; ${report.agreement.detectionTimes}. Live part ${liveSeconds} s, all ${report.runtimeSeconds} s; wrote ${out}\n`);
  } finally {
    await Promise.all(releases.map((release) => release.load?.stop()));
    if (controller !== undefined && controller.exitCode === null) {
      const exited = new Promise((done) => controller?.once('exit', done));
      controller.kill('SIGTERM');
      await exited;
    }
    await simulator?.stop();
    try {
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    } catch (err) {
      log(`could not delete namespace ${namespace}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!cluster.reused) await down(log);
  }
}

interface Group {
  analysis: LiveAnalysis;
  scenario: ScenarioName;
  armRequestsPerSecond: number;
  predicted: Prediction;
  live: { releases: number; unfinished: number; aborted: number; detectSeconds: number[] };
  checks: { abortCountRange: [number, number]; abortCountAgrees: boolean; detectionsWithinP5P95: number; detections: number };
}

function table(groups: readonly Group[]): string {
  const pct = (v: number): string => `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`;
  const rows = groups.map((g) => {
    const p = g.predicted;
    const [low, high] = p.abortCi;
    const times = p.detectSeconds === undefined ? '—' : `${p.detectSeconds.p5} / ${p.detectSeconds.p50} / ${p.detectSeconds.p95} s`;
    const live = g.live.detectSeconds.length === 0 ? '—' : `${g.live.detectSeconds.join(', ')} s`;
    const agrees = `${g.checks.abortCountAgrees ? 'yes' : 'NO'} (${g.checks.abortCountRange.join('–')}); ${g.checks.detections === 0 ? '—' : `${g.checks.detectionsWithinP5P95} of ${g.checks.detections}`}`;
    return `| ${g.analysis} | ${SCENARIOS[g.scenario].scenario.label} | ${g.armRequestsPerSecond} | ${pct(p.abortProbability)} (${pct(low)}–${pct(high)}) | ${times} | ${g.live.aborted} of ${g.live.releases} | ${live} | ${agrees} |`;
  });
  return [
    '| analysis | release | req/s an arm (measured) | predicted: aborted (95% CI) | predicted: time to detect p5 / median / p95 | live: aborted | live: time to detect | agrees: count in range; times in p5–p95 |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

main().catch((err: unknown) => {
  log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
