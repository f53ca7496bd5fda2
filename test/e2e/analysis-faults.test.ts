import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AnalysisPhase } from '../../src/api/analysis.js';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, holdsFor, installCrds, prometheusUrl, recordWatch, startController, type ControllerProcess } from '../harness/e2e.js';
import { analysisTemplate, canaryRollout } from '../harness/manifests.js';
import { namespaceKit } from '../harness/namespace-kit.js';
import { BAD_PROMETHEUS_ANSWERS, startPrometheusImpostor, vector, type PrometheusImpostor } from '../harness/prometheus-impostor.js';
import { startSimulator, type Simulator } from '../harness/simulator.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const isHeld = (s: RolloutStatus): boolean => s.phase === 'Paused' && s.conditions?.some((c) => c.type === 'Paused' && c.status === 'True' && c.reason === 'AnalysisHold') === true;
const isAborted = (s: RolloutStatus): boolean => s.phase === 'Degraded' && s.abort === true;

type Outcome = 'aborted' | 'held' | 'promoted';
const outcomeOf = (s: RolloutStatus, initialStable: string): Outcome | undefined => {
  if (isAborted(s)) return 'aborted';
  if (isHeld(s)) return 'held';
  if (s.phase === 'Healthy' && s.stableRevision !== initialStable) return 'promoted';
  return undefined;
};

interface FaultCase {
  /** The Rollout, its AnalysisTemplate and the impostor's path prefix. */
  name: string;
  image: string;
  expected: Outcome;
  run: AnalysisPhase;
  /** The newest measurement's message (or value, for verdicts on a number). */
  last: { message?: RegExp; value?: RegExp };
  /** The query's deadline (1s unless the case needs time to reach what it checks). */
  timeout?: string;
}

const errorCase = (name: keyof typeof BAD_PROMETHEUS_ANSWERS, message: RegExp): FaultCase => ({ name, image: 'demo:v2', expected: 'aborted', run: 'Error', last: { message } });
const NO_DATA = /^no data: /;

const CASES: FaultCase[] = [
  errorCase('http500-text', /^HTTP 500: the answer is not JSON: internal server error/),
  errorCase('http500-json', /^HTTP 500$/),
  errorCase('hang', /^the Prometheus query to http:\/\/127\.0\.0\.1:\d+ did not finish within its [\d.]+ m?s deadline \(gave up after [\d.]+ m?s\)$/),
  errorCase('proxy-html-502', /^HTTP 502: the answer is not JSON: <html>/),
  errorCase('error-envelope-200', /^Prometheus error \(execution\): query processing would load too many samples/),
  errorCase('error-envelope-422', /^HTTP 422: Prometheus error \(bad_data\): invalid parameter/),
  errorCase('matrix-for-vector', /returned a matrix/),
  errorCase('no-result-type', /^unexpected Prometheus response/),
  errorCase('value-not-a-pair', /^unexpected Prometheus response/),
  errorCase('two-series-for-scalar', /expects one number but the query returned several series/),
  // The size cap, not the deadline, must end this one: 8 MiB through a loaded machine can take more than a second.
  { ...errorCase('huge-50mb-not-json', /^the answer is larger than 8388608 bytes/), timeout: '20s' },
  { name: 'nan', image: 'demo:v2', expected: 'held', run: 'Inconclusive', last: { message: NO_DATA, value: /^NaN$/ } },
  { name: 'plus-inf', image: 'demo:v2', expected: 'aborted', run: 'Failed', last: { message: /successCondition result < 0\.05 is false/, value: /^\+Inf$/ } },
  { name: 'minus-inf', image: 'demo:v2', expected: 'held', run: 'Inconclusive', last: { message: /not finite/, value: /^-Inf$/ } },
  { name: 'empty-vector', image: 'demo:v2', expected: 'held', run: 'Inconclusive', last: { message: /^no data: the query returned no series/ } },
  // The real thing: the harness Prometheus scraping a canary that fails half its requests, judged the Argo way.
  { name: 'real-prometheus', image: 'demo:v2-errors50', expected: 'aborted', run: 'Failed', last: { message: /successCondition result\[0\] < 0\.05 is false/, value: /^0\.[456]\d*$/ } },
  // The control: the same setup with a good answer is promoted, so the checks above can tell.
  { name: 'good-answer', image: 'demo:v2', expected: 'promoted', run: 'Successful', last: { value: /^0\.01$/ } },
];

