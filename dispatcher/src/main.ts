import { once } from 'node:events';
import { MongoClient } from 'mongodb';
import { checkPartitionsOrExit, createLogger, createRedis, groups, keys as makeKeys, metricsAccess, onShutdown, startConsumer, useEntryFormat } from '@pushflow/shared';
import { loadDispatcherConfigOrExit } from './config.ts';
import { createHealthServer, within } from './health.ts';
import { createDispatcherMetrics } from './metrics.ts';
import { MONGO_CONNECT_TIMEOUT_MS, mongoClientOptions } from './mongo-client.ts';
import { startPartitionLeases } from './partition-leases.ts';
import { restartClient, watchHeartbeats } from './mongo-watchdog.ts';
import { runEvery } from './periodic.ts';
import { createProjector } from './projector.ts';
import { createStatusHandler } from './queries.ts';
import { reapDeadNodes } from './reaper.ts';
import { trimLedger } from './retention.ts';
import { createRefusalReplier } from './refusals.ts';
import { createRouteTable } from './route-table.ts';
import { createSendHandler } from './sender.ts';
import { openNotifications } from './store.ts';

const config = loadDispatcherConfigOrExit();
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger('dispatcher', config.LOG_LEVEL);
const keys = makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS);

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
// never delays a status read. Status reads are one stream for every dispatcher (its group
// balances them); the commands and events partitions are each consumed by the dispatcher
// holding its lease.
const queries = startConsumer({
  ...common, redis: createRedis(config.REDIS_URL, 'dispatcher-queries', { log }), stream: keys.queries, group: groups.dispatcher,
  handler: createStatusHandler({ redis, keys, notifications, log, group: groups.dispatcher }),
  onBatch: metrics.batches(keys.queries, groups.dispatcher),
});

// One route table for the process, shared by every partition's sender: presence in memory,
// so routing an online recipient reads nothing from Redis (route-table.ts).
const routeTable = createRouteTable({
  redis, blocking: createRedis(config.REDIS_URL, 'dispatcher-routes', { log }), keys, nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS, log,
});

function consumePartition(p: number, { reclaim }: { reclaim: boolean }) {
  const commands = keys.commands(p);
  const events = keys.events(p);
  const partition = P > 1 ? `-${p}` : '';
  const consumers = [
    startConsumer({
      ...common, reclaimAtStart: reclaim,
      redis: createRedis(config.REDIS_URL, `dispatcher-commands${partition}`, { log }), stream: commands, group: groups.dispatcher,
      handler: createSendHandler({
        redis, keys, notifications, log, stream: commands, group: groups.dispatcher, nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS, commandMemoryMs: config.PUSHFLOW_COMMAND_MEMORY_SECONDS * 1000, ledger,
        route: routeTable.route,
      }),
      onBatch: metrics.batches(commands, groups.dispatcher),
      onDeadLetter: createRefusalReplier({ redis, keys, log }),
    }),
    startConsumer({
      ...common, reclaimAtStart: reclaim, count: config.PUSHFLOW_PROJECTOR_BATCH_SIZE, lingerMs: config.PUSHFLOW_PROJECTOR_LINGER_MS,
      redis: createRedis(config.REDIS_URL, `dispatcher-projector${partition}`, { log }), stream: events, group: groups.projector,
      handler: createProjector({ redis, keys, notifications, log, stream: events, group: groups.projector }),
      onBatch: metrics.batches(events, groups.projector),
    }),
  ];
  return { stop: async () => void (await Promise.all(consumers.map((c) => c.stop()))) };
}

const P = keys.partitions;
// No partition is consumed before P is checked against Redis; until Redis answers the
// dispatcher stays up and not ready, as through any Redis outage.
let stopping = false;
// The route table has had its first resync before any partition is consumed.
const leases = checkPartitionsOrExit(redis, keys, 'dispatcher', log).then(() => routeTable.start()).then(() => (stopping ? undefined : startPartitionLeases({
  redis, keys, owner: consumer, log,
  leaseMs: config.PUSHFLOW_PARTITION_LEASE_MS, renewMs: config.PUSHFLOW_PARTITION_RENEW_MS,
  start: consumePartition, onChange: metrics.partitionsHeld,
})));

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
log.info({ port: config.DISPATCHER_PORT, consumer, partitions: P }, 'ready');

onShutdown(log, async () => {
  health.close();
  stopping = true;
  // A check still waiting for Redis leaves no leases to release.
  const held = await Promise.race([leases, new Promise<undefined>((r) => setTimeout(r, 100))]);
  await Promise.all([...chores, queries, ...(held ? [held] : [])].map((c) => c.stop()));
  // After the partitions: a send still in flight may route (from Redis, once it is stopped).
  await routeTable.stop();
  await redis.quit();
  watchdog.stop();
  await mongo.close();
});
