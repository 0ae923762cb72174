import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MongoClient } from 'mongodb';
import {
  checkPartitionsOrExit,
  groups,
  makeKeys,
  metricsAccess,
  pingWithin,
  startConsumer,
  within,
  type Keys,
  type Logger,
  type RedisClient,
} from '@pushflow/shared';
import type { DispatcherConfig } from './config.ts';
import { consumerOptions } from './runtime/consumer-options.ts';
import { createHealthServer } from './runtime/health.ts';
import { createDispatcherMetrics, type DispatcherMetrics } from './runtime/metrics.ts';
import { startPartitionLeases, type PartitionLeases, type PartitionWork } from './partitions/partition-leases.ts';
import { runEvery, type Periodic } from './chores/periodic.ts';
import { createProjector } from './projection/projector.ts';
import { createStatusHandler } from './queries/status-queries.ts';
import { reapDeadNodes } from './chores/reaper.ts';
import { createRefusalReplier } from './sending/refusals.ts';
import { trimLedger } from './chores/retention.ts';
import { createRouteTable, type RouteTable } from './sending/route-table.ts';
import { createSendHandler } from './sending/sender.ts';
import { openNotifications, type Notifications } from './projection/store.ts';
import { openWebhooks, type Webhooks } from './webhooks/webhooks.ts';

/**
 * One dispatcher: status reads, the partitions its leases win, the route table their
 * senders share, the background chores and the health and metrics server, put together
 * in the order that keeps routing and readiness truthful, and taken apart in reverse.
 */
export interface Dispatcher {
  /** The health and metrics server's port: DISPATCHER_PORT, or the one chosen for 0. */
  port: number;
  /** The status documents, as the projector writes them. */
  notifications: Notifications;
  /** Graceful stop; leaves `redis` and `mongo` to the caller. */
  stop(): Promise<void>;
}

export interface DispatcherDeps {
  config: DispatcherConfig;
  /** Ordinary commands: handlers, leases, chores, readiness. The caller closes it. */
  redis: RedisClient;
  /** A new connection for one blocking reader, which closes it when it stops. */
  connect(name: string): RedisClient;
  /** Connected; the caller closes it (main.ts also watches its heartbeats). */
  mongo: MongoClient;
  log: Logger;
  /**
   * A part of the dispatcher died and cannot be brought back in this process (the webhook
   * relay's thread): main.ts exits, for the orchestrator to restart it.
   */
  onFatal?(err: Error): void;
}

/** What the parts below are built from. */
type Wiring = DispatcherDeps & { keys: Keys; notifications: Notifications; metrics: DispatcherMetrics; webhooks: Webhooks };

export async function startDispatcher(deps: DispatcherDeps): Promise<Dispatcher> {
  const { config, redis, mongo, log } = deps;
  const keys = makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS);
  const notifications = await openNotifications(mongo.db(), 'notifications', { statusTtlDays: config.PUSHFLOW_STATUS_TTL_DAYS, log });
  const metrics = createDispatcherMetrics({ redis, keys, prefix: config.PUSHFLOW_REDIS_PREFIX });
  const relayBatches = new Map<string, (size: number) => void>();
  const webhooks = await openWebhooks({
    config,
    redis,
    keys,
    db: mongo.db(),
    registry: metrics.registry,
    log,
    onBatch(stream, size) {
      let batches = relayBatches.get(stream);
      if (!batches) relayBatches.set(stream, (batches = metrics.batches(stream, groups.webhooks)));
      batches(size);
    },
    onCrash: (err) => deps.onFatal?.(err),
  });
  const w: Wiring = { ...deps, keys, notifications, metrics, webhooks };

  const queries = consumeQueries(w);
  const webhookAdmin = consumeWebhookAdmin(w);
  // One route table for the process, shared by every partition's sender: presence in memory,
  // so routing an online recipient reads nothing from Redis (route-table.ts).
  const routeTable = createRouteTable({
    redis,
    blocking: deps.connect('dispatcher-routes'),
    keys,
    nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS,
    log,
  });

  // No partition is consumed before P is checked against Redis; until Redis answers the
  // dispatcher stays up and not ready, as through any Redis outage.
  let stopping = false;
  // The route table has had its first resync before any partition is consumed.
  const leases: Promise<PartitionLeases | undefined> = checkPartitionsOrExit(redis, keys, 'dispatcher', log)
    .then(() => routeTable.start())
    .then(() => webhooks.ensureGroups())
    .then(() =>
      stopping
        ? undefined
        : startPartitionLeases({
            redis,
            keys,
            owner: config.PUSHFLOW_CONSUMER_ID,
            log,
            leaseMs: config.PUSHFLOW_PARTITION_LEASE_MS,
            renewMs: config.PUSHFLOW_PARTITION_RENEW_MS,
            start: partitionStarter(w, routeTable),
            onChange: metrics.partitionsHeld,
          }),
    );

  const chores = startChores(w);
  const health = await serveHealth(w);

  let stopped: Promise<void> | undefined;
  return {
    port: (health.address() as AddressInfo).port,
    notifications,
    stop() {
      stopped ??= (async () => {
        health.close();
        stopping = true;
        // First, so a relay batch waiting for room (MongoDB away) lets its consumer stop.
        webhooks.relay.halt();
        // A check still waiting for Redis leaves no leases to release.
        const held = await Promise.race([leases, new Promise<undefined>((r) => setTimeout(r, 100))]);
        await Promise.all([...chores, queries, webhookAdmin, ...(held ? [held] : [])].map((c) => c.stop()));
        // After the partitions' relay consumers: what they queued is handed off to MongoDB first.
        await webhooks.relay.stop();
        // After the partitions: a send still in flight may route (from Redis, once it is stopped).
        await routeTable.stop();
      })();
      return stopped;
    },
  };
}

