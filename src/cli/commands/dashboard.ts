import { CliError } from '../client.js';
import { interrupted, type Command, type CommandContext } from '../command.js';
import { startDashboard } from '../dashboard/server.js';

/** The port Argo Rollouts' dashboard uses, so a habit carries over. */
const DASHBOARD_PORT = 3100;

function portOf(ctx: CommandContext): number {
  const port = Number(ctx.values.port ?? DASHBOARD_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be 0..65535, not ${String(ctx.values.port)}`, 2);
  return port;
}

function addressOf(ctx: CommandContext): string {
  const address = String(ctx.values.address ?? '127.0.0.1');
  // It answers only to the Host it listens on (against DNS rebinding): a wildcard has no one name to check.
  if (['0.0.0.0', '::', '[::]'].includes(address)) throw new CliError(`--address must be one address the browser will use, not the wildcard ${address}`, 2);
  if (!['127.0.0.1', '::1', 'localhost'].includes(address)) {
    process.stderr.write(`${ctx.c.yellow('warning:')} ${address} is not loopback: whoever reaches it can see and steer these rollouts with your credentials\n`);
  }
  return address;
}

export const dashboard: Command = {
  usage: 'kubectl fledge dashboard [--port 3100] [--address 127.0.0.1] [-n NS | -A] [--prometheus-address URL]',
  summary:
    'Serve a live web page of the rollouts (steps, weights, revisions, analysis plots, a backtest of past releases on request) with their buttons, on loopback, with your kubeconfig. Prints the URL; opens nothing.',
  example: 'kubectl fledge dashboard -n shop --port 3100',
  options: { port: { type: 'string' }, address: { type: 'string' }, 'all-namespaces': { type: 'boolean', short: 'A' }, 'prometheus-address': { type: 'string' } },
  async run(ctx) {
    const port = portOf(ctx);
    const address = addressOf(ctx);
    const client = ctx.client();
    const prometheusAddress = typeof ctx.values['prometheus-address'] === 'string' ? ctx.values['prometheus-address'] : undefined;
    const namespace = ctx.values['all-namespaces'] === true ? undefined : client.target.namespace;
    const running = await startDashboard({ client, namespace, address, port, prometheusAddress });
    ctx.out.write(`Fledge dashboard: ${running.url}  (Ctrl-C to stop)\n`);
    await interrupted();
    await running.close();
    return 0;
  },
};
