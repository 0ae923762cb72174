import type { Keys, Logger, Redis } from '@pushflow/shared';

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

export function createPresence(deps: { redis: Redis; keys: Keys; nodeId: string; log: Logger; openConnections?: () => number }): Presence {
  const { redis, keys, nodeId, log } = deps;

  const presence: Presence = {
    async connected(recipientId) {
      await redis.hincrby(keys.presence(recipientId), nodeId, 1);
    },
    async disconnected(recipientId) {
      await redis.eval(DECREMENT, 1, keys.presence(recipientId), nodeId);
    },
    async heartbeat() {
      await redis.multi()
        .zadd(keys.nodes, Date.now(), nodeId)
        .hset(keys.nodeConnections, nodeId, deps.openConnections?.() ?? 0)
        .exec();
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
      const pattern = keys.presence('*');
      let cursor = '0';
      let cleared = 0;
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (found.length === 0) continue;
        const pipeline = redis.pipeline();
        for (const key of found) pipeline.hdel(key, nodeId);
        const results = (await pipeline.exec()) ?? [];
        for (const [err, n] of results) {
          if (err) throw err;
          cleared += Number(n);
        }
      } while (cursor !== '0');
      return cleared;
    },
    async forget(recipientIds) {
      const pipeline = redis.pipeline();
      for (const recipientId of recipientIds) pipeline.hdel(keys.presence(recipientId), nodeId);
      if (pipeline.length === 0) return;
      const results = (await pipeline.exec()) ?? [];
      for (const [err] of results) if (err) throw err;
    },
    async retire() {
      await redis.multi().zrem(keys.nodes, nodeId).hdel(keys.nodeConnections, nodeId).exec();
    },
  };
  return presence;
}
