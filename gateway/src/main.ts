import { once } from 'node:events';
import { checkPartitionsOrExit, createLogger, createMetricsRegistry, loadConfigOrExit, onShutdown, useEntryFormat } from '@pushflow/shared';
import { batchLimits, loadGatewayConfig, SERVICE } from './config.ts';
import { createGateway } from './gateway.ts';

const config = loadConfigOrExit(SERVICE, () => loadGatewayConfig());
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger(SERVICE, config.LOG_LEVEL);
const gateway = await createGateway({ config, log, registry: createMetricsRegistry(SERVICE, { processMetrics: true }) });
const { redis, keys, gatewayId } = gateway;

onShutdown(log, () => gateway.close());

const port = await gateway.listen();
// Listening already answers /healthz; 'ready' means requests can be taken.
if (redis.status !== 'ready') await once(redis, 'ready');
// Checked once Redis answers (the gateway listens through an outage and answers 503 meanwhile).
await checkPartitionsOrExit(redis, keys, SERVICE, log);
log.info(
  {
    port,
    httpServer: config.PUSHFLOW_HTTP_SERVER,
    gatewayId,
    partitions: keys.partitions,
    rateLimit:
      config.PUSHFLOW_RATE_LIMIT_PER_SECOND === 0
        ? 'off'
        : { perSecond: config.PUSHFLOW_RATE_LIMIT_PER_SECOND, burst: config.PUSHFLOW_RATE_LIMIT_BURST },
    bodyLimitBytes: config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES,
    // The burst may cap the batch size below PUSHFLOW_MAX_BATCH_SIZE (config.ts batchLimits).
    batch: batchLimits(config),
    accessLog: config.PUSHFLOW_ACCESS_LOG,
  },
  'ready',
);
