import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createTestNamespace, eventually, installCrds, kubectl, plugin, PLUGIN, startController, type ControllerProcess, type PluginRun } from '../harness/e2e.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const V1 = 'registry.k8s.io/pause:3.9';
const V2 = 'registry.k8s.io/pause:3.10';

function manifest(name: string, image: string, steps: unknown[]): string {
  return JSON.stringify({
    apiVersion: 'fledge.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
      strategy: { canary: { steps } },
    },
  });
}

const STEPS = [{ setWeight: 25 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];

describe('kubectl fledge against the real control plane', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let controller: ControllerProcess;

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('cli');
    controller = await startController(ns.name);
  });
  afterAll(async (ctx) => {
    await controller.kill();
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) process.stderr.write(`controller output:\n${controller.output().slice(-20_000)}\n`);
    await ns.remove();
  });

  const apply = async (text: string): Promise<void> => {
    const res = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: text });
    expect(res.code, res.stderr).toBe(0);
  };
  const waitForPhase = (name: string, phase: string, step?: number): Promise<true> =>
    eventually(`${name} ${phase}`, async () => {
      const res = await plugin(['get', 'rollout', name, '-n', ns.name, '-o', 'json']);
      const status = (JSON.parse(res.stdout) as { status?: { phase?: string; currentStepIndex?: number } }).status;
      return status?.phase === phase && (step === undefined || status.currentStepIndex === step) ? true : undefined;
    });
  const setImage = (name: string, image: string): Promise<PluginRun> => plugin(['set', 'image', name, `app=${image}`, '-n', ns.name]);

  it('steers a canary with promote, abort and retry, and status exits 0 for a promoted rollout and 1 for an aborted one', async () => {
    await apply(manifest('steer', V1, STEPS));
    await waitForPhase('steer', 'Healthy');
    const refused = await plugin(['promote', 'steer', '-n', ns.name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('has no canary in progress');

    const set = await setImage('steer', V2);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`image updated: app=${V2}`);
    await waitForPhase('steer', 'Paused', 1);
    const promoted = await plugin(['promote', 'steer', '-n', ns.name]);
    expect(promoted.code, promoted.stderr).toBe(0);
    await waitForPhase('steer', 'Paused', 3);

    const aborted = await plugin(['abort', 'steer', '-n', ns.name]);
    expect(aborted.code, aborted.stderr).toBe(0);
    const degraded = await plugin(['status', 'steer', '-n', ns.name, '--timeout', '60s']);
    expect(degraded.code).toBe(1);
    expect(degraded.stdout).toContain('rollout steer is Degraded');

    const retried = await plugin(['retry', 'steer', '-n', ns.name]);
    expect(retried.code, retried.stderr).toBe(0);
    await waitForPhase('steer', 'Paused', 1);
    expect((await plugin(['retry', 'steer', '-n', ns.name])).code).toBe(1);

    const full = await plugin(['promote', 'steer', '--full', '-n', ns.name]);
    expect(full.code, full.stderr).toBe(0);
    const healthy = await plugin(['status', 'steer', '-n', ns.name, '--timeout', '90s']);
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(healthy.stdout).toContain('rollout steer is Healthy');
  });

  it('status exits 2 when the rollout does not finish in time', async () => {
    await apply(manifest('slow', V1, STEPS));
    await waitForPhase('slow', 'Healthy');
    await setImage('slow', V2);
    const started = Date.now();
    const waited = await plugin(['status', 'slow', '-n', ns.name, '--timeout', '3s']);
    expect(waited.code).toBe(2);
    expect(waited.stderr).toContain('timed out after 3s');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('get and list show the rollout, with json output and meaningful errors', async () => {
    await apply(manifest('shown', V1, STEPS));
    await waitForPhase('shown', 'Healthy');
    const get = await plugin(['get', 'rollout', 'shown', '-n', ns.name]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toContain('Status:     ✔ Healthy');
    expect(get.stdout).toMatch(/revision 1 {2}stable,current {2}shown-\w+ {2}✔ 4\/4 available {2}pods 4\/4 ready/);
    const list = await plugin(['list', 'rollouts', '-n', ns.name]);
    expect(list.stdout).toMatch(/^NAME +STATUS/);
    expect(list.stdout).toMatch(/\nshown +✔ Healthy +4\/4 +100% +4\/4/);
    const missing = await plugin(['get', 'rollout', 'nope', '-n', ns.name]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`rollout "nope" not found in namespace "${ns.name}"`);
    const help = await plugin(['promote', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Example:');
  });

  it('lint passes examples/ and fails broken manifests with file:line', async () => {
    const good = await plugin(['lint', '-f', join(repoRoot, 'examples')]);
    expect(good.code, good.stdout).toBe(0);
    expect(good.stdout).toMatch(/✔ \d+ objects in \d+ files are valid/);
    const bad = await plugin(['lint', '-f', join(repoRoot, 'test/fixtures/lint/broken.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('broken.yaml:11: error: Rollout/too-heavy: spec.strategy.canary.steps.0.setWeight');
  });

  it('get --watch redraws in place in a real terminal (tmux)', async () => {
    const hasTmux = spawnSync('tmux', ['-V']).status === 0;
    expect(hasTmux, 'tmux is installed by .ci/run').toBe(true);
    await apply(manifest('watched', V1, STEPS));
    await waitForPhase('watched', 'Healthy');
    const session = `fledge-${ns.name}`;
    const command = `${process.execPath} ${PLUGIN} --kubeconfig ${inject('kubeconfig')} get rollout watched -n ${ns.name} --watch`;
    expect(spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '50', command]).status).toBe(0);
    const pane = (): string => spawnSync('tmux', ['capture-pane', '-p', '-t', session, '-S', '-200']).stdout.toString();
    try {
      await eventually('first frame', async () => (pane().includes('✔ Healthy') ? true : undefined));
      await setImage('watched', V2);
      await eventually('frame at the pause', async () => (pane().includes('॥ Paused') ? true : undefined));
      const screen = pane();
      // Redrawn in place: one header on screen and in the scrollback, not one per frame.
      expect(screen.match(/Name: {7}watched/g)).toHaveLength(1);
      expect(screen).not.toContain('✔ Healthy');
      expect(screen).toContain(`${V2} (canary)`);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  });
});
