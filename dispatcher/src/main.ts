import { once } from 'node:events';
import { MongoClient } from 'mongodb';
import { createLogger, createRedis, groups, keys as makeKeys, metricsAccess, onShutdown, startConsumer } from '@pushflow/shared';
import { loadDispatcherConfigOrExit } from './config.ts';
import { createHealthServer, within } from './health.ts';
import { createDispatcherMetrics } from './metrics.ts';
import { MONGO_CONNECT_TIMEOUT_MS, mongoClientOptions } from './mongo-client.ts';
import { restartClient, watchHeartbeats } from './mongo-watchdog.ts';
import { runEvery } from './periodic.ts';
import { createProjector } from './projector.ts';
import { createStatusHandler } from './queries.ts';
import { reapDeadNodes } from './reaper.ts';
import { trimLedger } from './retention.ts';
import { createRefusalReplier } from './refusals.ts';
import { createSendHandler } from './sender.ts';
import { openNotifications } from './store.ts';

const config = loadDispatcherConfigOrExit();
const log = createLogger('dispatcher', config.LOG_LEVEL);
const keys = makeKeys(config.PUSHFLOW_REDIS_PREFIX);

const redis = createRedis(config.REDIS_URL, 'dispatcher', { log });
const mongo = new MongoClient(config.MONGO_URL, mongoClientOptions(config));
await mongo.connect();
// A heartbeat times out after the connect timeout; one unanswered three times as long is stuck.
const watchdog = watchHeartbeats(mongo, { stallMs: 3 * MONGO_CONNECT_TIMEOUT_MS, log, restart: () => restartClient(mongo) });
const notifications = await openNotifications(mongo.db(), 'notifications', { statusTtlDays: config.PUSHFLOW_STATUS_TTL_DAYS, log });
const metrics = createDispatcherMetrics({ redis, keys, prefix: config.PUSHFLOW_REDIS_PREFIX });
const { ledger } = metrics;

const consumer = config.PUSHFLOW_CONSUMER_ID;
const common = {
  count: config.PUSHFLOW_BATCH_SIZE, blockMs: config.PUSHFLOW_BLOCK_MS, consumer, log,
  claimIdleMs: config.PUSHFLOW_CLAIM_IDLE_MS, maxAttempts: config.PUSHFLOW_MAX_ATTEMPTS,
};
// Sends and status reads have streams and connections of their own, so a send backlog
// never delays a status read.
const consumers = [
  startConsumer({
    ...common, redis: createRedis(config.REDIS_URL, 'dispatcher-commands', { log }), stream: keys.commands, group: groups.dispatcher,
    handler: createSendHandler({
      redis, keys, notifications, log, group: groups.dispatcher, nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS, commandMemoryMs: config.PUSHFLOW_COMMAND_MEMORY_SECONDS * 1000, ledger,
    }),
    onBatch: metrics.batches(keys.commands, groups.dispatcher),
    onDeadLetter: createRefusalReplier({ redis, keys, log }),
  }),
  startConsumer({
    ...common, redis: createRedis(config.REDIS_URL, 'dispatcher-queries', { log }), stream: keys.queries, group: groups.dispatcher,
    handler: createStatusHandler({ redis, keys, notifications, log, group: groups.dispatcher }),
    onBatch: metrics.batches(keys.queries, groups.dispatcher),
  }),
  startConsumer({
    ...common, count: config.PUSHFLOW_PROJECTOR_BATCH_SIZE, lingerMs: config.PUSHFLOW_PROJECTOR_LINGER_MS,
    redis: createRedis(config.REDIS_URL, 'dispatcher-projector', { log }), stream: keys.events, group: groups.projector,
    handler: createProjector({ redis, keys, notifications, log, group: groups.projector }),
    onBatch: metrics.batches(keys.events, groups.projector),
  }),
];

// Every dispatcher runs these; the reaper locks per node and trimming is idempotent.
const chores = [
  runEvery('reaper', config.PUSHFLOW_REAPER_INTERVAL_MS,
    () => reapDeadNodes({ redis, keys, nodeLostMs: config.PUSHFLOW_NODE_LOST_MS, log, ledger }), log),
  runEvery('ledger-retention', config.PUSHFLOW_LEDGER_TRIM_INTERVAL_MS,
    () => trimLedger({ redis, keys, retentionMs: config.PUSHFLOW_LEDGER_RETENTION_MS, log }), log),
];

const health = createHealthServer(async () => {
  const [r, m] = await Promise.all([within(500, redis.ping()), within(500, mongo.db().command({ ping: 1 }))]);
  return r && m;
}, { registry: metrics.registry, authorized: metricsAccess(config.PUSHFLOW_METRICS_TOKEN) });
health.listen(config.DISPATCHER_PORT, config.DISPATCHER_HOST);
await once(health, 'listening');
log.info({ port: config.DISPATCHER_PORT, consumer }, 'ready');

onShutdown(log, async () => {
  health.close();
  await Promise.all([...chores, ...consumers].map((c) => c.stop()));
  await redis.quit();
  watchdog.stop();
  await mongo.close();
});
