import { ensureBinaries } from './build.js';
import { down, up } from './cluster.js';
import { kubectlDir } from './config.js';
import { HarnessError } from './errors.js';
import { exportLines } from './shell-exports.js';

// Progress goes to stderr so that stdout carries only the lines a shell can `eval`.
const log = (line: string): void => void process.stderr.write(`cluster: ${line}\n`);

async function main(command: string | undefined): Promise<void> {
  if (command === 'up') {
    const state = await up(log);
    log(`ready: kubectl --kubeconfig ${state.kubeconfig} get nodes,pods -A`);
    process.stdout.write(
      exportLines({ KUBECONFIG: state.kubeconfig, PROMETHEUS_URL: state.prometheusUrl, FLEDGE_GATEWAY_URL: state.gatewayUrl, FLEDGE_KUBECTL_DIR: kubectlDir }),
    );
  } else if (command === 'build') {
    await ensureBinaries('tests', log);
    log('binaries are built');
  } else if (command === 'down') {
    await down(log);
  } else {
    process.stderr.write('usage: tsx test/harness/cli.ts up|down|build\n');
    process.exitCode = 2;
  }
}

main(process.argv[2]).catch((err: unknown) => {
  if (err instanceof HarnessError) log(`error: ${err.message}`);
  else log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
