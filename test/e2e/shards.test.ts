import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutStatus } from '../../src/api/rollout.js';
import { shardOf } from '../../src/kube/shards/shard-of.js';
import { LABEL_LEASE_GROUP } from '../../src/kube/shards/shard-manager.js';
import { CONTROLLER_NAMESPACE, createTestNamespace, eventually, installCrds, kubectl, recordWatch, startController, testKubeConfig, type ControllerProcess } from '../harness/e2e.js';
import { canaryRollout } from '../harness/manifests.js';

const SHARDS = 4;
const LEASE_SECONDS = 4;
/** Short Leases, so a takeover is seconds; the renew deadline keeps a second of margin below the duration. */
const LEASE_ARGS = ['--lease-duration', String(LEASE_SECONDS), '--lease-renew-deadline', '3', '--lease-retry-period', '0.5'];
const PER_SHARD = 3;

interface LogLine {
  msg: string;
  time: string;
  name?: string;
  shard?: number;
  identity?: string;
}
const logLines = (controller: ControllerProcess): LogLine[] =>
  controller
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

describe('shards: two replicas split the Rollouts by shard Leases', () => {
  let ns: Awaited<ReturnType<typeof createTestNamespace>>;
  let group: string;
  const controllers: ControllerProcess[] = [];
  const leases = testKubeConfig().makeApiClient(k8s.CoordinationV1Api);

  beforeAll(async () => {
    await installCrds();
    ns = await createTestNamespace('shards');
    group = `fledge-${ns.name}`;
  });
  afterAll(async (ctx) => {
    await Promise.all(controllers.map((controller) => controller.kill()));
    if (ctx.tasks.some((t) => t.result?.state === 'fail')) {
      controllers.forEach((c, i) => process.stderr.write(`controller ${i} output:\n${c.output().slice(-15_000)}\n`));
    }
    await kubectl(['delete', 'lease', '-n', CONTROLLER_NAMESPACE, '-l', `${LABEL_LEASE_GROUP}=${group}`, '--ignore-not-found']);
    await ns.remove();
  });

  /** Each shard Lease's holder, once every one is held. */
  const holders = async (): Promise<string[] | undefined> => {
    const listed = await leases.listNamespacedLease({ namespace: CONTROLLER_NAMESPACE, labelSelector: `${LABEL_LEASE_GROUP}=${group}` });
    const byShard = Array.from({ length: SHARDS }, (_, shard) => listed.items.find((l) => l.metadata?.name === `${group}-shard-${shard}`)?.spec?.holderIdentity ?? '');
    return byShard.every((holder) => holder !== '') ? byShard : undefined;
  };
  /** The identity a controller holds Leases as, from its own log. */
  const identityOf = (controller: ControllerProcess): string | undefined => logLines(controller).find((l) => l.msg === 'acting on shard')?.identity;

  it('splits the shards two and two, each replica reconciling only the Rollouts of its own; a SIGKILLed replica’s Rollouts are reconciled by the other within the lease duration + 5 s', async () => {
    const args = ['--shards', String(SHARDS), '--leader-election-namespace', CONTROLLER_NAMESPACE, '--leader-election-id', group, ...LEASE_ARGS];
    controllers.push(await startController(ns.name, args), await startController(ns.name, args));
    const [first, second] = controllers as [ControllerProcess, ControllerProcess];
    const settled = await eventually(
      'two shards held by each replica',
      async () => {
        const held = await holders();
        const [a, b] = [identityOf(first), identityOf(second)];
        if (held === undefined || a === undefined || b === undefined) return undefined;
        return held.filter((h) => h === a).length === 2 && held.filter((h) => h === b).length === 2 ? { held, a, b } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const ownerOf = (shard: number): ControllerProcess => (settled.held[shard] === settled.a ? first : second);

    // Three Rollouts in every shard, by the controller's own shard function.
    const names: string[] = [];
    for (let i = 0; names.length < SHARDS * PER_SHARD; i++) {
      const name = `web-${i}`;
      if (names.filter((n) => shardOf(`${ns.name}/${n}`, SHARDS) === shardOf(`${ns.name}/${name}`, SHARDS)).length < PER_SHARD) names.push(name);
    }
    const rollouts = names.map((name) => canaryRollout(name, { replicas: 1, image: 'registry.k8s.io/pause:3.9', canary: { steps: [{ setWeight: 50 }, { pause: {} }] } }));
    const applied = await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rollouts }) });
    expect(applied.code, applied.stderr).toBe(0);

    const rolloutsPath = `/apis/fledge.dev/v1alpha1/namespaces/${ns.name}/rollouts`;
    const recording = await recordWatch<{ metadata: { name: string }; status?: RolloutStatus }>(rolloutsPath);
    const firstSeen = (name: string, check: (s: RolloutStatus) => boolean, after = 0): number | undefined =>
      recording.timed().find(({ at, object }) => at >= after && object.metadata.name === name && object.status !== undefined && check(object.status))?.at;
    await eventually('every Rollout Healthy', async () => (names.every((name) => firstSeen(name, (s) => s.phase === 'Healthy' && s.observedGeneration === 1) !== undefined) ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 250,
    });

    // Who created each Rollout's ReplicaSet: exactly the replica holding its shard, never the other.
    const creators = (name: string): ControllerProcess[] => controllers.filter((c) => logLines(c).some((l) => l.msg === 'creating replicaset' && l.name === name));
    for (const name of names) expect(creators(name), `${name} (shard ${shardOf(`${ns.name}/${name}`, SHARDS)})`).toEqual([ownerOf(shardOf(`${ns.name}/${name}`, SHARDS))]);

    // SIGKILL one: it releases nothing, so the other must wait out its Leases, then take its shards.
    const victim = first;
    const survivor = second;
    const orphaned = names.filter((name) => ownerOf(shardOf(`${ns.name}/${name}`, SHARDS)) === victim);
    const kept = names.filter((name) => !orphaned.includes(name));
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    // A new revision for every Rollout: the orphaned ones progress only once the survivor holds their shards.
    const patched = await kubectl(['patch', 'rollout', ...names, '-n', ns.name, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } } } })]);
    expect(patched.code, patched.stderr).toBe(0);
    // The first status written for the new generation: the first reconcile of it.
    const progressed = (name: string): number | undefined => firstSeen(name, (s) => s.observedGeneration === 2, killedAt);
    await eventually('every Rollout reconciled at its new generation', async () => (names.every((name) => progressed(name) !== undefined) ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });

    const boundMs = (LEASE_SECONDS + 5) * 1000;
    const takeovers = orphaned.map((name) => (progressed(name) as number) - killedAt);
    process.stderr.write(`shards: the survivor reconciled the killed replica's ${orphaned.length} Rollouts ${Math.min(...takeovers)}-${Math.max(...takeovers)} ms after SIGKILL (bound ${boundMs} ms)\n`);
    for (const [i, name] of orphaned.entries()) expect(takeovers[i], `${name} reconciled after SIGKILL`).toBeLessThanOrEqual(boundMs);
    for (const name of [...kept, ...orphaned]) expect(creators(name), name).toContain(survivor);
    expect(await eventually('every shard held by the survivor', async () => ((await holders())?.every((h) => h === settled.b) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 })).toBe(true);
    // It took each orphaned shard only once its Lease had gone unrenewed for the lease duration.
    const tookAt = logLines(survivor)
      .filter((l) => l.msg === 'acting on shard' && Date.parse(l.time) >= killedAt)
      .map((l) => Date.parse(l.time) - killedAt);
    expect(tookAt).toHaveLength(2);
    for (const ms of tookAt) expect(ms).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 1_000);
    await eventually('every Rollout paused at 50% on its new revision', async () => (names.every((name) => firstSeen(name, (s) => s.observedGeneration === 2 && s.phase === 'Paused', killedAt) !== undefined) ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    await recording.stop();
  });
});
