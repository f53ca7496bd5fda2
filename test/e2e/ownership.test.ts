import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, eventually, holdsFor, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

const HASH = 'fledge.dev/pod-template-hash';

/** Issue 10 on the real control plane: promotion behind a Service, objects the controller did not create, deletion. */
describe('ownership and promotion on the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  let core: k8s.CoreV1Api;
  let discovery: k8s.DiscoveryV1Api;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('ownership');
    const kc = testKubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    controller = await startController(ns.name);
  });
  afterAll(async (ctx) => {
    await controller.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-30_000)}\n`);
    await ns.remove();
  });

  async function apply(text: string): Promise<void> {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  }
  const rollout = (name: string, replicas: number, canary: string, image = 'demo:v1', app = name): string => `apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${app}}}
  template: {metadata: {labels: {app: ${app}}}, spec: {containers: [{name: app, image: ${image}}]}}
  strategy: {canary: ${canary}}
`;
  const service = (name: string, app: string): string => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {selector: {app: ${app}}, ports: [{port: 80}]}
`;
  // Built lazily: the namespace and the client exist only once beforeAll has run.
  const waitFor: ReturnType<typeof rolloutStatuses>['waitFor'] = (...args) => rolloutStatuses(custom, ns.name).waitFor(...args);
  const readyEndpoints = async (serviceName: string): Promise<number> => {
    const slices = await discovery.listNamespacedEndpointSlice({ namespace: ns.name, labelSelector: `kubernetes.io/service-name=${serviceName}` });
    return slices.items.flatMap((slice) => slice.endpoints).filter((endpoint) => endpoint.conditions?.ready === true).length;
  };

  it('promotes behind a stable Service within maxSurge and without a drop in its ready endpoints (sampled every 100 ms)', async () => {
    await apply(service('promo-stable', 'promo') + '---\n' + service('promo-canary', 'promo'));
    await apply(rollout('promo', 3, '{stableService: promo-stable, canaryService: promo-canary, maxSurge: 1, steps: [{setWeight: 33}, {pause: {}}]}'));
    const first = await waitFor('promo', 'Healthy', (s) => s.phase === 'Healthy');
    await eventually('3 ready endpoints behind promo-stable', async () => ((await readyEndpoints('promo-stable')) === 3 ? true : undefined));
    await kubectl(['patch', 'rollout', 'promo', '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'app', image: 'demo:v2' }] } } } })]);
    const paused = await waitFor('promo', 'paused at 33%', (s) => s.phase === 'Paused');
    await eventually('endpoints settle at the pause', async () => ((await readyEndpoints('promo-stable')) === 2 ? true : undefined));

    const samples: Array<{ pods: number; existing: number; endpoints: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [sets, endpoints] = await Promise.all([apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'fledge.dev/rollout=promo' }), readyEndpoints('promo-stable')]);
        // maxSurge bounds the pods asked for (spec.replicas), as for Deployments; terminating pods are reported, not bounded.
        const pods = sets.items.reduce((sum, rs) => sum + (rs.spec?.replicas ?? 0), 0);
        const existing = sets.items.reduce((sum, rs) => sum + Math.max(rs.spec?.replicas ?? 0, rs.status?.replicas ?? 0), 0);
        samples.push({ pods, existing, endpoints });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const promoted = await kubectl(['patch', 'rollout', 'promo', '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"promote":"step"}}']);
    expect(promoted.code, promoted.stderr).toBe(0);
    const done = await waitFor('promo', 'promoted and Healthy', (s) => s.phase === 'Healthy' && s.stableRevision === paused.currentRevision);
    await eventually('the stable Service pinned to the new revision', async () => {
      const svc = await core.readNamespacedService({ name: 'promo-stable', namespace: ns.name });
      return svc.spec?.selector?.[HASH] === done.stableRevision ? true : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    sampling = false;
    await sampler;
    process.stderr.write(
      `promotion: ${samples.length} samples, most pods asked for ${Math.max(...samples.map((s) => s.pods))}, most existing ${Math.max(...samples.map((s) => s.existing))}, ready endpoints ${samples.map((s) => s.endpoints).join(',')}\n`,
    );
    expect(samples.length).toBeGreaterThan(10);
    expect(Math.max(...samples.map((s) => s.pods)), 'pods within replicas + maxSurge').toBeLessThanOrEqual(4);
    // Never fewer ready endpoints behind the stable Service than before the promotion began.
    expect(Math.min(...samples.map((s) => s.endpoints))).toBeGreaterThanOrEqual(2);
    expect(samples.at(-1)?.endpoints).toBe(3);
    expect(first.stableRevision).not.toBe(done.stableRevision);
  });

  it('turns a pod template the apiserver refuses into InvalidSpec, Degraded and a Warning Event, and recovers when it is fixed', async () => {
    // Argo's malformed-rollout: a container the apiserver refuses inside a ReplicaSet (no image).
    await apply(rollout('malformed', 1, '{steps: [{setWeight: 50}]}').replace('image: demo:v1', 'image: ""'));
    const refused = await waitFor('malformed', 'InvalidSpec', (s) => s.conditions?.some((c) => c.type === 'InvalidSpec' && c.status === 'True') === true);
    expect(refused.phase).toBe('Degraded');
    expect(refused.message).toMatch(/^invalid Rollout: the apiserver refuses the pod template: .*image/);
    const events = await eventually('the InvalidSpec Event', async () => {
      const items = (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=malformed' })).items.filter((e) => e.reason === 'InvalidSpec');
      return items.length > 0 ? items : undefined;
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.count ?? 1).toBe(1);
    // Backed off: a handful of creates in 5 s, not one every 50 ms.
    const creates = async (): Promise<number> => (controller.output().match(/"msg":"creating replicaset".*?"malformed/g) ?? []).length;
    const before = await creates();
    await holdsFor(
      5_000,
      async () => {
        expect((await creates()) - before, 'creates since the first Event').toBeLessThanOrEqual(4);
      },
      { what: 'a backed-off create of the refused ReplicaSet' },
    );
    await kubectl(['patch', 'rollout', 'malformed', '-n', ns.name, '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'demo:v1' }])]);
    const fixed = await waitFor('malformed', 'Healthy once fixed', (s) => s.phase === 'Healthy');
    expect(fixed.conditions?.some((c) => c.type === 'InvalidSpec')).toBe(false);
  });

  it('adopts the ReplicaSets a --cascade=orphan delete left behind, without a new pod', async () => {
    await apply(rollout('orphaned', 2, '{steps: [{setWeight: 50}]}'));
    const healthy = await waitFor('orphaned', 'Healthy', (s) => s.phase === 'Healthy');
    const rsName = `orphaned-${healthy.stableRevision}`;
    const pods = async (): Promise<string[]> => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=orphaned' })).items.map((p) => p.metadata?.name ?? '').sort();
    const podsBefore = await pods();
    const deleted = await kubectl(['delete', 'rollout', 'orphaned', '-n', ns.name, '--cascade=orphan']);
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually('the ReplicaSet orphaned', async () => {
      const rs = await apps.readNamespacedReplicaSet({ name: rsName, namespace: ns.name });
      return (rs.metadata?.ownerReferences ?? []).length === 0 ? true : undefined;
    });
    await apply(rollout('orphaned', 2, '{steps: [{setWeight: 50}]}'));
    const adopted = await waitFor('orphaned', 'Healthy again', (s) => s.phase === 'Healthy' && s.stableRevision === healthy.stableRevision);
    const rs = await apps.readNamespacedReplicaSet({ name: rsName, namespace: ns.name });
    const uid = ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name: 'orphaned' })) as { metadata: { uid: string } }).metadata.uid;
    expect(rs.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Rollout', uid, controller: true })]);
    expect(adopted.conditions?.some((c) => c.type === 'InvalidSpec')).toBe(false);
    expect(await pods()).toEqual(podsBefore);
  });

  it('recreates nothing while a Rollout is deleted in the foreground, and leaves its Service selecting no stale hash', async () => {
    const name = `a-rollout-with-a-name-longer-than-sixty-three-characters-for-labels-${Date.now().toString(36)}`;
    await apply(service('gone-stable', 'gone'));
    await apply(rollout(name, 2, '{stableService: gone-stable, steps: [{setWeight: 50}]}', 'demo:v1', 'gone'));
    const healthy = await waitFor(name, 'Healthy (a long name is no invalid label)', (s) => s.phase === 'Healthy');
    expect((await core.readNamespacedService({ name: 'gone-stable', namespace: ns.name })).spec?.selector?.[HASH]).toBe(healthy.stableRevision);
    const deleted = await kubectl(['delete', 'rollout', name, '-n', ns.name, '--cascade=foreground', '--wait=true', '--timeout=60s']);
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually('no ReplicaSet left', async () => ((await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'app=gone' })).items.length === 0 ? true : undefined));
    await holdsFor(
      2_000,
      async () => {
        expect((await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: 'app=gone' })).items).toEqual([]);
      },
      { what: 'no ReplicaSet recreated for the deleted Rollout' },
    );
    const released = await eventually('the Service released', async () => {
      const svc = await core.readNamespacedService({ name: 'gone-stable', namespace: ns.name });
      return svc.spec?.selector?.[HASH] === undefined ? svc : undefined;
    });
    expect(released.spec?.selector).toEqual({ app: 'gone' });
    expect(released.metadata?.labels?.['fledge.dev/rollout']).toBeUndefined();
  });

  it('waits for an AnalysisTemplate that arrives after its Rollout, then measures with it', async () => {
    await apply(rollout('late-template', 2, '{steps: [{setWeight: 50}, {analysis: {templates: [{templateName: arrives-late}]}}]}'));
    const healthy = await waitFor('late-template', 'Healthy', (s) => s.phase === 'Healthy');
    await kubectl(['patch', 'rollout', 'late-template', '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'app', image: 'demo:v2' }] } } } })]);
    const waiting = await waitFor('late-template', 'waiting for the template', (s) => s.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'AnalysisTemplateMissing') === true);
    expect(waiting.message).toMatch(/waiting at step 1\/2 for AnalysisTemplate arrives-late, which does not exist; aborting at /);
    await holdsFor(
      2_000,
      async () => {
        expect(await rolloutStatuses(custom, ns.name).status('late-template')).toMatchObject({ phase: 'Progressing', stableRevision: healthy.stableRevision });
        const runs = await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'analysisruns', labelSelector: 'fledge.dev/rollout=late-template' });
        expect((runs as { items: unknown[] }).items).toEqual([]);
      },
      { what: 'the canary waiting for its template, with no AnalysisRun' },
    );
    // The template arrives (a web metric that always passes): the run is created, and the canary goes on.
    const server = (await import('node:http')).createServer((_req, res) => res.end('{"ok":1}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      await apply(`apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: arrives-late}
spec:
  metrics:
  - name: ok
    successCondition: result >= 1
    provider: {web: {url: "http://127.0.0.1:${port}/", jsonPath: "$.ok"}}
`);
      await waitFor('late-template', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision === waiting.currentRevision);
    } finally {
      server.close();
    }
    const events = (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=late-template' })).items;
    expect(events.filter((e) => e.reason === 'AnalysisTemplateMissing')).toHaveLength(1);
  });
});