const REPLICAS = 2;

function manifests(impostor: PrometheusImpostor): string {
  const docs: string[] = [];
  for (const c of CASES) {
    const real = c.name === 'real-prometheus';
    const query = real
      ? 'sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="{{args.namespace}}",pod_template_hash="{{args.canary-hash}}"}[10s]))'
      : 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';
    docs.push(
      JSON.stringify(
        analysisTemplate(c.name, {
          ...(real && { args: [{ name: 'namespace' }, { name: 'canary-hash' }] }),
          metrics: [
            {
              name: 'error-rate',
              // The real Prometheus needs a few scrapes of the canary's pods before rate() has an answer.
              ...(real && { initialDelay: '8s' }),
              interval: '1s',
              count: 1,
              consecutiveErrorLimit: 1,
              successCondition: real ? 'result[0] < 0.05' : 'result < 0.05',
              provider: { prometheus: { address: real ? prometheusUrl() : impostor.address(c.name), timeout: c.timeout ?? '1s', query } },
            },
          ],
        }),
      ),
      JSON.stringify(
        canaryRollout(c.name, {
          replicas: REPLICAS,
          image: 'demo:v1',
          canary: {
            steps: [
              { setWeight: 20 },
              {
                analysis: {
                  templates: [{ templateName: c.name }],
                  ...(real && {
                    args: [
                      { name: 'namespace', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                      { name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } },
                    ],
                  }),
                },
              },
              { setWeight: 100 },
            ],
          },
        }),
      ),
    );
  }
  return docs.join('\n---\n');
}

