import type { ChainableCommander } from 'ioredis';
import {
  evolveAll,
  failureReasons,
  groupBy,
  pipelined,
  type FailureReason,
  type Keys,
  type LedgerEvent,
  type NotificationAccepted,
  type NotificationDispatched,
  type NotificationDoc,
  type NotificationFailed,
  type RedisClient,
} from '@pushflow/shared';

/**
 * Read-your-writes without MongoDB on the send path (docs/design.md, "Command identity and
 * status snapshots"): the sender leaves the events each notification was accepted with
 * (accepted, then dispatched or failed) in Redis, and the status handler answers from them
 * while the projector has not written the document yet. It may lag the ledger exactly as
 * the projection does.
 *
 * Snapshots live in hashes, one per events partition and second of the notification id's
 * UUIDv7 time (keys.snapshots), so a batch writes one HSET per hash instead of a SET per
 * notification, and a reader finds a snapshot from the id alone. The projector drops a
 * snapshot once the document is written, so Redis holds about as many as the projector lags
 * behind; the hash's expiry, moved along by every write, only bounds what a lost drop leaves
 * behind. Content (title, body, data) is left out: a status answer never shows it.
 */

/** What a snapshot keeps: a notification's first two events, as the sender made them. */
export interface SnapshotEvents {
  accepted: NotificationAccepted;
  routed: NotificationDispatched | NotificationFailed;
}

/**
 * A snapshot is `[1, commandId, recipientId, acceptedAt, routedAt, nodeIds or reason]`: the
 * facts of the two events, folded when read (status reads are far fewer than sends).
 * Written as a JSON array from its JSON-encoded parts because the sender writes one per
 * notification: this costs a tenth of JSON.stringify on the folded document, which was 17%
 * of the dispatcher's profile in a batch run.
 */
const SNAPSHOT_VERSION = 1;

export function encodeSnapshot({ accepted, routed }: SnapshotEvents): string {
  const target = JSON.stringify(routed.type === 'notification.dispatched' ? routed.nodeIds : routed.reason);
  return `[${SNAPSHOT_VERSION},${JSON.stringify(accepted.commandId)},${JSON.stringify(accepted.recipientId)},${accepted.at},${routed.at},${target}]`;
}

/** The document the snapshot of `notificationId` folds into, or undefined when the value is not a snapshot. */
export function snapshotDoc(notificationId: string, value: string): NotificationDoc | undefined {
  const parsed: unknown = JSON.parse(value);
  if (!Array.isArray(parsed)) return undefined;
  const [version, commandId, recipientId, acceptedAt, routedAt, target] = parsed;
  if (version !== SNAPSHOT_VERSION || typeof commandId !== 'string' || typeof recipientId !== 'string') return undefined;
  if (typeof acceptedAt !== 'number' || typeof routedAt !== 'number') return undefined;
  const events: LedgerEvent[] = [{ type: 'notification.accepted', notificationId, at: acceptedAt, commandId, recipientId }];
  if (Array.isArray(target)) events.push({ type: 'notification.dispatched', notificationId, at: routedAt, nodeIds: target.map(String) });
  else if (failureReasons.includes(target))
    events.push({ type: 'notification.failed', notificationId, at: routedAt, reason: target as FailureReason });
  else return undefined;
  return evolveAll(null, events) ?? undefined;
}

export function queueSnapshots(pipe: ChainableCommander, keys: Keys, sent: readonly SnapshotEvents[], windowMs: number): void {
  for (const [key, inHash] of groupBy(sent, (s) => keys.snapshots(s.accepted.notificationId))) {
    const fields: string[] = [];
    for (const s of inHash) fields.push(s.accepted.notificationId, encodeSnapshot(s));
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
        const doc = snapshotDoc(ids[j]!, value);
        if (doc) found.set(doc._id, doc);
      } catch {
        // Not ours to fail a status read over: the document will answer once projected.
      }
    });
  });
  return found;
}
