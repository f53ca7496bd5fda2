// client-node's index would bring its generated API classes into the bundle (scripts/bundle-controller.ts).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { loadConfig, USAGE } from './config.js';
import { makeApiClients } from './controller/api-clients.js';
import { createCaches } from './controller/informers.js';
import { runController } from './controller/lifecycle.js';
import { ControllerQueues } from './controller/queues.js';
import { createReconcilers } from './controller/reconcilers.js';
import { createSharding } from './controller/shards.js';
import { connectWatches, indexConfigReaders, watchTable } from './controller/watches.js';
import { ControllerMetrics } from './observability/metrics.js';
import { createLogger } from './observability/logger.js';
import { WriteFence } from './kube/shards/write-fence.js';

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const config = loadConfig(process.argv.slice(2), process.env);
  const logger = createLogger(config.logLevel, { component: 'fledge-controller' });
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const metrics = new ControllerMetrics();
  const fence = config.shards > 1 ? new WriteFence() : undefined;
  const api = makeApiClients(kc, config, metrics, fence);
  const caches = createCaches(kc, api, config, logger);
  const sharding = fence && createSharding(config, api, caches, fence, logger);
  const queues = new ControllerQueues({ concurrency: config.concurrency, metrics, logger, ...(sharding && { ownership: sharding.ownership }) });
  const reconcilers = createReconcilers({ config, api, caches, metrics, logger, enqueue: queues.enqueue });
  connectWatches(watchTable(caches, indexConfigReaders(caches.rollouts)), queues.enqueue);
  await runController({ config, api, caches, metrics, logger, queues, reconcilers, ...(sharding && { sharding }) });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
