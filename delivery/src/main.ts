import {
  createLogger,
  createMetricsRegistry,
  createRedis,
  exitForConfig,
  onShutdown,
  PartitionMismatch,
  useEntryFormat,
} from '@pushflow/shared';
import { loadDeliveryConfig } from './config.ts';
import { startDeliveryNode } from './node.ts';

const config = loadDeliveryConfig();
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const nodeId = config.PUSHFLOW_NODE_ID;
const log = createLogger('delivery', config.LOG_LEVEL).child({ nodeId });
const redis = createRedis(config.REDIS_URL, `delivery-${nodeId}`, { log });
const blockingRedis = createRedis(config.REDIS_URL, `delivery-${nodeId}-consumer`, { log });

const registry = createMetricsRegistry('delivery', { processMetrics: true });
const node = await startDeliveryNode({ config, redis, blockingRedis, log, registry }).catch((err: unknown) => {
  if (err instanceof PartitionMismatch) {
    exitForConfig('delivery', err.message);
  }
  log.fatal({ err }, 'start failed');
  process.exit(1);
});
log.info({ port: node.port }, 'ready'); // nodeId comes with every line via the child binding

onShutdown(log, async () => {
  await node.stop();
  await redis.quit();
  blockingRedis.disconnect();
});
