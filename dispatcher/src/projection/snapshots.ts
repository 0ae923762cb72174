import type { ChainableCommander } from 'ioredis';
import { groupBy, pipelined, type Keys, type NotificationDoc, type RedisClient } from '@pushflow/shared';

/**
 * Read-your-writes without MongoDB on the send path (docs/design.md, "Command identity and
 * status snapshots"): the sender leaves the status each notification was accepted with
 * (ACCEPTED and DISPATCHED or FAILED) in Redis, and the status handler answers from it while
 * the projector has not written the document yet. It may lag the ledger exactly as the
 * projection does.
 *
 * Snapshots live in hashes, one per events partition and second of the notification id's
 * UUIDv7 time (keys.snapshots), so a batch writes one HSET per hash instead of a SET per
 * notification, and a reader finds a snapshot from the id alone. The projector drops a
 * snapshot once the document is written, so Redis holds about as many as the projector lags
 * behind; the hash's expiry, moved along by every write, only bounds what a lost drop leaves
 * behind. Content (title, body, data) is left out: a status answer never shows it.
 */
export function queueSnapshots(pipe: ChainableCommander, keys: Keys, docs: readonly NotificationDoc[], windowMs: number): void {
  for (const [key, inHash] of groupBy(docs, (d) => keys.snapshots(d._id))) {
    const fields: string[] = [];
    for (const doc of inHash) {
      const { title: _t, body: _b, data: _d, expiresFrom: _e, ...status } = doc;
      fields.push(doc._id, JSON.stringify(status));
    }
    pipe.hset(key, ...fields);
    pipe.pexpire(key, windowMs);
  }
}

export function queueSnapshotDrops(pipe: ChainableCommander, keys: Keys, notificationIds: Iterable<string>): void {
  for (const [key, ids] of groupBy([...notificationIds], (id) => keys.snapshots(id))) pipe.hdel(key, ...ids);
}

/** The snapshots of these notifications that are still there; one HMGET per hash. */
export async function readSnapshots(redis: RedisClient, keys: Keys, notificationIds: string[]): Promise<Map<string, NotificationDoc>> {
  const found = new Map<string, NotificationDoc>();
  if (notificationIds.length === 0) return found;
  const byHash = [...groupBy(notificationIds, (id) => keys.snapshots(id))];
  const results = await pipelined(redis, (pipe) => {
    for (const [key, ids] of byHash) pipe.hmget(key, ...ids);
  });
  results.forEach(([err, values], i) => {
    if (err) throw err;
    const ids = byHash[i]![1];
    (values as (string | null)[]).forEach((value, j) => {
      if (typeof value !== 'string') return;
      try {
        const doc = JSON.parse(value) as NotificationDoc;
        if (doc._id === ids[j]) found.set(doc._id, doc);
      } catch {
        // Not ours to fail a status read over: the document will answer once projected.
      }
    });
  });
  return found;
}
