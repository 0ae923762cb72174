import {
  decodeEntries,
  queueDeadItems,
  statusQueryCodec,
  toStatusView,
  writeInOrder,
  type Keys,
  type Logger,
  type RedisClient,
  type StreamEntry,
} from '@pushflow/shared';
import { queueReplies } from '../sending/replies.ts';
import { readSnapshots } from '../projection/snapshots.ts';
import { findByIds, type Notifications } from '../projection/store.ts';

/**
 * Answers a batch of status queries with one read of the sender's snapshots, one MongoDB
 * read and one pipeline. The document wins when both exist (it is never older). Snapshots
 * are read first: the projector drops one only after writing its document, so a
 * notification is always found in one of the two reads.
 */
export function createStatusHandler(deps: { redis: RedisClient; keys: Keys; notifications: Notifications; log: Logger; group: string }) {
  return async function handleStatusBatch(entries: StreamEntry[]): Promise<void> {
    // A malformed query is set aside on its own, with the batch's XACK.
    const { items: queries, setAside } = decodeEntries(statusQueryCodec, entries);
    const ids = [...new Set(queries.map((q) => q.notificationId))];
    const snapshots = await readSnapshots(deps.redis, deps.keys, ids);
    const docs = await findByIds(deps.notifications, ids);
    const replies = queries.map((q) => {
      // A document built from an outcome that overtook its accepted event shows nothing yet.
      const doc = docs.get(q.notificationId);
      const snapshot = snapshots.get(q.notificationId);
      const view = (doc && toStatusView(doc)) ?? (snapshot && toStatusView(snapshot));
      return {
        replyTo: q.replyTo,
        reply: view
          ? { correlationId: q.correlationId, ok: true as const, result: view }
          : {
              correlationId: q.correlationId,
              ok: false as const,
              error: { code: 'NOT_FOUND' as const, message: `no notification ${q.notificationId}` },
            },
      };
    });
    await writeInOrder(deps.redis, [
      (pipe) => queueReplies(pipe, replies),
      (pipe) => {
        queueDeadItems(pipe, deps.keys.queries, deps.group, setAside);
        pipe.xack(deps.keys.queries, deps.group, ...entries.map((e) => e.id));
      },
    ]);
  };
}
