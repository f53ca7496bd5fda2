import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { readState } from '../harness/cluster.js';
import { CONTROLLER_NAMESPACE, controllerKubeconfig, createTestNamespace, eventually, holdsFor, installCrds, kubectl, serviceAccountKubeconfig, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { canaryRollout, type CanaryRolloutOptions, type RolloutManifest } from '../harness/manifests.js';

/** A self-signed CA that signed nothing the apiserver serves. */
function unrelatedCa(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fledge-wrong-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=not-the-cluster-ca'], {
    cwd: dir,
    stdio: 'ignore',
  });
  return readFileSync(join(dir, 'ca.crt'), 'utf8');
}

const rolloutManifest = (name: string, { image = 'registry.k8s.io/pause:3.9', steps = [{ setWeight: 50 }, { pause: {} }] }: { image?: string; steps?: CanaryRolloutOptions['canary']['steps'] } = {}): RolloutManifest =>
  canaryRollout(name, { replicas: 2, image, canary: { steps } });

describe('control plane: caches', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let custom: k8s.CustomObjectsApi;
  let apps: k8s.AppsV1Api;
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('ctl');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(rolloutManifest('web')) });
    expect(applied.code, applied.stderr).toBe(0);
  });
  afterAll(async (ctx) => {
    await Promise.all(controllers.map((controller) => controller.kill()));
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await ns.remove();
  });

  const statusOf = async (name: string): Promise<RolloutStatus | undefined> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus })
      .status;
  const readyz = async (controller: ControllerProcess): Promise<number> => {
    const base = await eventually('health url', async () => controller.healthUrl());
    return (await axios.get(`${base}/readyz`, { validateStatus: () => true, timeout: 2_000 })).status;
  };
  /** From when the controller serves /readyz (a loaded machine takes seconds to start it), `ms` of 503 and no exit. */
  const staysUnready = async (controller: ControllerProcess, ms: number): Promise<void> => {
    await eventually('health url', async () => controller.healthUrl());
    await holdsFor(
      ms,
      async () => {
        expect(controller.exited(), 'the controller keeps running').toBe(false);
        expect(await readyz(controller), '/readyz').toBe(503);
      },
      { what: 'an unready controller' },
    );
  };

  it('does not trust an apiserver its CA did not sign: /readyz stays 503, nothing is reconciled, nothing crashes', async () => {
    await controllerKubeconfig(); // creates the controller's ServiceAccount, whichever test file runs first
    const kubeconfig = await serviceAccountKubeconfig('fledge-controller', CONTROLLER_NAMESPACE, { caData: unrelatedCa() });
    const controller = await startController(ns.name, [], { kubeconfig });
    controllers.push(controller);
    await staysUnready(controller, 8_000);
    // The wait is reported every 5 s of the controller's own time, which a busy machine stretches.
    const output = await eventually('the controller to say it waits for its caches', async () =>
      controller.output().includes('"msg":"waiting for caches to sync; not reconciling"') ? controller.output() : undefined, { timeoutMs: 30_000 });
    expect(output).toMatch(/"msg":"informer stopped; restarting".*certificate/);
    expect(output).not.toContain('"msg":"caches synced"');
    expect(output).not.toContain('"msg":"reconciling"');
    // Only the CRD schema's defaults: the controller wrote nothing.
    expect(await statusOf('web')).toEqual({ observedGeneration: 0 });
    await controller.kill();
  });

  it('does not reconcile while one cache cannot list (no RBAC for Services): no status, no ReplicaSet, and says which cache it waits for', async () => {
    // The deploy/ rules for the namespaced resources, minus Services.
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'fledge-no-services' },
      rules: [
        { apiGroups: ['fledge.dev'], resources: ['rollouts', 'analysisruns', 'analysistemplates'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['fledge.dev'], resources: ['rollouts/status', 'analysisruns/status'], verbs: ['patch'] },
        { apiGroups: ['fledge.dev'], resources: ['analysisruns'], verbs: ['create', 'patch', 'delete'] },
        { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'patch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
        { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
      ],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'fledge-no-services' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'fledge-no-services' },
      subjects: [{ kind: 'ServiceAccount', name: 'fledge-no-services', namespace: ns.name }],
    };
    const sa = await kubectl(['create', 'serviceaccount', 'fledge-no-services', '-n', ns.name]);
    expect(sa.code, sa.stderr).toBe(0);
    const rbac = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }) });
    expect(rbac.code, rbac.stderr).toBe(0);
    const kubeconfig = await serviceAccountKubeconfig('fledge-no-services', ns.name);
    const controller = await startController(ns.name, ['--no-cluster-templates'], { kubeconfig });
    controllers.push(controller);
    await staysUnready(controller, 8_000);
    const output = await eventually('the controller to say which cache it waits for', async () =>
      /"msg":"waiting for caches to sync; not reconciling".*"informers":\["services"\]/.test(controller.output()) ? controller.output() : undefined, { timeoutMs: 30_000 });
    expect(output).not.toContain('"msg":"reconciling"');
    // Only the CRD schema's defaults: the controller wrote nothing.
    expect(await statusOf('web')).toEqual({ observedGeneration: 0 });
    expect((await apps.listNamespacedReplicaSet({ namespace: ns.name })).items).toEqual([]);
    await controller.kill();
  });

  it('with a kubeconfig it can use, is ready once every cache has listed, and only then reconciles', async () => {
    const startedAt = Date.now();
    const controller = await startController(ns.name);
    controllers.push(controller);
    await eventually('ready', async () => ((await readyz(controller).catch(() => 0)) === 200 ? true : undefined), { intervalMs: 50 });
    const readyMs = Date.now() - startedAt;
    const status = await eventually('web Healthy', async () => {
      const s = await statusOf('web');
      return s?.phase === 'Healthy' ? s : undefined;
    });
    expect(status.observedGeneration).toBe(1);
    const output = controller.output();
    const loggedAt = (msg: string): number => {
      const line = output.split('\n').find((l) => l.includes(`"msg":"${msg}"`));
      return line === undefined ? NaN : Date.parse((JSON.parse(line) as { time: string }).time);
    };
    const syncMs = loggedAt('caches synced') - loggedAt('serving metrics and probes');
    process.stderr.write(`caches: synced ${syncMs} ms after the probes were served; /readyz 200 ${readyMs} ms after the process was spawned\n`);
    expect(syncMs).toBeGreaterThanOrEqual(0);
    expect(output.indexOf('"msg":"caches synced"')).toBeGreaterThan(-1);
    expect(output.indexOf('"msg":"caches synced"')).toBeLessThan(output.indexOf('"msg":"reconciling"'));
  });

  it('caches only the Services a Rollout names, labelled when first pointed at a revision, not every Service in the namespace', async () => {
    const controller = controllers.at(-1) as ControllerProcess;
    const service = (name: string): object => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }] } });
    const unrelated = Array.from({ length: 25 }, (_, i) => service(`unrelated-${i}`));
    const created = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...unrelated, service('shop-stable'), service('shop-canary')] }) });
    expect(created.code, created.stderr).toBe(0);
    const manifest = rolloutManifest('shop');
    manifest.spec.strategy.canary.stableService = 'shop-stable';
    manifest.spec.strategy.canary.canaryService = 'shop-canary';
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(applied.code, applied.stderr).toBe(0);
    const healthy = await eventually('shop Healthy', async () => {
      const s = await statusOf('shop');
      return s?.phase === 'Healthy' ? s : undefined;
    });
    const core = testKubeConfig().makeApiClient(k8s.CoreV1Api);
    for (const name of ['shop-stable', 'shop-canary']) {
      const svc = await core.readNamespacedService({ name, namespace: ns.name });
      expect(svc.metadata?.labels?.['fledge.dev/rollout']).toBe('shop');
      expect(svc.spec?.selector?.['fledge.dev/pod-template-hash']).toBe(healthy.stableRevision);
    }
    const metricsUrl = await eventually('metrics url', async () => controller.metricsUrl());
    const cached = await eventually('the two named Services cached', async () => {
      const text = (await axios.get<string>(metricsUrl, { responseType: 'text' })).data;
      const count = Number(/fledge_cache_objects\{informer="services"\} (\d+)/.exec(text)?.[1]);
      return count === 2 ? count : undefined;
    });
    process.stderr.write(`caches: ${cached} Services cached out of ${unrelated.length + 2} in the namespace\n`);
  });
});

