import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryStep, CanaryWebhook } from '../../src/api/rollout.js';
import { createTestNamespace, eventually, installCrds, kubectl, rolloutStatuses, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';

/** A hook receiver on loopback: each path answers what the test says, and keeps every payload it was sent. */
class Receiver {
  readonly answers = new Map<string, number>();
  readonly received: Array<{ path: string; body: Record<string, unknown>; at: number }> = [];
  private server: Server | undefined;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const path = request.url ?? '/';
        this.received.push({ path, body: body ? (JSON.parse(body) as Record<string, unknown>) : {}, at: Date.now() });
        response.writeHead(this.answers.get(path) ?? 404);
        response.end(this.answers.get(path) === 200 ? 'ok' : 'not now');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  calls(path: string): Array<{ body: Record<string, unknown>; at: number }> {
    return this.received.filter((call) => call.path === path);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('webhooks on the real control plane, against a real HTTP receiver', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;
  const receiver = new Receiver();
  let rollouts: ReturnType<typeof rolloutStatuses>;

  beforeAll(async () => {
    await installCrds();
    await receiver.start();
    ns = await createTestNamespace('hooks');
    rollouts = rolloutStatuses(testKubeConfig().makeApiClient(k8s.CustomObjectsApi), ns.name);
    controller = await startController(ns.name);
  });
  afterAll(async (ctx) => {
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-15_000)}\n`);
    await controller.kill();
    await receiver.stop();
    await ns.remove();
  });

  const hook = (name: string, type: CanaryWebhook['type'], extra: Partial<CanaryWebhook> = {}): CanaryWebhook => ({ name, type, url: `${receiver.base}/${name}`, ...extra });
  const apply = async (name: string, image: string, steps: CanaryStep[], webhooks: CanaryWebhook[]): Promise<void> => {
    const manifest = {
      apiVersion: 'fledge.dev/v1alpha1',
      kind: 'Rollout',
      metadata: { name },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
        strategy: { canary: { steps, webhooks } },
      },
    };
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(manifest) });
    expect(applied.code, applied.stderr).toBe(0);
  };
  const events = async (name: string): Promise<Array<{ reason: string; message: string }>> => {
    const listed = await kubectl(['get', 'events', '-n', ns.name, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
    return (JSON.parse(listed.stdout) as { items: Array<{ reason: string; message: string }> }).items;
  };

  it('holds the canary at closed gates with one Event per change, runs pre-rollout once across a restart, and promotes when the gates open', async () => {
    for (const path of ['/pre', '/check', '/events', '/post']) receiver.answers.set(path, 200);
    const webhooks = [
      hook('start', 'confirm-rollout'),
      hook('pre', 'pre-rollout', { metadata: { suite: 'smoke' } }),
      hook('check', 'rollout'),
      hook('ship', 'confirm-promotion'),
      hook('red', 'rollback'),
      hook('events', 'event'),
      hook('post', 'post-rollout', { timeout: '5s', retries: 1 }),
    ];
    await apply('gated', 'registry.k8s.io/pause:3.9', [{ setWeight: 50 }, { pause: { duration: '1s' } }], webhooks);
    await rollouts.waitFor('gated', 'Healthy', (s) => s.phase === 'Healthy');

    const patched = await kubectl(['patch', 'rollout', 'gated', '-n', ns.name, '--type=merge', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}}}']);
    expect(patched.code, patched.stderr).toBe(0);
    const closed = await rollouts.waitFor('gated', 'closed confirm-rollout gate', (s) => (s.message ?? '').includes('start closed (HTTP 404'));
    expect(closed).toMatchObject({ phase: 'Paused', webhooks: { waitingFor: { type: 'confirm-rollout', step: 0 } } });
    const wide = await kubectl(['get', 'rollout', 'gated', '-n', ns.name, '-o', 'wide']);
    expect(wide.stdout).toContain('waiting before step 0/2 for confirm-rollout webhooks');
    // Several polls while closed: still one Event.
    await eventually('three polls of the closed gate', async () => (receiver.calls('/start').length >= 3 ? true : undefined), { timeoutMs: 30_000 });
    expect((await rollouts.status('gated')).updatedReplicas ?? 0, 'no canary pod behind a closed confirm-rollout').toBe(0);
    expect((await events('gated')).filter((event) => event.message.startsWith('webhook start (confirm-rollout) closed'))).toHaveLength(1);

    receiver.answers.set('/start', 200);
    const opened = Date.now();
    const past = await rollouts.waitFor('gated', 'at the confirm-promotion gate', (s) => s.webhooks?.waitingFor?.type === 'confirm-promotion');
    const gateToNext = receiver.calls('/pre')[0]!.at - opened;
    expect(past.webhooks?.preRolloutPassed).toBe(past.currentRevision);
    expect(receiver.calls('/pre')).toHaveLength(1);
    expect(receiver.calls('/pre')[0]?.body).toEqual({ name: 'gated', namespace: ns.name, phase: 'Progressing', checksum: past.currentRevision, metadata: { suite: 'smoke' } });
    expect(receiver.calls('/check').length, 'the rollout hook is called at each step').toBeGreaterThanOrEqual(2);
    expect(past.canaryWeight).toBe(50);

    // A restart mid-gate: the gate is asked again, pre-rollout is not.
    await controller.kill();
    const pollsBefore = receiver.calls('/ship').length;
    controller = await startController(ns.name);
    await eventually('the new controller polls the gate', async () => (receiver.calls('/ship').length > pollsBefore ? true : undefined), { timeoutMs: 60_000 });
    expect((await rollouts.status('gated')).webhooks?.waitingFor?.type).toBe('confirm-promotion');

    receiver.answers.set('/ship', 200);
    const confirmed = Date.now();
    const healthy = await rollouts.waitFor('gated', 'promoted', (s) => s.phase === 'Healthy' && s.stableRevision === past.currentRevision);
    const promoteLatency = Date.now() - confirmed;
    expect(healthy.webhooks).toBeUndefined();
    expect(receiver.calls('/pre')).toHaveLength(1);
    const post = await eventually('post-rollout', async () => receiver.calls('/post')[0]);
    expect(post.body).toMatchObject({ name: 'gated', phase: 'Succeeded', checksum: past.currentRevision });
    const reasons = receiver.calls('/events').map((call) => (call.body.metadata as Record<string, string>).eventReason);
    expect(reasons).toEqual(expect.arrayContaining(['RolloutStarted', 'WebhookGate', 'WebhookGatePassed', 'RolloutCompleted']));
    const recorded = await events('gated');
    expect(recorded.filter((event) => event.message.startsWith('webhook pre (pre-rollout) passed'))).toHaveLength(1);
    process.stdout.write(`webhooks e2e: confirm-rollout opened -> pre-rollout called ${gateToNext} ms; confirm-promotion opened -> Healthy ${promoteLatency} ms\n`);
  });

  it('aborts when a rollback hook answers 200, and when pre-rollout fails past its retries before the canary has a pod', async () => {
    await apply('button', 'registry.k8s.io/pause:3.9', [{ setWeight: 50 }, { pause: {} }], [hook('button', 'rollback')]);
    await rollouts.waitFor('button', 'Healthy', (s) => s.phase === 'Healthy');
    await kubectl(['patch', 'rollout', 'button', '-n', ns.name, '--type=merge', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}}}']);
    await rollouts.waitFor('button', 'paused at 50%', (s) => s.phase === 'Paused' && s.currentStepIndex === 1);
    receiver.answers.set('/button', 200);
    const pressed = Date.now();
    const aborted = await rollouts.waitFor('button', 'aborted', (s) => s.abort === true);
    const rollbackLatency = Date.now() - pressed;
    expect(aborted.phase).toBe('Degraded');
    expect(aborted.message).toContain('webhook button (rollback) asked for a rollback: HTTP 200');

    receiver.answers.set('/smoke', 500);
    await apply('smoke', 'registry.k8s.io/pause:3.9', [{ setWeight: 50 }, { pause: {} }], [hook('smoke', 'pre-rollout', { retries: 1, timeout: '2s' })]);
    await rollouts.waitFor('smoke', 'Healthy', (s) => s.phase === 'Healthy');
    await kubectl(['patch', 'rollout', 'smoke', '-n', ns.name, '--type=merge', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.k8s.io/pause:3.10"}]}}}}']);
    const failed = await rollouts.waitFor('smoke', 'aborted by pre-rollout', (s) => s.abort === true);
    expect(failed.message).toContain('webhook smoke (pre-rollout) failed: HTTP 500');
    expect(receiver.calls('/smoke')).toHaveLength(2);
    const apps = testKubeConfig().makeApiClient(k8s.AppsV1Api);
    const canary = (await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: `app=smoke,fledge.dev/pod-template-hash=${failed.currentRevision}` })).items;
    expect(canary.every((rs) => (rs.spec?.replicas ?? 0) === 0), 'the canary never had a pod').toBe(true);
    process.stdout.write(`webhooks e2e: rollback 200 -> aborted ${rollbackLatency} ms\n`);
  });

  it('refuses a malformed webhook at kubectl apply', async () => {
    const manifest = (webhooks: unknown) =>
      JSON.stringify({
        apiVersion: 'fledge.dev/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'bad' },
        spec: { selector: { matchLabels: { app: 'bad' } }, template: { metadata: { labels: { app: 'bad' } }, spec: { containers: [{ name: 'app', image: 'x' }] } }, strategy: { canary: { webhooks } } },
      });
    const badType = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest([{ name: 'a', type: 'confirm-everything', url: 'http://x' }]) });
    expect(badType.code).not.toBe(0);
    expect(badType.stderr).toContain('Unsupported value: "confirm-everything"');
    const badUrl = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest([{ name: 'a', type: 'rollback', url: 'ftp://x' }]) });
    expect(badUrl.code).not.toBe(0);
    const twice = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest([{ name: 'a', type: 'rollback', url: 'http://x' }, { name: 'a', type: 'event', url: 'http://y' }]) });
    expect(twice.stderr).toContain('webhook names must be unique');
    // Too costly for a CEL rule: the controller says so in status instead.
    const badLoad = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: manifest([{ name: 'a', type: 'load-test', url: 'http://x', metadata: { rps: '5000' } }]) });
    expect(badLoad.code, badLoad.stderr).toBe(0);
    const invalid = await rollouts.waitFor('bad', 'InvalidSpec', (s) => s.conditions?.some((c) => c.type === 'InvalidSpec') === true);
    expect(invalid.message).toContain('load-test metadata: rps must be a whole number from 1 to 100');
  });
});
