import { Cluster, type ChainableCommander } from 'ioredis';
import { scanKeys, writeInOrder, type Keys, type Logger, type RedisClient } from '@pushflow/shared';

/**
 * Presence in Redis (docs/design.md, "Redis keys and streams"): `presence:<recipientId>` counts this node's
 * open sockets per recipient, `nodes` holds each node's last heartbeat. The dispatcher
 * routes by the first and judges liveness by the second. Each heartbeat also reports the
 * node's open connections in `node-connections`, for the dashboard.
 *
 * Every change to presence is also appended to `presence-changes`, which the dispatchers'
 * in-memory route tables follow (dispatcher/src/sending/route-table.ts): a field's new count, or a
 * reset when this node drops all its fields at once (start, stop).
 */
export interface Presence {
  connected(recipientId: string): Promise<void>;
  disconnected(recipientId: string): Promise<void>;
  heartbeat(): Promise<void>;
  /** Heartbeats every intervalMs until the returned function is called. */
  startHeartbeat(intervalMs: number): () => void;
  /** Drops what an earlier run under this node id left behind. */
  clearStale(): Promise<number>;
  /**
   * Removes this node's fields from the recipients' presence. Published as a reset of the
   * whole node: it is called at shutdown, with every recipient the node holds.
   */
  forget(recipientIds: Iterable<string>): Promise<void>;
  /** Removes this node's heartbeat, so nobody counts on it any more. */
  retire(): Promise<void>;
}

/** About how many changes the stream keeps; a route table further behind resyncs in full. */
export const PRESENCE_CHANGES_MAXLEN = 100_000;

// Adds ARGV[2] to the node's count, deleting the field at 0 (or below, if Redis lost the
// increment) so a count never lingers at 0: the dispatcher treats any field as a live
// connection. Given the change stream as KEYS[2], it appends the new count in the same
// step, so the hash and the stream cannot disagree.
const CHANGE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) n = 0 end
if KEYS[2] then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'node', ARGV[1], 'recipient', ARGV[3], 'count', n) end
return n`;

export function createPresence(deps: {
  redis: RedisClient;
  keys: Keys;
  nodeId: string;
  log: Logger;
  openConnections?: () => number;
}): Presence {
  const { redis, keys, nodeId, log } = deps;
  const changes = keys.presenceChanges;
  const reset = (pipe: ChainableCommander) => pipe.xadd(changes, 'MAXLEN', '~', PRESENCE_CHANGES_MAXLEN, '*', 'node', nodeId, 'reset', '1');

  async function change(recipientId: string, delta: 1 | -1): Promise<void> {
    const key = keys.presence(recipientId);
    if (!(redis instanceof Cluster)) {
      await redis.eval(CHANGE, 2, key, changes, nodeId, delta, recipientId, PRESENCE_CHANGES_MAXLEN);
      return;
    }
    // On a cluster the hash and the stream sit on different slots: no script or MULTI
    // holds both, so the hash first, then its change (this node's changes to one hash go
    // down one connection, in order). A crash in between leaves the change unpublished
    // until the dispatchers' next full resync; see route-table.ts for why that is safe.
    const n = Number(await redis.eval(CHANGE, 1, key, nodeId, delta));
    await redis.xadd(changes, 'MAXLEN', '~', PRESENCE_CHANGES_MAXLEN, '*', 'node', nodeId, 'recipient', recipientId, 'count', n);
  }

  const presence: Presence = {
    connected: (recipientId) => change(recipientId, 1),
    disconnected: (recipientId) => change(recipientId, -1),
    // Two keys, so no MULTI (a cluster may hold them on two nodes); nothing reads both as one.
    async heartbeat() {
      await writeInOrder(redis, [
        (pipe) => pipe.zadd(keys.nodes, Date.now(), nodeId).hset(keys.nodeConnections, nodeId, deps.openConnections?.() ?? 0),
      ]);
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
        const results = await writeInOrder(redis, [
          (pipe) => {
            for (const key of found) pipe.hdel(key, nodeId);
          },
        ]);
        for (const [, n] of results) cleared += Number(n);
      }
      // Even when nothing was left: a route table may still hold what the reaper removed.
      await writeInOrder(redis, [reset]);
      return cleared;
    },
    // The reset goes after the deletions (one pipeline on one Redis): a table resyncing in
    // between reads the stream from before the reset, so it drops what it scanned.
    async forget(recipientIds) {
      await writeInOrder(redis, [
        (pipe) => {
          for (const recipientId of recipientIds) pipe.hdel(keys.presence(recipientId), nodeId);
        },
        reset,
      ]);
    },
    async retire() {
      await writeInOrder(redis, [(pipe) => pipe.zrem(keys.nodes, nodeId).hdel(keys.nodeConnections, nodeId), reset]);
    },
  };
  return presence;
}