describe('a canary judged by a Prometheus that answers badly is never promoted', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let kit: ReturnType<typeof namespaceKit>;
  let impostor: PrometheusImpostor;
  let simulator: Simulator;
  let controller: ControllerProcess;
  const initialStable = new Map<string, string>();
  const canaryRevision = new Map<string, string>();
  /** Every sighting of a faulty canary's stable revision moving, from the image change to the end of the file. */
  const promotions: string[] = [];
  const heldSince = new Map<string, number>();
  let watching = true;
  let watcher: Promise<void> | undefined;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('faults');
    kit = namespaceKit(ns.name);
    impostor = await startPrometheusImpostor({ ...BAD_PROMETHEUS_ANSWERS, 'good-answer': vector('0.01') });
    simulator = await startSimulator({ kubeconfig: inject('kubeconfig'), namespaces: [ns.name], targetsDir: inject('prometheusTargetsDir') });
    controller = await startController(ns.name);
    await kit.apply(manifests(impostor));
    for (const c of CASES) {
      const healthy = await kit.waitFor(c.name, 'Healthy on demo:v1', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined);
      initialStable.set(c.name, healthy.stableRevision as string);
    }
    await Promise.all(CASES.map((c) => kit.setImage(c.name, c.image)));
    watcher = (async () => {
      while (watching) {
        const statuses = await kit.statuses().catch(() => new Map<string, RolloutStatus>());
        for (const c of CASES) {
          const s = statuses.get(c.name);
          if (s === undefined) continue;
          if (c.expected !== 'promoted' && s.stableRevision !== initialStable.get(c.name)) promotions.push(`${c.name}: ${JSON.stringify(s)}`);
          if (isHeld(s) && !heldSince.has(c.name)) heldSince.set(c.name, Date.now());
        }
        await sleep(250);
      }
    })();
  });
  afterAll(async (ctx) => {
    watching = false;
    await watcher;
    await controller?.kill();
    await simulator?.stop();
    await impostor?.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller?.output().slice(-30_000)}\n`);
    await ns?.remove();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const stable = initialStable.get(name) as string;
    const final = await kit.waitFor(name, `an outcome (${c.expected} expected)`, (s) => outcomeOf(s, stable) !== undefined);
    const canary = final.currentRevision as string;
    canaryRevision.set(name, canary);
    const [run] = await kit.runsOf(name, canary);
    const metric = run?.status?.metricResults?.[0];
    const last = metric?.measurements.at(-1);
    process.stderr.write(
      `fault ${name}: Rollout ${final.phase} (${outcomeOf(final, stable)}) "${final.message ?? ''}"; AnalysisRun ${run?.status?.phase} ${run?.status?.summary ?? ''}; last measurement ${last?.phase} ${last?.value ?? ''} ${last?.message ?? ''}\n`,
    );

    expect(outcomeOf(final, stable)).toBe(c.expected);
    expect(run?.status?.phase).toBe(c.run);
    if (c.last.message) expect(last?.message).toMatch(c.last.message);
    if (c.last.value) expect(last?.value).toMatch(c.last.value);

    if (c.expected === 'promoted') {
      expect(final.stableRevision).toBe(canary);
      return;
    }
    expect(canary).not.toBe(stable);
    expect(final.stableRevision).toBe(stable);
    if (c.run === 'Error') {
      // Retried once (consecutiveErrorLimit 1), and no error ever counted as a measurement of the canary.
      expect(metric).toMatchObject({ phase: 'Error', count: 0, successful: 0, error: 2, consecutiveError: 2 });
      expect(metric?.measurements.map((m) => m.phase)).toEqual(['Error', 'Error']);
      expect(final.message).toMatch(/analysis errored .*metric error-rate errored/);
      expect(impostor.queries(name)).toBeGreaterThanOrEqual(2);
    }
    if (c.expected === 'aborted') {
      const sets = await eventually(`${name}: canary scaled to 0, stable back to ${REPLICAS}`, async () => {
        const rs = await kit.replicaSets(name);
        return rs.get(canary)?.replicas === 0 && rs.get(stable)?.available === REPLICAS ? rs : undefined;
      }, { timeoutMs: 30_000 });
      expect(sets.get(canary)?.replicas).toBe(0);
    }
    if (c.expected === 'held') {
      expect(final.currentStepIndex).toBe(1);
      expect(final.conditions?.find((cond) => cond.type === 'Paused')?.message).toMatch(/inconclusive/);
    }
  });

  it('keeps every hold held and every abort aborted, and no faulty canary was ever promoted while watched', async () => {
    const holds = CASES.filter((c) => c.expected === 'held');
    expect([...heldSince.keys()].sort()).toEqual(holds.map((c) => c.name).sort());
    // Held for at least 5 s: a hold that times out into a promotion would show here.
    await holdsFor(
      Math.max(0, Math.max(...heldSince.values()) + 5_000 - Date.now()),
      async () => {
        const statuses = await kit.statuses();
        for (const c of CASES) {
          const s = statuses.get(c.name) ?? {};
          expect(outcomeOf(s, initialStable.get(c.name) as string), c.name).toBe(c.expected);
          expect(s.currentRevision, c.name).toBe(canaryRevision.get(c.name));
        }
      },
      { what: 'every outcome, on its canary revision' },
    );
    expect(promotions).toEqual([]);
  });
});

describe('SIGKILL of the controller during a canary with a background analysis', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let kit: ReturnType<typeof namespaceKit>;
  let impostor: PrometheusImpostor;
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('faults-kill');
    kit = namespaceKit(ns.name);
    impostor = await startPrometheusImpostor({ healthy: vector('0.01') });
  });
  afterAll(async (ctx) => {
    for (const controller of controllers) await controller.kill();
    await impostor?.stop();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await ns?.remove();
  });

  it('completes with only the new revision, within surge at every sample, and ends each pause no kill overlapped within 2 s of its deadline', async () => {
    const replicas = 4;
    const maxSurge = 1; // the default 25% of 4
    const pauses = new Map([
      [1, 3_000],
      [3, 4_000],
      [5, 3_000],
    ]);
    await kit.apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: healthy}
spec:
  metrics:
  - name: error-rate
    interval: 1s
    successCondition: result < 0.05
    provider: {prometheus: {address: "${impostor.address('healthy')}", timeout: 1s, query: vector(0.01)}}
---
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: phoenix}
spec:
  replicas: ${replicas}
  # Every weight step then lasts at least a second, so a kill aimed at one lands inside it.
  minReadySeconds: 1
  selector: {matchLabels: {app: phoenix}}
  template: {metadata: {labels: {app: phoenix}}, spec: {containers: [{name: app, image: demo:v1}]}}
  strategy:
    canary:
      analysis: {templates: [{templateName: healthy}]}
      steps:
      - setWeight: 25
      - pause: {duration: 3s}
      - setWeight: 50
      - pause: {duration: 4s}
      - setWeight: 75
      - pause: {duration: 3s}
`);
    let controller = await startController(ns.name);
    controllers.push(controller);
    const stable = (await kit.waitFor('phoenix', 'Healthy on demo:v1', (s) => s.phase === 'Healthy')).stableRevision as string;

    interface Sample {
      at: number;
      status: RolloutStatus;
      sets: Awaited<ReturnType<typeof kit.replicaSets>>;
    }
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const at = Date.now();
        const [status, sets] = await Promise.all([kit.status('phoenix'), kit.replicaSets('phoenix')]);
        samples.push({ at, status, sets });
        await sleep(Math.max(0, at + 200 - Date.now()));
      }
    })();

    const kills: Array<{ killedAt: number; readyAt: number }> = [];
    const killAndRestart = async (): Promise<void> => {
      const killedAt = Date.now();
      await controller.kill('SIGKILL');
      controller = await startController(ns.name);
      controllers.push(controller);
      const started = controller;
      const line = await eventually('restarted controller reconciling', async () => started.output().split('\n').find((l) => l.includes('"msg":"reconciling"')), { intervalMs: 50 });
      // The controller's own clock: it logs this line before its first reconcile can write anything.
      kills.push({ killedAt, readyAt: Date.parse((JSON.parse(line) as { time: string }).time) });
    };

    // Every status write, in order: the pause timings below are read from these, on the controller's own clock.
    const writes = await recordWatch<{ status?: RolloutStatus }>(`/apis/fledge.dev/v1alpha1/namespaces/${ns.name}/rollouts`, { fieldSelector: 'metadata.name=phoenix' });
    await kit.setImage('phoenix', 'demo:v2');
    // While the first weight is scaling the canary up, half a second before the second pause's deadline (so the
    // deadline passes with no controller running), and as the third weight begins: the first and last pauses
    // start only after a restart. Each kill waits for the sampler to have seen its moment, so that no kill falls
    // between a pause's end and the sample that shows it.
    const sampled = (what: string, check: (s: Sample) => boolean): Promise<Sample> =>
      eventually(what, async () => {
        const last = samples.at(-1);
        return last !== undefined && check(last) ? last : undefined;
      }, { intervalMs: 50 });
    await sampled('canary ReplicaSet', (s) => [...s.sets.keys()].some((rev) => rev !== stable));
    await killAndRestart();
    const pausing = await sampled('in the 4 s pause', (s) => s.status.currentStepIndex === 3 && s.status.pauseStartTime !== undefined);
    await sleep(Date.parse(pausing.status.pauseStartTime as string) + 3_500 - Date.now());
    await killAndRestart();
    await sampled('past the 4 s pause', (s) => (s.status.currentStepIndex ?? 0) >= 4);
    await killAndRestart();
    const done = await kit.waitFor('phoenix', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== stable);
    const canary = done.currentRevision as string;
    // The sampler stops only once it has itself seen the end state: a sample in flight when the promotion landed
    // must not be its last.
    const finalSets = (
      await sampled('only the new revision left', (s) => {
        const { sets } = s;
        return s.status.stableRevision === canary && sets.get(stable)?.replicas === 0 && sets.get(stable)?.current === 0 && sets.get(canary)?.available === replicas;
      })
    ).sets;
    sampling = false;
    await sampler;
    const statuses = (await writes.stop()).map((rollout) => rollout.status ?? {});

    expect(done.stableRevision).toBe(canary);
    expect([...finalSets.entries()].filter(([, rs]) => rs.replicas > 0).map(([rev]) => rev)).toEqual([canary]);
    expect(kills).toHaveLength(3);

    // Pods within replicas + maxSurge, and never fewer available than replicas (maxUnavailable 0), at every sample.
    const total = (s: Sample, pick: (rs: { replicas: number; current: number; available: number }) => number): number => [...s.sets.values()].reduce((sum, rs) => sum + pick(rs), 0);
    const during = samples.filter((s) => s.status.currentRevision === canary);
    expect(during.length).toBeGreaterThan(50);
    const overSurge = during.filter((s) => total(s, (rs) => rs.replicas) > replicas + maxSurge || total(s, (rs) => rs.current) > replicas + maxSurge);
    expect(overSurge.map((s) => ({ at: s.at, sets: Object.fromEntries(s.sets) }))).toEqual([]);
    const underAvailable = during.filter((s) => total(s, (rs) => rs.available) < replicas);
    expect(underAvailable.map((s) => ({ at: s.at, sets: Object.fromEntries(s.sets) }))).toEqual([]);

    // Each pause: its start survives every restart, it never ends early, and it ends within 2 s of its deadline,
    // or of the restart when a kill overlapped it. Start and end are the controller's own clock: pauseStartTime, and
    // the Paused condition's lastTransitionTime in the first status write past the pause.
    const report: string[] = [];
    let unkilledPauses = 0;
    for (const [step, durationMs] of pauses) {
      const inPause = statuses.map((s, i) => ({ s, i })).filter(({ s }) => s.currentRevision === canary && s.currentStepIndex === step && s.pauseStartTime !== undefined);
      expect(inPause.length, `status writes in the pause at step ${step}`).toBeGreaterThan(0);
      const starts = new Set(inPause.map(({ s }) => s.pauseStartTime));
      expect([...starts], `pauseStartTime of step ${step}`).toHaveLength(1);
      const start = Date.parse(inPause[0]?.s.pauseStartTime as string);
      const deadline = start + durationMs;
      const lastInPause = inPause.at(-1)?.i ?? 0;
      const ended = statuses.find((s, i) => i > lastInPause && s.currentRevision === canary && ((s.currentStepIndex ?? 0) > step || s.stableRevision === canary));
      expect(ended, `the pause at step ${step} ended`).toBeDefined();
      const paused = ended?.conditions?.find((c) => c.type === 'Paused');
      expect(paused?.status, `the Paused condition past step ${step}`).toBe('False');
      const endedAt = Date.parse(paused?.lastTransitionTime as string);
      const overlapping = kills.filter((k) => k.killedAt <= endedAt && k.readyAt >= start);
      const due = Math.max(deadline, ...overlapping.map((k) => k.readyAt));
      report.push(`step ${step} (${durationMs} ms): ended ${endedAt - deadline} ms after its deadline${overlapping.length > 0 ? `, ${endedAt - due} ms after the restart that overlapped it` : ''}`);
      expect(endedAt, `the pause at step ${step} ended before its deadline`).toBeGreaterThanOrEqual(deadline);
      expect(endedAt - due, `the pause at step ${step} ended late`).toBeLessThanOrEqual(2_000);
      if (overlapping.length === 0) unkilledPauses++;
    }
    process.stderr.write(
      `SIGKILL: ${kills.map((k) => `down ${k.readyAt - k.killedAt} ms`).join(', ')}; ${report.join('; ')}; max pods ${Math.max(...during.map((s) => total(s, (rs) => rs.current)))}, min available ${Math.min(...during.map((s) => total(s, (rs) => rs.available)))} over ${during.length} samples (longest gap ${Math.max(...during.slice(1).map((s, i) => s.at - (during[i] as Sample).at))} ms)\n`,
    );
    expect(unkilledPauses, 'pauses that no kill overlapped').toBeGreaterThanOrEqual(1);

    // The background analysis went on across the restarts in one run, and judged the canary healthy.
    const runs = await kit.runsOf('phoenix', canary);
    expect(runs.map((run) => run.metadata.name)).toEqual([expect.stringMatching(/-bg$/)]);
    const metric = runs[0]?.status?.metricResults?.[0];
    expect(runs[0]?.status?.phase).toBe('Successful');
    expect(metric?.error).toBe(0);
    expect(metric?.successful).toBeGreaterThanOrEqual(5);
  });
});
