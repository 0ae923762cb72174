import { once } from 'node:events';
import { checkPartitionsOrExit, createLogger, createMetricsRegistry, createRedis, keys as keysFor, onShutdown, useEntryFormat } from '@pushflow/shared';
import { buildApp } from './app.ts';
import { batchLimits, loadGatewayConfigOrExit, SERVICE } from './config.ts';
import { createRpc, newGatewayId } from './rpc.ts';

const config = loadGatewayConfigOrExit();
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger(SERVICE, config.LOG_LEVEL);
const gatewayId = newGatewayId();

// Commands fail fast so a Redis outage answers 503 at once; the reply reader waits it out.
const redis = createRedis(config.REDIS_URL, `${SERVICE}:${gatewayId}`, { failFast: true, commandTimeoutMs: config.PUSHFLOW_REPLY_TIMEOUT_MS });
const blocking = createRedis(config.REDIS_URL, `${SERVICE}:${gatewayId}:replies`);
for (const [name, client] of [['commands', redis], ['replies', blocking]] as const) {
  client.on('error', (err: Error) => log.warn({ connection: name, err: err.message }, 'redis connection error'));
}

const keys = keysFor(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS);
const rpc = createRpc({
  redis, blocking, keys, gatewayId,
  timeoutMs: config.PUSHFLOW_REPLY_TIMEOUT_MS, log,
});
const app = await buildApp({ config, redis, rpc, log, registry: createMetricsRegistry(SERVICE, { processMetrics: true }) });

onShutdown(log, async () => {
  await app.close(); // stops taking requests; those in flight still get their replies
  await rpc.stop();
  await redis.quit().catch(() => redis.disconnect());
});

await app.listen({ port: config.GATEWAY_PORT, host: config.GATEWAY_HOST });
// Listening already answers /healthz; 'ready' means requests can be taken.
if (redis.status !== 'ready') await once(redis, 'ready');
// Checked once Redis answers (the gateway listens through an outage and answers 503 meanwhile).
await checkPartitionsOrExit(redis, keys, SERVICE, log);
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.GATEWAY_PORT;
log.info({
  port, gatewayId, partitions: keys.partitions,
  rateLimit: config.PUSHFLOW_RATE_LIMIT_PER_SECOND === 0 ? 'off' : { perSecond: config.PUSHFLOW_RATE_LIMIT_PER_SECOND, burst: config.PUSHFLOW_RATE_LIMIT_BURST },
  bodyLimitBytes: config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES,
  // The burst may cap the batch size below PUSHFLOW_MAX_BATCH_SIZE (config.ts batchLimits).
  batch: batchLimits(config),
  accessLog: config.PUSHFLOW_ACCESS_LOG,
}, 'ready');
