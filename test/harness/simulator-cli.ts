// Runs the workload simulator on its own, for a person or the demo:
//   tsx test/harness/simulator-cli.ts --namespaces a,b [--kubeconfig FILE] [--targets-dir DIR] [--port N] [--tick-ms N]
//     [--rps N] [--latency-scale X] [--random-errors SEED]
// Ready pods also answer real requests on their pod IPs (through the harness Gateway, say): --rps 0 leaves only
// those in http_requests_total, --latency-scale 1 makes them as slow as their image's profile, --random-errors fails
// each request with the profile's ratio from a stream per pod seeded by SEED, instead of exactly that share.
// By default it uses the cluster `npm run cluster:up` started (its state in FLEDGE_CLUSTER_DIR, /tmp/fledge-cluster
// by default): that cluster's Prometheus file_sd directory, and $KUBECONFIG or else that cluster's kubeconfig.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readState } from './cluster.js';
import { clusterDir } from './config.js';
import { HarnessError } from './errors.js';
import { startSimulator } from './simulator.js';

const log = (line: string): void => void process.stderr.write(`simulator: ${line}\n`);

const usage =
  'usage: tsx test/harness/simulator-cli.ts --namespaces a,b [--kubeconfig FILE] [--targets-dir DIR] [--port N] [--tick-ms N] [--rps N] [--latency-scale X] [--random-errors SEED]\n';

function numberOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new HarnessError(`--${name} must be a number of at least ${min}, not ${JSON.stringify(value)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      namespaces: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      'targets-dir': { type: 'string' },
      port: { type: 'string' },
      'tick-ms': { type: 'string' },
      rps: { type: 'string' },
      'latency-scale': { type: 'string' },
      'random-errors': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const namespaces = (values.namespaces ?? '')
    .split(',')
    .map((ns) => ns.trim())
    .filter((ns) => ns !== '');
  if (namespaces.length === 0) throw new HarnessError(`--namespaces is required\n${usage}`);

  const state = readState();
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG ?? state?.kubeconfig;
  if (!kubeconfig) throw new HarnessError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or start the local cluster with `npm run cluster:up`');
  const targetsDir = values['targets-dir'] ?? state?.prometheusTargetsDir ?? join(clusterDir, 'prometheus', 'targets');
  if (!existsSync(targetsDir)) {
    throw new HarnessError(`Prometheus targets directory ${targetsDir} does not exist: start the local cluster (npm run cluster:up) or pass --targets-dir`);
  }

  const simulator = await startSimulator({
    kubeconfig,
    namespaces,
    targetsDir,
    port: numberOption('port', values.port, 0),
    tickMs: numberOption('tick-ms', values['tick-ms'], 10),
    requestsPerSecond: numberOption('rps', values.rps, 0),
    latencyScale: numberOption('latency-scale', values['latency-scale'], 0),
    ...(values['random-errors'] !== undefined && { randomErrors: { seed: numberOption('random-errors', values['random-errors'], 0) as number } }),
    log,
  });
  log(`serving ${simulator.url}/metrics for Ready pods in ${namespaces.join(', ')}, and each pod on its own IP; registered in ${targetsDir}; Ctrl-C stops`);
  process.stdout.write(`SIMULATOR_URL=${simulator.url}\n`);
  const stop = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    simulator.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  if (err instanceof HarnessError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) log(`error: ${err.message}`);
  else log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
