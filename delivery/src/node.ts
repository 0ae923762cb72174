import {
  checkPartitions,
  createConnectKeys,
  ensureGroup,
  groups,
  makeKeys,
  metricsAccess,
  startConsumer,
  type Logger,
  type RedisClient,
  type Registry,
} from '@pushflow/shared';
import { createAckRecorder } from './acks.ts';
import type { DeliveryConfig } from './config.ts';
import { connectedRecipients, createConnections } from './connections.ts';
import { createPresence } from './presence.ts';
import { createDeliveryMetrics } from './metrics.ts';
import { createDeliveryHandler } from './delivery-handler.ts';
import { connectKeySources } from './connect-key-settings.ts';
import { createHeldEntries } from './held-entries.ts';
import { isRedisReady } from './readiness.ts';
import { CLOSE } from './close-codes.ts';
import { startServer, type DeliveryServer } from './server.ts';

/**
 * One delivery node: server, presence, heartbeat, partition consumer and ack writer put
 * together in the order that keeps presence truthful, and taken apart in reverse.
 */
export interface DeliveryNode {
  port: number;
  nodeId: string;
  server: DeliveryServer;
  /** Graceful stop; leaves the Redis clients to the caller. */
  stop(): Promise<void>;
}

export interface DeliveryNodeDeps {
  config: DeliveryConfig;
  /** Ordinary commands. */
  redis: RedisClient;
  /** Held by XREADGROUP BLOCK; closed by the consumer when it stops. */
  blockingRedis: RedisClient;
  log: Logger;
  /** Where the node's metrics go; main.ts passes one with the process metrics. */
  registry?: Registry;
  /** XREADGROUP BLOCK time. A blocked read delays closing its connection by up to this much. */
  blockMs?: number;
  idleTimeoutSeconds?: number;
}

export async function startDeliveryNode(deps: DeliveryNodeDeps): Promise<DeliveryNode> {
  const { config, redis, blockingRedis, log } = deps;
  const nodeId = config.PUSHFLOW_NODE_ID;
  const keys = makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS);
  // Before anything is written: this node appends events to the partitions P says.
  await checkPartitions(redis, keys);
  const connectKeys = await createConnectKeys(connectKeySources(config));
  const stream = keys.deliveries(nodeId);
  const connections = createConnections();
  // The server starts after presence (presence must be clean first); heartbeats before it report 0.
  let openConnections = () => 0;
  const presence = createPresence({ redis, keys, nodeId, log, openConnections: () => openConnections() });
  const metrics = createDeliveryMetrics({
    ...(deps.registry ? { registry: deps.registry } : {}),
    redis,
    prefix: config.PUSHFLOW_REDIS_PREFIX,
    stream,
    group: groups.delivery,
  });

  // Before any socket opens: fields an earlier run left would otherwise count as live
  // connections and have the dispatcher route to sockets that no longer exist.
  const cleared = await presence.clearStale();
  if (cleared > 0) log.info({ cleared }, 'cleared stale presence from an earlier run');
  await ensureGroup(redis, stream, groups.delivery);
  await presence.heartbeat();
  const stopHeartbeat = presence.startHeartbeat(config.PUSHFLOW_HEARTBEAT_MS);

  const acks = createAckRecorder({ redis, keys, nodeId, log, ledger: metrics.ledger });
  const held = createHeldEntries({ redis, keys, stream, group: groups.delivery, nodeId, log, metrics });
  let consuming = false;
  const server = await startServer({
    host: config.DELIVERY_HOST,
    port: config.DELIVERY_PORT,
    connectKeys,
    ...(config.PUSHFLOW_TOKEN_AUDIENCE !== undefined ? { tokenAudience: config.PUSHFLOW_TOKEN_AUDIENCE } : {}),
    clockSkewSeconds: config.PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS,
    maxTokenTtlSeconds: config.PUSHFLOW_MAX_TOKEN_TTL_SECONDS,
    maxRecipientIdLength: config.PUSHFLOW_MAX_RECIPIENT_ID_LENGTH,
    allowedOrigins: config.PUSHFLOW_ALLOWED_ORIGINS,
    maxConnections: config.PUSHFLOW_MAX_CONNECTIONS,
    maxConnectionsPerRecipient: config.PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT,
    maxClientMessagesPerSecond: config.PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND,
    maxFrameBytes: config.PUSHFLOW_MAX_FRAME_BYTES,
    maxBackpressureBytes: config.PUSHFLOW_MAX_BACKPRESSURE_BYTES,
    closeTimeoutSeconds: config.PUSHFLOW_CLOSE_TIMEOUT_SECONDS,
    idleTimeoutSeconds: deps.idleTimeoutSeconds,
    connections,
    held,
    presence,
    acks,
    log,
    isReady: async () => consuming && (await isRedisReady(redis)),
    metrics: { registry: metrics.registry, authorized: metricsAccess(config.PUSHFLOW_METRICS_TOKEN) },
  }).catch((err: unknown) => {
    // Its port taken, say: the node never started, so nothing may keep beating for it.
    stopHeartbeat();
    throw err;
  });
  openConnections = () => server.openConnections();
  metrics.watchConnections(openConnections);

  const consumer = startConsumer({
    redis: blockingRedis,
    stream,
    group: groups.delivery,
    consumer: nodeId,
    count: config.PUSHFLOW_BATCH_SIZE,
    blockMs: deps.blockMs ?? 5000,
    handler: createDeliveryHandler({
      redis,
      keys,
      group: groups.delivery,
      nodeId,
      connections,
      maxBackpressureBytes: config.PUSHFLOW_MAX_BACKPRESSURE_BYTES,
      held,
      closeWhenDrained: server.closeWhenDrained,
      log,
      metrics,
    }),
    onBatch: metrics.batchSize,
    log,
  });
  consuming = true;

  let stopping: Promise<void> | undefined;
  return {
    port: server.port,
    nodeId,
    server,
    stop() {
      stopping ??= (async () => {
        server.stopListening();
        // Out of presence first, so dispatchers stop routing here while we finish.
        await presence.forget(connectedRecipients(connections));
        consuming = false;
        await consumer.stop();
        server.closeAll(CLOSE.GOING_AWAY, 'going away');
        // Closed, the sockets settled every frame they held: write those outcomes.
        await held.stop();
        await acks.stop();
        stopHeartbeat();
        await presence.retire();
        // Close frames went out above, a Redis round trip ago; what is left would only hold
        // the process open (an HTTP keep-alive lingers for seconds).
        server.terminate();
      })();
      return stopping;
    },
  };
}
