import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisRun } from '../../src/api/analysis.js';
import { LABEL_EXPERIMENT_TEMPLATE, LABEL_POD_TEMPLATE_HASH, LABEL_ROLE } from '../../src/api/labels.js';
import { controllerSuite, eventually, rolloutStatuses } from '../harness/e2e.js';

const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';
const DURATION_S = 20;

/** Argo's baseline-against-canary step, with a web metric that asks `path` about the canary experiment's pods. */
const rolloutManifest = (name: string, path: 'pass' | 'fail'): string =>
  JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: V1, ports: [{ name: 'http', containerPort: 8080 }] }] } },
      strategy: {
        canary: {
          stableService: `${name}-stable`,
          canaryService: `${name}-canary`,
          steps: [
            { setWeight: 50 },
            {
              experiment: {
                duration: `${DURATION_S}s`,
                templates: [
                  { name: 'baseline', specRef: 'stable' },
                  { name: 'canary', specRef: 'canary', service: {} },
                ],
                analyses: [
                  {
                    name: 'probe',
                    templateName: 'probe',
                    args: [
                      { name: 'path', value: path },
                      { name: 'hash', value: '{{templates.canary.podTemplateHash}}' },
                    ],
                  },
                ],
              },
            },
            { pause: {} },
          ],
        },
      },
    },
  });

const serviceManifest = (name: string, app: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } });

describe('the experiment step on the real control plane', () => {
  const suite = controllerSuite('experiment');
  const { apps, core, custom, apply } = suite;
  let server: Server;
  /** The paths the metric asked, with the hash it named. */
  const asked: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.end(JSON.stringify({ ok: req.url?.startsWith('/pass') === true ? 1 : 0 }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: probe}
spec:
  args: [{name: path}, {name: hash}]
  metrics:
  - name: ok
    successCondition: result >= 1
    provider: {web: {url: "http://127.0.0.1:${port}/{{args.path}}?hash={{args.hash}}", jsonPath: "$.ok"}}
`);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const experimentReplicaSets = async (rollout: string): Promise<k8s.V1ReplicaSet[]> =>
    (await apps.listNamespacedReplicaSet({ namespace: suite.ns.name, labelSelector: `fledge.dev/rollout=${rollout},${LABEL_ROLE}=experiment` })).items;
  const runs = async (rollout: string): Promise<AnalysisRun[]> =>
    (
      (await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: suite.ns.name, plural: 'analysisruns', labelSelector: `fledge.dev/rollout=${rollout},fledge.dev/analysis=experiment` })) as {
        items: AnalysisRun[];
      }
    ).items;
  const setImage = async (name: string, image: string): Promise<void> => {
    await custom.patchNamespacedCustomObject(
      { group: 'fledge.dev', version: 'v1alpha1', namespace: suite.ns.name, plural: 'rollouts', name, body: { spec: { template: { spec: { containers: [{ name: 'app', image, ports: [{ name: 'http', containerPort: 8080 }] }] } } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  };
  /** Deploys `name`, waits for it to be Healthy, then starts a canary of V2: the status once the experiment runs. */
  const startExperiment = async (name: string, path: 'pass' | 'fail'): Promise<ReturnType<typeof rolloutStatuses>> => {
    const statuses = rolloutStatuses(custom, suite.ns.name);
    await apply(serviceManifest(`${name}-stable`, name));
    await apply(serviceManifest(`${name}-canary`, name));
    await apply(rolloutManifest(name, path));
    await statuses.waitFor(name, 'Healthy', (s) => s.phase === 'Healthy' && (s.availableReplicas ?? 0) === 2);
    await setImage(name, V2);
    return statuses;
  };

  it('runs a ReplicaSet per template and the analysis on them, completes after its duration, and removes them', async () => {
    const { waitFor, status } = await startExperiment('exp', 'pass');
    const running = await waitFor('exp', 'the experiment’s pods all available', (s) => s.experiment?.availableAt !== undefined);
    expect(running).toMatchObject({ currentStepIndex: 1, phase: 'Progressing' });
    const availableAt = Date.parse(running.experiment?.availableAt ?? '');

    const replicaSets = await experimentReplicaSets('exp');
    const byTemplate = new Map(replicaSets.map((rs) => [rs.metadata?.labels?.[LABEL_EXPERIMENT_TEMPLATE], rs]));
    expect([...byTemplate.keys()].sort()).toEqual(['baseline', 'canary']);
    expect(byTemplate.get('baseline')?.spec?.template?.spec?.containers[0]?.image).toBe(V1);
    expect(byTemplate.get('canary')?.spec?.template?.spec?.containers[0]?.image).toBe(V2);
    const hashes = replicaSets.map((rs) => rs.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH]);
    expect(hashes).not.toContain(running.stableRevision);
    expect(hashes).not.toContain(running.currentRevision);
    // Neither the stable nor the canary Service selects the experiment's pods; the canary template's own Service does.
    for (const role of ['stable', 'canary']) {
      const selector = (await core.readNamespacedService({ name: `exp-${role}`, namespace: suite.ns.name })).spec?.selector ?? {};
      expect(hashes).not.toContain(selector[LABEL_POD_TEMPLATE_HASH]);
    }
    const canaryHash = byTemplate.get('canary')?.metadata?.labels?.[LABEL_POD_TEMPLATE_HASH];
    const preview = await core.readNamespacedService({ name: byTemplate.get('canary')?.metadata?.name ?? '', namespace: suite.ns.name });
    expect(preview.spec?.selector?.[LABEL_POD_TEMPLATE_HASH]).toBe(canaryHash);
    expect(preview.spec?.ports?.[0]).toMatchObject({ name: 'http', port: 8080 });

    const [run] = await eventually('the experiment’s AnalysisRun Successful', async () => {
      const found = await runs('exp');
      return found.length === 1 && found[0]?.status?.phase === 'Successful' ? found : undefined;
    });
    expect(run?.spec.args).toContainEqual({ name: 'hash', value: canaryHash });
    expect(asked).toContain(`/pass?hash=${canaryHash}`);

    // A successful run does not end the step: its duration does, counted from when every pod was available.
    const halfway = availableAt + (DURATION_S - 5) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, halfway - Date.now())));
    expect((await status('exp')).currentStepIndex, 'still at the experiment before its duration has passed').toBe(1);
    const done = await waitFor('exp', 'past the experiment, paused at the next step', (s) => s.currentStepIndex === 2 && s.phase === 'Paused');
    expect(Date.now()).toBeGreaterThanOrEqual(availableAt + DURATION_S * 1000);
    expect(done.experiment).toBeUndefined();
    await eventually('the experiment’s ReplicaSets, Service and run gone', async () => {
      const left = [...(await experimentReplicaSets('exp')), ...(await runs('exp'))];
      const service = await core.readNamespacedService({ name: preview.metadata?.name ?? '', namespace: suite.ns.name }).catch(() => undefined);
      return left.length === 0 && service === undefined ? true : undefined;
    });
  });

  it('aborts the Rollout when the experiment’s analysis fails, and removes the experiment', async () => {
    const { waitFor } = await startExperiment('exp-fail', 'fail');
    const aborted = await waitFor('exp-fail', 'aborted', (s) => s.abort === true && s.phase === 'Degraded');
    expect(aborted.message).toMatch(/^aborted: analysis failed at step 1\/3 \(experiment 20s\): experiment analysis probe: /);
    expect(aborted.stableRevision).not.toBe(aborted.currentRevision);
    await eventually('the experiment’s ReplicaSets and run gone', async () => ([...(await experimentReplicaSets('exp-fail')), ...(await runs('exp-fail'))].length === 0 ? true : undefined));
    const events = (await core.listNamespacedEvent({ namespace: suite.ns.name, fieldSelector: 'involvedObject.name=exp-fail' })).items.map((event) => event.reason);
    expect(events).toEqual(expect.arrayContaining(['ExperimentStarted', 'ExperimentRunning', 'RolloutAborted']));
  });
});
