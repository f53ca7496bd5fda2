// Shards on Leases, measured: R replicas of the bundled controller over S shards and N Rollouts on the local control
// plane, each replica its own audited user. Records the time to all reconciled after start, the spread of Rollouts
// per shard and per replica, then K rounds of a mass template change during which one replica is SIGKILLed: how long
// until its shards are held again and every canary is at its pause, and, from the apiserver's audit log, whether any
// object was written by two replicas at once. Writes bench/results/scale-out.json; `--help` lists the options.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { shardOf } from '../src/kube/shards/shard-of.js';
import { LABEL_LEASE_GROUP } from '../src/kube/shards/shard-manager.js';
import { up } from '../test/harness/cluster.js';
import { kubectlBinary } from '../test/harness/config.js';
import { Api } from './scale/api.js';
import { AuditLog } from './scale/audit.js';
import { fledge, type Running } from './scale/controllers.js';
import { doubleWrites, writesOf } from './scale/double-writes.js';
import { cpuSeconds } from './scale/proc.js';
import { percentiles } from './scale/stats.js';
import { established, healthy, pausedAtCanary, pool, rolloutManifest, RolloutTracker, sampleMemory, stop } from './scale/workload.js';

const USAGE = `usage: npm run bench:scale-out -- [options]
  --n N                Rollouts (default 3000)
  --replicas R         controller replicas (default 3)
  --shards S           shards (default 12)
  --kills K            rounds of a mass update with one replica SIGKILLed (default 10)
  --qps Q --burst B    each replica's client-side API limit (default 100 and 200)
  --lease-duration S   --lease-duration, with --lease-renew-deadline 0.7 x and --lease-retry-period 0.2 x (default 10)`;

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '3000' },
    replicas: { type: 'string', default: '3' },
    shards: { type: 'string', default: '12' },
    kills: { type: 'string', default: '10' },
    qps: { type: 'string', default: '100' },
    burst: { type: 'string', default: '200' },
    'lease-duration': { type: 'string', default: '10' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [n, replicaCount, shards, kills, qps, burst, leaseSeconds] = [flags.n, flags.replicas, flags.shards, flags.kills, flags.qps, flags.burst, flags['lease-duration']].map(Number) as [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
];
for (const value of [n, replicaCount, shards, qps, burst, leaseSeconds]) if (!Number.isInteger(value) || value < 1) throw new Error(`every number option must be a positive integer\n${USAGE}`);
if (!Number.isInteger(kills) || kills < 0) throw new Error(`--kills must be 0 or more\n${USAGE}`);

const root = join(import.meta.dirname, '..');
const runDir = mkdtempSync(join(tmpdir(), 'fledge-scale-out-'));
const runId = Date.now().toString(36);
const namespace = `scale-out-${runId}`;
const group = `fledge-${runId}`;
const rolloutsPath = `/apis/fledge.dev/v1alpha1/namespaces/${namespace}/rollouts`;
const timeoutMs = 300_000 + n * 200;
const leaseMs = leaseSeconds * 1000;
const leaseArgs = ['--lease-duration', String(leaseSeconds), '--lease-renew-deadline', String(leaseSeconds * 0.7), '--lease-retry-period', String(leaseSeconds * 0.2)];
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

interface Replica {
  /** Which audited user (and kubeconfig) it runs as: a replacement takes its killed predecessor's. */
  slot: number;
  running: Running;
  identity: string;
}

interface Round {
  victimSlot: number;
  victimShards: number;
  /** SIGKILL → every shard the victim held is held by a live replica. */
  takeoverMs: number;
  /** The template change (first apply) → every canary at its pause, the victim's Rollouts included. */
  updateToAllPausedMs: number;
  /** The replacement started → every live replica holds its fair share. */
  rebalanceMs: number;
}

async function main(): Promise<void> {
  log('building this checkout (npm run build)');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  const controller = fledge(root, join(root, 'bench', 'gc-preload.cjs'), { other: false });
  const cluster = await up(log, { buildFor: 'cluster' });
  if (cluster.auditedReplicaTokens.length < replicaCount) throw new Error(`the harness audits ${cluster.auditedReplicaTokens.length} replica users: --replicas at most that`);
  const api = new Api(cluster.apiserverUrl, cluster.adminToken, readFileSync(cluster.caFile, 'utf8'));
  const audit = new AuditLog(cluster.auditLog);
  const kubectl = (args: string[]): string => execFileSync(kubectlBinary, ['--kubeconfig', cluster.kubeconfig, '--cache-dir', join(runDir, 'kube-cache'), ...args], { encoding: 'utf8' });
  const kubeconfigs = cluster.auditedReplicaTokens.slice(0, replicaCount).map((token, slot) => {
    const file = join(runDir, `kubeconfig-${slot}`);
    writeFileSync(file, readFileSync(cluster.kubeconfig, 'utf8').replace(/token: .*/, `token: ${token}`), { mode: 0o600 });
    return file;
  });
  const slotOfUser = (user: string): string | undefined => /^fledge-audited-replica-(\d+)$/.exec(user)?.[1];

  kubectl(['apply', '--server-side', '--force-conflicts', '-k', join(root, 'crds')]);
  await established(api, 'rollouts.fledge.dev');
  kubectl(['create', 'namespace', namespace]);
  log(`N=${n} over ${shards} shards and ${replicaCount} replicas (QPS ${qps}/${burst} each, Lease ${leaseSeconds} s), ${kills} SIGKILLs; logs in ${runDir}`);

  const names = Array.from({ length: n }, (_, i) => `r${i}`);
  const applyAll = async (image: string): Promise<Map<string, number>> => {
    const generations = await pool(n, 32, async (i) => {
      const applied = (await api.apply(`${rolloutsPath}/r${i}`, rolloutManifest('fledge.dev/v1alpha1', namespace, i, image), 'fledge-bench')) as { metadata?: { generation?: number } };
      return applied.metadata?.generation ?? 0;
    });
    return new Map(names.map((name, i) => [name, generations[i] ?? 0]));
  };
  const perShard = Array.from({ length: shards }, () => 0);
  for (const name of names) perShard[shardOf(`${namespace}/${name}`, shards)]! += 1;

  const replicas: Replica[] = [];
  const logFiles: string[] = [];
  let incarnation = 0;
  const start = async (slot: number): Promise<Replica> => {
    const logFile = join(runDir, `replica-${slot}-${incarnation++}.log`);
    logFiles.push(logFile);
    const running = await controller.start({
      kubeconfig: kubeconfigs[slot] ?? '',
      namespace,
      qps,
      burst,
      workers: undefined,
      logFile,
      extraArgs: ['--shards', String(shards), '--leader-election-namespace', namespace, '--leader-election-id', group, ...leaseArgs],
    });
    await running.ready;
    const identity = (await running.logged(/"msg":"acting on shard".*"identity":"([^"]+)"/, 120_000))[1] ?? '';
    return { slot, running, identity };
  };
  /** Each shard's holder ('' for none). */
  const holders = async (): Promise<string[]> => {
    const { items } = await api.call<{ items: Array<{ metadata: { name: string }; spec?: { holderIdentity?: string } }> }>(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases?labelSelector=${encodeURIComponent(`${LABEL_LEASE_GROUP}=${group}`)}`,
    );
    return Array.from({ length: shards }, (_, shard) => items.find((lease) => lease.metadata.name === `${group}-shard-${shard}`)?.spec?.holderIdentity ?? '');
  };
  const pollUntil = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
      const answer = await probe();
      if (answer !== undefined) return answer;
    }
    throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
  };
  const balanced = (): Promise<string[]> =>
    pollUntil('every replica holding its fair share', async () => {
      const held = await holders();
      const counts = replicas.map((replica) => held.filter((holder) => holder === replica.identity).length);
      const fair = counts.every((count) => count >= Math.floor(shards / replicas.length) && count <= Math.ceil(shards / replicas.length));
      return fair && counts.reduce((sum, count) => sum + count, 0) === shards ? held : undefined;
    });

  const tracker = new RolloutTracker(timeoutMs);
  let stopWatch = (): void => undefined;
  try {
    log(`${n} Rollouts prestaged, then ${replicaCount} replicas started`);
    await applyAll('bench/app:v1');
    stopWatch = await tracker.follow(api, rolloutsPath);
    const startedAt = Date.now();
    replicas.push(...(await Promise.all(Array.from({ length: replicaCount }, (_, slot) => start(slot)))));
    const allHealthy = await tracker.waitFor(names, healthy, 'Healthy');
    const held = await balanced();
    const rolloutsByReplica = replicas.map((replica) => held.reduce((sum, holder, shard) => sum + (holder === replica.identity ? (perShard[shard] ?? 0) : 0), 0));
    const mean = n / shards;
    log(`all ${n} Healthy ${seconds(allHealthy - startedAt)} s after start; per shard ${Math.min(...perShard)}..${Math.max(...perShard)} (mean ${mean.toFixed(1)}), per replica ${rolloutsByReplica.join(', ')}`);

    const auditFrom = audit.mark();
    const rounds: Round[] = [];
    for (let k = 0; k < kills; k++) {
      const victim = replicas[k % replicas.length] as Replica;
      const victimShards = (await holders()).flatMap((holder, shard) => (holder === victim.identity ? [shard] : []));
      const updateAt = Date.now();
      const applying = applyAll(`bench/app:v${k + 2}`);
      // Mid-update: some of the change applied, most reconciles still to come.
      await sleep(1500);
      const killedAt = Date.now();
      victim.running.process.kill('SIGKILL');
      replicas.splice(replicas.indexOf(victim), 1);
      // Polled while the change is still being applied: at N=3000 applying it takes longer than the takeover.
      const [generations, takenAt] = await Promise.all([
        applying,
        pollUntil(`shards ${victimShards.join(', ')} taken over`, async () => {
          const now = await holders();
          return victimShards.every((shard) => replicas.some((replica) => replica.identity === now[shard])) ? Date.now() : undefined;
        }),
      ]);
      const allPaused = await tracker.waitFor(names, pausedAtCanary(generations), 'paused at the canary');
      const restartAt = Date.now();
      replicas.push(await start(victim.slot));
      await balanced();
      const round: Round = { victimSlot: victim.slot, victimShards: victimShards.length, takeoverMs: takenAt - killedAt, updateToAllPausedMs: allPaused - updateAt, rebalanceMs: Date.now() - restartAt };
      rounds.push(round);
      log(`round ${k + 1}/${kills}: killed replica ${victim.slot} (${victimShards.length} shards); taken over in ${seconds(round.takeoverMs)} s; all paused ${seconds(round.updateToAllPausedMs)} s after the change; rebalanced ${seconds(round.rebalanceMs)} s after its replacement started`);
    }
    // Writes still in flight at the last round's end belong to it.
    await sleep(3000);
    const writes = writesOf(audit.events(auditFrom, audit.mark()), (user) => {
      const slot = slotOfUser(user);
      return slot === undefined ? undefined : `replica-${slot}`;
    });
    const doubles = doubleWrites(writes, leaseMs);
    log(`double writes over ${writes.length} writes: ${doubles.interleaved} interleaved, ${doubles.withinWindow} handed over within ${leaseSeconds} s, ${doubles.handedOver} handed over in all`);

    // A holder that could not renew within the renew deadline stops acting on the shard (and takes it again if it can).
    const lapses = logFiles.reduce((sum, file) => sum + (readFileSync(file, 'utf8').match(/"why":"its renew deadline passed"/g) ?? []).length, 0);
    const memory = await Promise.all(replicas.map(async (replica) => ({ slot: replica.slot, ...(await sampleMemory(replica.running)), cpuSeconds: cpuSeconds(replica.running.pid) })));
    const result = {
      bench: 'scale-out',
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, memoryBytes: totalmem(), loadavg: loadavg() },
      settings: { rollouts: n, replicas: replicaCount, shards, kills, qps, burst, leaseSeconds },
      notes: [
        'Each replica is the bundle (node dist/main.js) with --shards, its own audited user, and the Lease timing in settings.',
        'takeoverMs: SIGKILL to every shard the victim held being held by a live replica (Leases polled every 100 ms).',
        'doubleWrites.interleaved (the goal, 0): an object one replica wrote, then another, then the first again, within one Lease duration. withinWindow counts orderly handovers too: the issue\'s literal measure.',
        'renewDeadlineLapses: how often a replica stopped acting on a shard because it could not renew its Lease within the renew deadline (a starved process or apiserver), over every replica.',
        'memory: each live replica at the end (after the last round), RSS after a forced GC; cpuSeconds over its life (the replacements\' lives are shorter).',
      ],
      startToAllHealthyMs: allHealthy - startedAt,
      rolloutsPerShard: { min: Math.min(...perShard), max: Math.max(...perShard), mean, maxOverMean: Math.max(...perShard) / mean, counts: perShard },
      rolloutsPerReplicaAtStart: rolloutsByReplica,
      rounds,
      takeoverMs: percentiles(rounds.map((round) => round.takeoverMs)),
      updateToAllPausedMs: percentiles(rounds.map((round) => round.updateToAllPausedMs)),
      writes: writes.length,
      doubleWrites: doubles,
      renewDeadlineLapses: lapses,
      replicas: memory,
    };
    mkdirSync(join(root, 'bench', 'results'), { recursive: true });
    const out = join(root, 'bench', 'results', `scale-out-${n}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${out}`);
  } finally {
    stopWatch();
    await Promise.all(replicas.map((replica) => stop(replica.running)));
    kubectl(['delete', 'namespace', namespace, '--wait=false']);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
