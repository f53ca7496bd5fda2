import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { convertText } from '../../src/cli/convert.js';
import { downloadGoModule } from '../harness/build.js';
import { ARGO_ROLLOUTS_VERSION } from '../harness/config.js';
import { controllerSuite, eventually, kubectl, recordWatch, rolloutStatuses } from '../harness/e2e.js';

/**
 * Beyond acceptance (argo-module-corpus.test.ts): Argo Rollouts' own manifests for the routers and fields that have
 * no data plane here, read from its Go module at test time, converted by `kubectl fledge convert`, applied with the
 * objects they come with, and driven to promotion and to abort on the real apiserver. Every version of the router's
 * object is recorded by a watch, and the weights it says are compared with what Argo documents for those steps
 * (docs/features/traffic-management: the canary gets each setWeight in turn, all of it once the steps are done, and
 * none once promoted or aborted).
 */

type Json = Record<string, unknown>;

interface RouterCase {
  /** The manifest in Argo's module. */
  file: string;
  rollout: string;
  /** The router's object: the collection to watch, its name, and the canary weight it says (undefined: none it can read). */
  object: { path: (namespace: string) => string; name: string };
  canaryWeight(object: Json): number | undefined;
}

const annotation = (object: Json, key: string): string | undefined => ((object.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {})[key];

/** ALB: the action annotation's forward config, as the AWS Load Balancer Controller reads it. */
const albWeight =
  (rootService: string, canaryService: string, stableService: string) =>
  (ingress: Json): number | undefined => {
    const action = annotation(ingress, `alb.ingress.kubernetes.io/actions.${rootService}`);
    if (action === undefined) return undefined;
    const groups = (JSON.parse(action) as { ForwardConfig?: { TargetGroups?: Array<{ ServiceName: string; Weight: number }> } }).ForwardConfig?.TargetGroups ?? [];
    const weight = (service: string) => groups.find((group) => group.ServiceName === service)?.Weight;
    const canary = weight(canaryService);
    // The stable target group takes the rest: a split that does not add up to 100 is not one the ALB would route.
    return canary !== undefined && weight(stableService) === 100 - canary ? canary : Number.NaN;
  };

const CASES: RouterCase[] = [
  {
    file: 'test/e2e/functional/alb-canary-rollout.yaml',
    rollout: 'alb-canary',
    object: { path: (ns) => `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`, name: 'alb-canary-ingress' },
    canaryWeight: albWeight('alb-canary-root', 'alb-canary-desired', 'alb-canary-stable'),
  },
  {
    file: 'test/e2e/apisix/rollout-apisix-canary.yaml',
    rollout: 'rollout-apisix-canary',
    object: { path: (ns) => `/apis/apisix.apache.org/v2/namespaces/${ns}/apisixroutes`, name: 'rollouts-apisix-route' },
    canaryWeight: (route) => {
      const rule = ((route.spec as { http?: Array<{ name: string; backends?: Array<{ serviceName: string; weight?: number }> }> }).http ?? []).find((r) => r.name === 'rollouts-apisix');
      const weight = (service: string) => rule?.backends?.find((backend) => backend.serviceName === service)?.weight;
      const canary = weight('rollout-apisix-canary-canary');
      return canary !== undefined && weight('rollout-apisix-canary-stable') === 100 - canary ? canary : Number.NaN;
    },
  },
  {
    file: 'test/e2e/istio/istio-host-http-tls-split.yaml',
    rollout: 'istio-host-split',
    object: { path: (ns) => `/apis/networking.istio.io/v1alpha3/namespaces/${ns}/virtualservices`, name: 'istio-host-split-vsvc' },
    canaryWeight: (service) => {
      type Route = { destination: { host: string }; weight?: number };
      const spec = service.spec as { http?: Array<{ name?: string; route: Route[] }>; tls?: Array<{ route: Route[] }> };
      const canaryOf = (route: Route[] | undefined) => route?.find((destination) => destination.destination.host === 'istio-host-split-canary')?.weight ?? 0;
      const http = canaryOf(spec.http?.find((r) => r.name === 'primary')?.route);
      // The TLS route and the HTTP route are one split: they must agree at every write.
      return (spec.tls ?? []).every((tls) => canaryOf(tls.route) === http) ? http : Number.NaN;
    },
  },
];

describe(`Argo Rollouts ${ARGO_ROLLOUTS_VERSION}'s own manifests, converted, behave as Argo documents`, () => {
  const suite = controllerSuite('argo-behaviour');
  let moduleDir: string;
  const statuses = () => rolloutStatuses(suite.custom, suite.ns.name);

  /** The file as `kubectl fledge convert` writes it, each document in the test's namespace. */
  const converted = (file: string): string => {
    const text = convertText(file, readFileSync(join(moduleDir, file), 'utf8')).file.text;
    return parseAllDocuments(text)
      .map((doc) => {
        doc.deleteIn(['metadata', 'namespace']);
        return doc.toString();
      })
      .join('---\n');
  };
  const patchRollout = async (name: string, patch: object, subresource?: 'status'): Promise<void> => {
    const res = await kubectl(['patch', 'rollout', name, '-n', suite.ns.name, '--type=merge', ...(subresource ? ['--subresource=status'] : []), '-p', JSON.stringify(patch)]);
    expect(res.code, res.stderr).toBe(0);
  };
  /** A new revision of the pod template, as a commit to the Rollout would make. */
  const newRevision = (name: string, revision: string): Promise<void> => patchRollout(name, { spec: { template: { metadata: { annotations: { 'fledge.test/revision': revision } } } } });
  type Step = { setWeight?: number; pause?: { duration?: unknown } };
  const stepsOf = (text: string, rollout: string): Step[] =>
    parseAllDocuments(text)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: { strategy?: { canary?: { steps?: Step[] } } } } | null)
      .find((d) => d?.kind === 'Rollout' && d.metadata?.name === rollout)?.spec?.strategy?.canary?.steps ?? [];
  const setWeights = (text: string, rollout: string): number[] => stepsOf(text, rollout).flatMap((step) => (step.setWeight !== undefined ? [step.setWeight] : []));
  const distinct = (values: Array<number | undefined>): Array<number | undefined> => values.filter((value, index) => index === 0 || !Object.is(value, values[index - 1]));

  beforeAll(async () => {
    moduleDir = await downloadGoModule('github.com/argoproj/argo-rollouts', ARGO_ROLLOUTS_VERSION);
    // APISIX publishes no Go module with its CRDs that the proxy serves; Argo's own e2e installs this copy of them.
    const crds = await kubectl(['apply', '--server-side', '-f', join(moduleDir, 'test/e2e/crds/apisix.yaml')]);
    expect(crds.code, crds.stderr).toBe(0);
    const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/apisixroutes.apisix.apache.org']);
    expect(established.code, established.stderr).toBe(0);
  }, 300_000);

  /**
   * A canary walked through its steps (a pause without a duration promoted as a person would), promoted; then a
   * second one aborted at its first step. The router's object is watched all along.
   */
  const journey = async (test: RouterCase): Promise<string> => {
    const text = converted(test.file);
    await suite.apply(text);
    const first = await statuses().waitFor(test.rollout, 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined, 120_000);
    const watch = await recordWatch<Json>(test.object.path(suite.ns.name), { fieldSelector: `metadata.name=${test.object.name}` });

    await newRevision(test.rollout, '2');
    const promoted = await eventually(
      `${test.rollout}: promoted through its steps`,
      async () => {
        const status: RolloutStatus = await statuses().status(test.rollout);
        if (status.phase === 'Healthy' && status.stableRevision !== first.stableRevision) return status;
        const step = stepsOf(text, test.rollout)[status.currentStepIndex ?? -1];
        // A pause without a duration waits for a person; one with a duration ends by itself.
        if (status.phase === 'Paused' && step?.pause !== undefined && step.pause.duration === undefined && status.promote === undefined) {
          await patchRollout(test.rollout, { status: { promote: 'step' } }, 'status');
        }
        return undefined;
      },
      { timeoutMs: 180_000, intervalMs: 300 },
    );
    // Weight 0 once promoted: the stable Service now selects the promoted pods.
    await eventually(`${test.rollout}: no weight on the canary once promoted`, async () => (test.canaryWeight(watch.objects().at(-1) ?? {}) === 0 ? true : undefined), { timeoutMs: 30_000 });

    await newRevision(test.rollout, '3');
    const firstWeight = setWeights(text, test.rollout)[0] as number;
    await statuses().waitFor(test.rollout, `at ${firstWeight}%`, (s) => s.actualWeight === firstWeight && s.currentRevision !== promoted.stableRevision, 120_000);
    await patchRollout(test.rollout, { status: { abort: true } }, 'status');
    const aborted = await statuses().waitFor(test.rollout, 'aborted', (s) => s.phase === 'Degraded' && s.actualWeight === 0);
    expect(aborted.stableRevision, 'an abort keeps the stable revision').toBe(promoted.stableRevision);
    await eventually(`${test.rollout}: no weight on the canary once aborted`, async () => (test.canaryWeight(watch.objects().at(-1) ?? {}) === 0 ? true : undefined), { timeoutMs: 30_000 });

    const said = distinct((await watch.stop()).map((object) => test.canaryWeight(object)));
    const steps = setWeights(text, test.rollout);
    // As Argo does (rollout/trafficrouting.go): from none, each setWeight in turn, all of it once the steps are done
    // (before the stable Service moves), none once promoted; then the first step's weight, and none again at the
    // abort. Nothing in between, and no write the router could not route.
    expect(said, `${test.file}: the canary weights the router's object said, write by write`).toEqual(distinct([0, ...steps, 100, 0, steps[0], 0]));
    return `${test.file}: ${said.join(' → ')}`;
  };

  it('ALB, APISIX and Istio (HTTP with TLS routes): each setWeight on the router, then all, then none once promoted; none once aborted', { timeout: 400_000 }, async () => {
    const results = await Promise.allSettled(CASES.map((test) => journey(test)));
    for (const result of results) if (result.status === 'fulfilled') process.stderr.write(`argo behaviour: ${result.value}\n`);
    expect(results.flatMap((result, index) => (result.status === 'rejected' ? [`${CASES[index]?.file}: ${String(result.reason)}`] : []))).toEqual([]);
  });

  it('rollbackWindow: going back to a revision inside the window skips the steps, as Argo documents', { timeout: 300_000 }, async () => {
    await suite.apply(converted('test/e2e/functional/analysistemplate-sleep-job.yaml'));
    await suite.apply(converted('test/e2e/functional/rollout-rollback-window.yaml'));
    await patchRollout('window', { metadata: { labels: { rev: 'initial' } } });
    const first = await statuses().waitFor('window', 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined, 120_000);
    // As Argo's own e2e test does: the Rollout's label (its analysis reads it by fieldRef) and the template's move together.
    const revision = (rev: string) => patchRollout('window', { metadata: { labels: { rev } }, spec: { template: { metadata: { labels: { rev } } } } });
    // A new revision goes through its steps: 50%, then the Job analysis Argo's template runs.
    await revision('two');
    const stepped = await statuses().waitFor('window', 'analysing the second revision', (s) => s.stepAnalysisRun !== undefined && s.currentRevision !== first.stableRevision, 120_000);
    await statuses().waitFor('window', 'second revision promoted', (s) => s.phase === 'Healthy' && s.stableRevision === stepped.currentRevision, 120_000);

    const rollouts = await recordWatch<{ metadata: { name: string }; status?: RolloutStatus }>(`/apis/fledge.dev/v1alpha1/namespaces/${suite.ns.name}/rollouts`, { fieldSelector: 'metadata.name=window' });
    await revision('initial');
    const back = await statuses().waitFor('window', 'rolled back', (s) => s.phase === 'Healthy' && s.stableRevision === first.stableRevision, 120_000);
    const seen = (await rollouts.stop()).map((rollout) => rollout.status ?? {});
    // Inside the window (2 revisions), no step ran on the way back: it is promoted at once (the weight asked goes
    // from none to all), with no pause and no analysis.
    const ranAStep = (s: RolloutStatus): boolean => (s.canaryWeight ?? 0) % 100 !== 0 || s.phase === 'Paused' || (s.stepAnalysisRun !== undefined && s.stepAnalysisRun !== stepped.stepAnalysisRun);
    expect(seen.filter(ranAStep)).toEqual([]);
    expect(seen.some((s) => s.canaryWeight === 100), 'promoted in full').toBe(true);
    expect(back.stableRevision).toBe(first.stableRevision);
    const events = await kubectl(['get', 'events', '-n', suite.ns.name, '--field-selector', 'involvedObject.name=window', '-o', 'jsonpath={.items[*].reason}']);
    expect(events.stdout).toContain('RollbackFastTracked');
  });
  it('an experiment template weight on ALB: the action splits canary, experiment and stable as Argo writes it, and drops the experiment at promotion', { timeout: 300_000 }, async () => {
    const file = 'test/e2e/alb/rollout-alb-experiment.yaml';
    const root = 'alb.ingress.kubernetes.io/actions.alb-rollout-root';
    await suite.apply(converted(file));
    const first = await statuses().waitFor('alb-rollout', 'Healthy', (s) => s.phase === 'Healthy' && s.stableRevision !== undefined, 120_000);
    const ingress = async (): Promise<Json> => JSON.parse((await kubectl(['get', 'ingress', 'alb-rollout-ingress', '-n', suite.ns.name, '-o', 'json'])).stdout) as Json;
    const watch = await recordWatch<Json>(`/apis/networking.k8s.io/v1/namespaces/${suite.ns.name}/ingresses`, { fieldSelector: 'metadata.name=alb-rollout-ingress' });
    await newRevision('alb-rollout', '2');
    // Argo's TestALBExperimentStep: at the experiment step (10% canary, a template of weight 20), the action is the
    // canary's target group, the experiment's Service's, then the stable's with the 70 left, byte for byte.
    const action = await eventually(
      "the experiment's weight in the action",
      async () => {
        const value = annotation(await ingress(), root);
        return value !== undefined && value.includes('"Weight":20') ? value : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const experimentService = (JSON.parse(action) as { ForwardConfig: { TargetGroups: Array<{ ServiceName: string }> } }).ForwardConfig.TargetGroups[1]?.ServiceName ?? '';
    const group = (service: string, weight: number) => `{"ServiceName":"${service}","ServicePort":"80","Weight":${weight}}`;
    expect(action).toBe(`{"Type":"forward","ForwardConfig":{"TargetGroups":[${group('alb-rollout-canary', 10)},${group(experimentService, 20)},${group('alb-rollout-stable', 70)}]}}`);
    const service = await kubectl(['get', 'service', experimentService, '-n', suite.ns.name, '-o', 'jsonpath={.spec.selector}']);
    expect(service.code, `the experiment's Service ${experimentService} exists`).toBe(0);
    expect(service.stdout).toContain('fledge.dev/pod-template-hash');

    // The experiment has no duration and no analysis: as in Argo, it runs until promoted.
    const held = await statuses().status('alb-rollout');
    expect(held.currentStepIndex).toBe(1);
    await patchRollout('alb-rollout', { status: { promote: 'step' } }, 'status');
    const promoted = await statuses().waitFor('alb-rollout', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision, 180_000);
    expect(promoted.currentStepIndex).toBe(2);
    // As Argo asserts after the promotion: the canary and stable groups at 0 and 100, and the experiment's Service gone
    // from the action before it is deleted.
    await eventually('the action back to canary 0, stable 100', async () => (annotation(await ingress(), root) === `{"Type":"forward","ForwardConfig":{"TargetGroups":[${group('alb-rollout-canary', 0)},${group('alb-rollout-stable', 100)}]}}` ? true : undefined), { timeoutMs: 60_000 });
    await eventually("the experiment's Service deleted", async () => ((await kubectl(['get', 'service', experimentService, '-n', suite.ns.name])).code !== 0 ? true : undefined), { timeoutMs: 60_000 });
    // Never more than 100% in any write, and the experiment never had weight once its Service was gone.
    const writes = (await watch.stop()).map((object) => annotation(object, root)).filter((value): value is string => value !== undefined);
    for (const value of writes) {
      const groups = (JSON.parse(value) as { ForwardConfig: { TargetGroups: Array<{ Weight: number }> } }).ForwardConfig.TargetGroups;
      expect(groups.reduce((sum, g) => sum + g.Weight, 0), value).toBe(100);
    }
  });
});
