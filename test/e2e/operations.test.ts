import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { CONTROLLER_NAMESPACE, createTestNamespace, eventually, installCrds, kubectl, prometheusUrl, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { startShippedController } from '../harness/shipped.js';

describe('running it in production: leader election and /metrics', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  const controllers: ControllerProcess[] = [];
  const targetFiles: string[] = [];
  let custom: k8s.CustomObjectsApi;
  let lease: string;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('ops');
    custom = testKubeConfig().makeApiClient(k8s.CustomObjectsApi);
    lease = `fledge-${ns.name}`;
  });
  afterAll(async (ctx) => {
    await Promise.all(controllers.map((controller) => controller.kill()));
    for (const file of targetFiles) rmSync(file, { force: true });
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await kubectl(['delete', 'lease', lease, `${lease}-handover`, '-n', CONTROLLER_NAMESPACE, '--ignore-not-found']);
    await ns.remove();
  });

  const status = async (name: string): Promise<RolloutStatus> =>
    ((await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: ns.name, plural: 'rollouts', name })) as { status?: RolloutStatus })
      .status ?? {};
  const waitFor = (what: string, check: (s: RolloutStatus) => boolean): Promise<RolloutStatus> =>
    eventually(`ha: ${what}`, async () => {
      const s = await status('ha');
      return check(s) ? s : undefined;
    });
  /** The value of one series in the harness Prometheus, which scrapes both controllers. */
  const scraped = async (query: string): Promise<number | undefined> => {
    const res = await axios.get(`${prometheusUrl()}/api/v1/query`, { params: { query } });
    const value = (res.data as { data: { result: Array<{ value: [number, string] }> } }).data.result[0]?.value[1];
    return value === undefined ? undefined : Number(value);
  };

  it('fails over to the follower within the lease time when the leader is SIGKILLed mid-rollout, and the rollout completes; /metrics follows the phase', async () => {
    // As shipped: the Deployment's own --leader-elect, its POD_NAMESPACE (the controller's namespace) for the Lease.
    for (let i = 0; i < 2; i++) controllers.push(await startShippedController(ns.name, { extraArgs: [`--leader-election-id=${lease}`] }));
    const leaderOf = (): ControllerProcess | undefined => controllers.find((c) => !c.exited() && c.output().includes('"msg":"became leader"'));
    const leader = await eventually('a leader', async () => leaderOf());
    const follower = controllers.find((c) => c !== leader) as ControllerProcess;

    // Both processes serve /metrics; the harness Prometheus scrapes them through file_sd.
    for (const controller of controllers) {
      const url = await eventually('metrics url', async () => controller.metricsUrl());
      const target = new URL(url);
      const file = join(inject('prometheusTargetsDir'), `controller-${ns.name}-${target.port}.json`);
      writeFileSync(file, JSON.stringify([{ targets: [target.host], labels: { job: 'fledge-controller' } }]));
      targetFiles.push(file);
    }
    expect(await eventually('leader gauge', async () => ((await scraped(`sum(fledge_leader{job="fledge-controller"})`)) === 1 ? true : undefined))).toBe(true);

    const manifest = {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'ha' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'ha' } },
        template: { metadata: { labels: { app: 'ha' } }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } },
        strategy: { canary: { steps: [{ setWeight: 25 }, { pause: {} }, { setWeight: 75 }, { pause: { duration: '2s' } }] } },
      },
    };
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(applied.code, applied.stderr).toBe(0);
    const first = await waitFor('Healthy', (s) => s.phase === 'Healthy');
    const patched = await kubectl(['patch', 'rollout', 'ha', '-n', ns.name, '--type=merge', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}}}']);
    expect(patched.code, patched.stderr).toBe(0);
    await waitFor('paused at 25%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    const pausedQuery = `max(fledge_rollout_phase{namespace="${ns.name}",name="ha",phase="Paused"})`;
    expect(await eventually('Paused gauge scraped', async () => ((await scraped(pausedQuery)) === 1 ? true : undefined))).toBe(true);

    const killedAt = Date.now();
    await leader.kill('SIGKILL');
    await eventually('follower takes over', async () => (follower.output().includes('"msg":"became leader"') ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const takeoverMs = Date.now() - killedAt;
    process.stderr.write(`leader election: follower took over ${takeoverMs} ms after SIGKILL\n`);
    expect(takeoverMs).toBeLessThan(15_000);

    const promoted = await kubectl(['patch', 'rollout', 'ha', '-n', ns.name, '--subresource=status', '--type=merge', '-p', '{"status":{"promote":"step"}}']);
    expect(promoted.code, promoted.stderr).toBe(0);
    const done = await waitFor('Healthy on the new revision', (s) => s.phase === 'Healthy' && s.stableRevision !== first.stableRevision);
    expect(done.stableRevision).toBe(done.currentRevision);
    const healthyQuery = `max(fledge_rollout_phase{namespace="${ns.name}",name="ha",phase="Healthy"})`;
    expect(await eventually('Healthy gauge scraped', async () => ((await scraped(healthyQuery)) === 1 ? true : undefined))).toBe(true);
    // API requests are counted by verb, resource and code, never by object name.
    const patches = `sum(fledge_api_requests_total{job="fledge-controller",verb="patch",resource="rollouts/status",code="200"})`;
    expect(await eventually('API request counter scraped', async () => (((await scraped(patches)) ?? 0) > 0 ? true : undefined))).toBe(true);

    // Every query of the Grafana dashboard is valid PromQL and finds data in a real Prometheus scraping the controllers.
    const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'grafana', 'fledge-dashboard.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const query = target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$namespace', '.*');
        const res = await axios.get(`${prometheusUrl()}/api/v1/query`, { params: { query }, validateStatus: () => true });
        expect(res.status, `${panel.title}: ${query}: ${JSON.stringify(res.data)}`).toBe(200);
      }
    }
    const phases = await axios.get(`${prometheusUrl()}/api/v1/query`, { params: { query: 'sum by (phase) (fledge_rollout_phase)' } });
    expect((phases.data as { data: { result: unknown[] } }).data.result.length).toBe(4);
  });

  it('posts aborted, promoted and paused rollouts to a Slack-compatible webhook', async () => {
    const received: Array<{ text: string }> = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as { text: string });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const notifyNs = await createTestNamespace('notify');
    const controller = await startController(notifyNs.name, ['--notify-webhook', hook]);
    try {
      const manifest = (image: string): string =>
        JSON.stringify({
          apiVersion: 'fledge.dev/v1alpha1',
          kind: 'Rollout',
          metadata: { name: 'chatty' },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'chatty' } },
            template: { metadata: { labels: { app: 'chatty' } }, spec: { containers: [{ name: 'app', image }] } },
            strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } },
          },
        });
      const apply = async (image: string): Promise<void> => {
        const res = await kubectl(['apply', '-n', notifyNs.name, '-f', '-'], { input: manifest(image) });
        expect(res.code, res.stderr).toBe(0);
      };
      const heard = (pattern: RegExp): Promise<true> => eventually(`webhook ${pattern}`, async () => (received.some((m) => pattern.test(m.text)) ? true : undefined));
      await apply('registry.k8s.io/pause:3.9');
      await eventually('chatty Healthy', async () => {
        const obj = (await custom.getNamespacedCustomObject({ group: 'fledge.dev', version: 'v1alpha1', namespace: notifyNs.name, plural: 'rollouts', name: 'chatty' })) as {
          status?: RolloutStatus;
        };
        return obj.status?.phase === 'Healthy' ? true : undefined;
      });
      await apply('registry.k8s.io/pause:3.10');
      await heard(new RegExp(`^Rollout ${notifyNs.name}/chatty paused: canary at 50%`));
      const abort = await kubectl(['patch', 'rollout', 'chatty', '-n', notifyNs.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":true}}']);
      expect(abort.code, abort.stderr).toBe(0);
      await heard(new RegExp(`^Rollout ${notifyNs.name}/chatty aborted: aborted by request`));
      const retry = await kubectl(['patch', 'rollout', 'chatty', '-n', notifyNs.name, '--subresource=status', '--type=merge', '-p', '{"status":{"abort":false}}']);
      expect(retry.code, retry.stderr).toBe(0);
      await eventually('paused twice', async () => (received.filter((m) => /paused: canary at 50%/.test(m.text)).length >= 2 ? true : undefined));
      const full = await kubectl(['patch', 'rollout', 'chatty', '-n', notifyNs.name, '--subresource=status', '--type=merge', '-p', '{"status":{"promote":"full"}}']);
      expect(full.code, full.stderr).toBe(0);
      await heard(new RegExp(`^Rollout ${notifyNs.name}/chatty promoted: revision \\w+ is now stable`));
      expect(received.every((m) => typeof m.text === 'string' && Array.isArray((m as { attachments?: unknown }).attachments))).toBe(true);
    } finally {
      await controller.kill();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await notifyNs.remove();
    }
  });

  it('hands the lease over at once on SIGTERM', async () => {
    const args = { extraArgs: [`--leader-election-id=${lease}-handover`] };
    const leader = await startShippedController(ns.name, args);
    controllers.push(leader);
    await eventually('first leader', async () => (leader.output().includes('"msg":"became leader"') ? true : undefined));
    const successor = await startShippedController(ns.name, args);
    controllers.push(successor);
    await eventually('successor waits', async () => (successor.output().includes('waiting for leadership') ? true : undefined));
    const stoppedAt = Date.now();
    await leader.kill('SIGTERM');
    expect(leader.output()).toContain('released leadership');
    await eventually('successor leads', async () => (successor.output().includes('"msg":"became leader"') ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
    // Released, not expired: well under the 10 s lease.
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
  });
});
