import type { ChainableCommander } from 'ioredis';
import { pipelined, type Keys, type NotificationDoc, type RedisClient } from '@pushflow/shared';

/**
 * Read-your-writes without MongoDB on the send path (DESIGN.md, "Projection rules"): the
 * sender leaves the status each notification was accepted with (ACCEPTED and DISPATCHED or
 * FAILED) in Redis, and the status handler answers from it while the projector has not
 * written the document yet. It may lag the ledger exactly as the projection does.
 *
 * The projector drops a snapshot once the document is written, so Redis holds about as many
 * as the projector lags behind; the expiry only bounds what a lost drop leaves behind.
 * Content (title, body, data) is left out: a status answer never shows it.
 */
export function queueSnapshot(pipe: ChainableCommander, keys: Keys, doc: NotificationDoc, windowMs: number): void {
  const { title: _t, body: _b, data: _d, expiresFrom: _e, ...status } = doc;
  pipe.set(keys.accepted(doc._id), JSON.stringify(status), 'PX', windowMs);
}

export function queueSnapshotDrops(pipe: ChainableCommander, keys: Keys, notificationIds: Iterable<string>): void {
  for (const id of notificationIds) pipe.unlink(keys.accepted(id));
}

/** The snapshots of these notifications that are still there; one pipeline of GETs (one key each, for Redis Cluster). */
export async function readSnapshots(redis: RedisClient, keys: Keys, notificationIds: string[]): Promise<Map<string, NotificationDoc>> {
  const found = new Map<string, NotificationDoc>();
  if (notificationIds.length === 0) return found;
  const results = await pipelined(redis, (pipe) => {
    for (const id of notificationIds) pipe.get(keys.accepted(id));
  });
  results.forEach(([err, value], i) => {
    if (err) throw err;
    if (typeof value !== 'string') return;
    try {
      const doc = JSON.parse(value) as NotificationDoc;
      if (doc._id === notificationIds[i]) found.set(doc._id, doc);
    } catch {
      // Not ours to fail a status read over: the document will answer once projected.
    }
  });
  return found;
}
