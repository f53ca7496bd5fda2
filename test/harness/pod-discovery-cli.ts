// Serves Prometheus HTTP SD targets for the cluster's pods (see pod-discovery.ts); `up` runs it beside the cluster:
//   tsx test/harness/pod-discovery-cli.ts --kubeconfig FILE --port N
import { parseArgs } from 'node:util';
import { startPodDiscovery } from './pod-discovery.js';

const log = (line: string): void => void process.stderr.write(`pod discovery: ${line}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, port: { type: 'string' } } });
  const port = Number(values.port);
  if (!values.kubeconfig || !Number.isInteger(port) || port <= 0) {
    log('usage: tsx test/harness/pod-discovery-cli.ts --kubeconfig FILE --port N');
    process.exitCode = 2;
    return;
  }
  const discovery = await startPodDiscovery(values.kubeconfig, port);
  log(`serving ${discovery.url}`);
  process.once('SIGTERM', () => {
    discovery.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((err: unknown) => {
  log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
