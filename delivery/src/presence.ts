import { scanKeys, writeInOrder, type Keys, type Logger, type RedisClient } from '@pushflow/shared';

/**
 * Presence in Redis (DESIGN.md, "Redis keys"): `presence:<recipientId>` counts this node's
 * open sockets per recipient, `nodes` holds each node's last heartbeat. The dispatcher
 * routes by the first and judges liveness by the second. Each heartbeat also reports the
 * node's open connections in `node-connections`, for the dashboard.
 */
export interface Presence {
  connected(recipientId: string): Promise<void>;
  disconnected(recipientId: string): Promise<void>;
  heartbeat(): Promise<void>;
  /** Heartbeats every intervalMs until the returned function is called. */
  startHeartbeat(intervalMs: number): () => void;
  /** Drops what an earlier run under this node id left behind. */
  clearStale(): Promise<number>;
  /** Removes this node's fields from the recipients' presence. */
  forget(recipientIds: Iterable<string>): Promise<void>;
  /** Removes this node's heartbeat, so nobody counts on it any more. */
  retire(): Promise<void>;
}

// Decrement and delete in one step, so a count never lingers at 0 (or below, if Redis lost
// the increment): the dispatcher treats any field as a live connection.
const DECREMENT = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`;

export function createPresence(deps: { redis: RedisClient; keys: Keys; nodeId: string; log: Logger; openConnections?: () => number }): Presence {
  const { redis, keys, nodeId, log } = deps;

  const presence: Presence = {
    async connected(recipientId) {
      await redis.hincrby(keys.presence(recipientId), nodeId, 1);
    },
    async disconnected(recipientId) {
      await redis.eval(DECREMENT, 1, keys.presence(recipientId), nodeId);
    },
    // Two keys, so no MULTI (a cluster may hold them on two nodes); nothing reads both as one.
    async heartbeat() {
      await writeInOrder(redis, [(pipe) => pipe
        .zadd(keys.nodes, Date.now(), nodeId)
        .hset(keys.nodeConnections, nodeId, deps.openConnections?.() ?? 0)]);
    },
    startHeartbeat(intervalMs) {
      const beat = () => presence.heartbeat().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'heartbeat failed'));
      void beat();
      const timer = setInterval(beat, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
    async clearStale() {
      // Recipient ids and the prefix cannot hold glob characters, so this pattern is exact.
      let cleared = 0;
      for await (const found of scanKeys(redis, keys.presence('*'), 1000)) {
        const results = await writeInOrder(redis, [(pipe) => { for (const key of found) pipe.hdel(key, nodeId); }]);
        for (const [, n] of results) cleared += Number(n);
      }
      return cleared;
    },
    async forget(recipientIds) {
      await writeInOrder(redis, [(pipe) => { for (const recipientId of recipientIds) pipe.hdel(keys.presence(recipientId), nodeId); }]);
    },
    async retire() {
      await writeInOrder(redis, [(pipe) => pipe.zrem(keys.nodes, nodeId).hdel(keys.nodeConnections, nodeId)]);
    },
  };
  return presence;
}