/** A controller's JSON log lines, parsed. */
function logLines(controller: ControllerProcess): Array<{ time: number; msg: string; reconcileId?: string }> {
  return controller
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { time: string; msg: string; reconcileId?: string })
    .map((entry) => ({ ...entry, time: Date.parse(entry.time) }));
}

/**
 * Stops the shared cluster's kube-apiserver for `ms` (SIGSTOP) and always resumes it: in a finally block, and
 * from a detached watchdog that sends SIGCONT on its own should this process die first.
 */
async function withApiserverStopped(ms: number, during: () => Promise<void>): Promise<{ stoppedAt: number; resumedAt: number }> {
  const apiserver = readState()?.processes.find((p) => p.name === 'kube-apiserver');
  if (apiserver === undefined) throw new Error('stopping the apiserver needs the harness cluster (npm run cluster:up), not FLEDGE_TEST_KUBECONFIG');
  if (ms >= 30_000) throw new Error('others share this cluster: stop its apiserver for less than 30 s');
  const watchdog = spawn('sh', ['-c', `sleep ${Math.ceil(ms / 1000) + 3}; kill -CONT ${apiserver.pid}`], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  const stoppedAt = Date.now();
  process.kill(apiserver.pid, 'SIGSTOP');
  try {
    await Promise.all([during(), new Promise((r) => setTimeout(r, ms))]);
  } finally {
    process.kill(apiserver.pid, 'SIGCONT');
  }
  return { stoppedAt, resumedAt: Date.now() };
}

describe('control plane: leader election with the apiserver stopped', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let custom: k8s.CustomObjectsApi;
  let lease: string;
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('ctl-le');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    lease = `fledge-${ns.name}`;
  });
  afterAll(async (ctx) => {
    await Promise.all(controllers.map((controller) => controller.kill()));
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-20_000)}\n`));
    }
    await kubectl(['delete', 'lease', lease, '-n', CONTROLLER_NAMESPACE, '--ignore-not-found']);
    await ns.remove();
  });

  it('under load, the leader stops acting by its renew deadline while the apiserver is stopped, and the follower leads only after that', async () => {
    const ROLLOUTS = 10;
    const names = Array.from({ length: ROLLOUTS }, (_, i) => `load-${i}`);
    const apply = async (image: string): Promise<void> => {
      const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: names.map((n) => rolloutManifest(n, { image, steps: [{ setWeight: 50 }, { pause: { duration: '1s' } }] })) }) });
      expect(res.code, res.stderr).toBe(0);
    };
    const statuses = async (): Promise<RolloutStatus[]> =>
      ((await custom.listNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts' })) as { items: Array<{ status?: RolloutStatus }> }).items.map((r) => r.status ?? {});
    const allHealthyOn = (revisions: Set<string | undefined>) => async (): Promise<true | undefined> => {
      const all = await statuses();
      return all.length === ROLLOUTS && all.every((s) => s.phase === 'Healthy' && !revisions.has(s.stableRevision)) ? true : undefined;
    };

    // A tight client-side limit, so reconciles queue for API tokens: the lease must not queue behind them.
    const args = ['--leader-elect', '--leader-election-namespace', CONTROLLER_NAMESPACE, '--leader-election-id', lease, '--kube-api-qps', '5', '--kube-api-burst', '5', '--concurrency', '8'];
    const first = await startController(ns.name, args);
    controllers.push(first);
    await eventually('a leader', async () => (first.output().includes('"msg":"became leader"') ? true : undefined));
    const second = await startController(ns.name, args);
    controllers.push(second);
    await eventually('a follower', async () => (second.output().includes('"msg":"waiting for leadership"') ? true : undefined));

    await apply('registry.k8s.io/pause:3.9');
    await eventually('every Rollout Healthy', allHealthyOn(new Set([undefined])), { timeoutMs: 120_000, intervalMs: 500 });
    const before = new Set((await statuses()).map((s) => s.stableRevision));
    await apply('registry.k8s.io/pause:3.10');
    await eventually('canaries under way', async () => ((await statuses()).filter((s) => s.phase === 'Progressing').length >= ROLLOUTS / 2 ? true : undefined), {
      intervalMs: 100,
    });

    // Every version of the Lease, as an admin sees it, and when.
    const leases = testKubeConfig().makeApiClient(k8s.CoordinationV1Api);
    const versions: Array<{ seenAt: number; holder?: string; resourceVersion?: string; renewTime: number }> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const current = await leases.readNamespacedLease({ name: lease, namespace: CONTROLLER_NAMESPACE }).catch(() => undefined);
        if (current !== undefined && current.metadata?.resourceVersion !== versions.at(-1)?.resourceVersion) {
          versions.push({ seenAt: Date.now(), holder: current.spec?.holderIdentity, resourceVersion: current.metadata?.resourceVersion, renewTime: new Date(current.spec?.renewTime ?? 0).getTime() });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await eventually('the Lease sampled', async () => (versions.length >= 2 ? true : undefined));
    const { stoppedAt, resumedAt } = await withApiserverStopped(12_000, async () => {
      await eventually('the leader steps down while the apiserver is stopped', async () => (first.output().includes('"msg":"lost leadership') ? true : undefined), {
        timeoutMs: 11_000,
        intervalMs: 50,
      });
    });
    await eventually('the follower leads', async () => (second.output().includes('"msg":"became leader"') ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    const oldHolder = versions[0]?.holder;
    await eventually('the Lease changed hands', async () => (versions.some((v) => v.holder !== oldHolder) ? true : undefined));
    sampling = false;
    await sampler;
    const lastRenewalSeen = versions.filter((v) => v.holder === oldHolder).at(-1);
    process.stderr.write(
      `leader election: the old leader's last Lease write was stamped ${(lastRenewalSeen?.renewTime ?? NaN) - stoppedAt} ms after SIGSTOP and seen ${(lastRenewalSeen?.seenAt ?? NaN) - resumedAt} ms after SIGCONT\n`,
    );
    await eventually('every canary completed by the new leader', allHealthyOn(before), { timeoutMs: 120_000, intervalMs: 500 });

    const old = logLines(first);
    const lostAt = old.find((l) => l.msg.startsWith('lost leadership'))?.time ?? NaN;
    const ledAt = logLines(second).find((l) => l.msg === 'became leader')?.time ?? NaN;
    const lastOldAction = Math.max(...old.filter((l) => l.reconcileId !== undefined).map((l) => l.time));
    const firstNewAction = Math.min(...logLines(second).filter((l) => l.reconcileId !== undefined).map((l) => l.time));
    process.stderr.write(
      `leader election: apiserver stopped ${resumedAt - stoppedAt} ms; the leader stepped down ${lostAt - stoppedAt} ms after SIGSTOP; ` +
        `the follower led ${ledAt - resumedAt} ms after SIGCONT, ${ledAt - lostAt} ms after the old leader stopped; no leader for ${ledAt - lostAt} ms\n`,
    );
    expect(lostAt, 'stepped down while the apiserver was still stopped').toBeLessThan(resumedAt);
    expect(lostAt - stoppedAt, 'within the 7 s renew deadline of its last renewal, begun before SIGSTOP').toBeLessThanOrEqual(7_500);
    expect(first.exited(), 'the old leader exits (its Deployment restarts it)').toBe(true);
    expect(lastOldAction, 'the old leader reconciled nothing after stepping down').toBeLessThan(lostAt);
    expect(ledAt, 'never two leaders: the follower leads only after').toBeGreaterThan(lostAt);
    expect(firstNewAction).toBeGreaterThanOrEqual(ledAt);
  });
});