/**
 * Sends and status reads have streams and connections of their own, so a send backlog
 * never delays a status read. Status reads are one stream for every dispatcher (its group
 * balances them); the commands and events partitions are each consumed by the dispatcher
 * holding its lease.
 */
function consumeQueries(w: Wiring) {
  const { redis, keys, notifications, log, metrics } = w;
  return startConsumer({
    ...consumerOptions(w.config, w.log),
    redis: w.connect('dispatcher-queries'),
    stream: keys.queries,
    group: groups.dispatcher,
    handler: createStatusHandler({ redis, keys, notifications, log, group: groups.dispatcher }),
    onBatch: metrics.batches(keys.queries, groups.dispatcher),
  });
}

/**
 * Webhook admin requests: one stream for every dispatcher, as status reads, so endpoint
 * changes never wait behind sends.
 */
function consumeWebhookAdmin(w: Wiring) {
  const { keys, metrics, webhooks } = w;
  return startConsumer({
    ...consumerOptions(w.config, w.log),
    redis: w.connect('dispatcher-webhook-admin'),
    stream: keys.webhookAdmin,
    group: groups.dispatcher,
    handler: webhooks.adminHandler,
    onBatch: metrics.batches(keys.webhookAdmin, groups.dispatcher),
  });
}

/** What a won lease starts: the partition's sender, projector and webhook relay. */
function partitionStarter(w: Wiring, routeTable: RouteTable) {
  const { config, redis, keys, notifications, log, metrics, webhooks } = w;
  return (p: number, { reclaim }: { reclaim: boolean }): PartitionWork => {
    const commands = keys.commands(p);
    const events = keys.events(p);
    const partition = keys.partitions > 1 ? `-${p}` : '';
    const presence = routeTable.alongReads();
    const consumers = [
      startConsumer({
        ...consumerOptions(w.config, w.log),
        reclaimAtStart: reclaim,
        redis: w.connect(`dispatcher-commands${partition}`),
        stream: commands,
        group: groups.dispatcher,
        alongside: presence.alongside,
        handler: createSendHandler({
          redis,
          keys,
          notifications,
          log,
          stream: commands,
          group: groups.dispatcher,
          nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS,
          snapshotMs: config.PUSHFLOW_COMMAND_MEMORY_SECONDS * 1000,
          ledger: metrics.ledger,
          route: presence.route,
        }),
        onBatch: metrics.batches(commands, groups.dispatcher),
        onDeadLetter: createRefusalReplier({ redis, keys, log }),
      }),
      startConsumer({
        ...consumerOptions(w.config, w.log),
        reclaimAtStart: reclaim,
        count: config.PUSHFLOW_PROJECTOR_BATCH_SIZE,
        lingerMs: config.PUSHFLOW_PROJECTOR_LINGER_MS,
        redis: w.connect(`dispatcher-projector${partition}`),
        stream: events,
        group: groups.projector,
        handler: createProjector({ redis, keys, notifications, log, stream: events, group: groups.projector }),
        onBatch: metrics.batches(events, groups.projector),
      }),
      // On the relay's thread, at its priority (relay-host.ts).
      webhooks.relay.consume(p, reclaim),
    ];
    return { stop: async () => void (await Promise.all(consumers.map((c) => c.stop()))) };
  };
}

/** Every dispatcher runs these; the reaper locks per node and trimming is idempotent. */
function startChores({ config, redis, keys, log, metrics }: Wiring): Periodic[] {
  return [
    runEvery(
      'reaper',
      config.PUSHFLOW_REAPER_INTERVAL_MS,
      () => reapDeadNodes({ redis, keys, nodeLostMs: config.PUSHFLOW_NODE_LOST_MS, log, ledger: metrics.ledger }),
      log,
    ),
    runEvery(
      'ledger-retention',
      config.PUSHFLOW_LEDGER_TRIM_INTERVAL_MS,
      () => trimLedger({ redis, keys, retentionMs: config.PUSHFLOW_LEDGER_RETENTION_MS, log }),
      log,
    ),
  ];
}

async function serveHealth({ config, redis, mongo, metrics }: Wiring): Promise<Server> {
  const health = createHealthServer(
    async () => {
      const [r, m] = await Promise.all([
        pingWithin(redis, 500),
        within(
          500,
          mongo
            .db()
            .command({ ping: 1 })
            .then(() => true),
        ),
      ]);
      return r && m === true;
    },
    { registry: metrics.registry, authorized: metricsAccess(config.PUSHFLOW_METRICS_TOKEN) },
  );
  health.listen(config.DISPATCHER_PORT, config.DISPATCHER_HOST);
  await once(health, 'listening');
  return health;
}
