import { MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import type { LedgerEvent } from '@pushflow/shared';
import { evolve, type NotificationDoc } from './projection.ts';

/**
 * The MongoDB side of the dispatcher: the status collection, its indexes, inserting the
 * documents of newly accepted notifications and folding ledger events into documents.
 * Documents carry a `version` so that concurrent projectors never overwrite each other:
 * a write only lands on the version it was computed from, and a lost race is recomputed.
 */
export type StoredDoc = NotificationDoc & { version: number };
export type Notifications = Collection<StoredDoc>;

export async function openNotifications(db: Db, name = 'notifications'): Promise<Notifications> {
  const col = db.collection<StoredDoc>(name);
  // A command redelivered after a crash must not create a second notification. Sparse,
  // because a document built from an outcome that overtook its accepted event has no
  // commandId yet (partialFilterExpression would be finer, but FerretDB lacks it).
  await col.createIndex({ commandId: 1 }, { unique: true, sparse: true, name: 'commandId_unique' });
  return col;
}

/**
 * Inserts the documents of a batch; returns, for each commandId that was already stored
 * by an earlier attempt, the notification id and acceptance time it got then.
 */
export async function insertAccepted(
  col: Notifications,
  docs: NotificationDoc[],
): Promise<Map<string, { notificationId: string; acceptedAt: number }>> {
  const existing = new Map<string, { notificationId: string; acceptedAt: number }>();
  if (docs.length === 0) return existing;
  try {
    await col.insertMany(docs.map((d) => ({ ...d, version: 1 })), { ordered: false });
    return existing;
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    if (errors.some((w) => w.code !== 11000)) throw err;
    const commandIds = errors.map((w) => docs[w.index]?.commandId).filter((c): c is string => c !== undefined);
    const found = await col.find({ commandId: { $in: commandIds } }, { projection: { _id: 1, commandId: 1, acceptedAt: 1 } }).toArray();
    for (const d of found) {
      if (d.commandId) existing.set(d.commandId, { notificationId: d._id, acceptedAt: d.acceptedAt ?? Date.now() });
    }
    return existing;
  }
}

/** Folds events into their documents; idempotent and order-safe (see projection.ts). */
export async function applyEvents(col: Notifications, events: LedgerEvent[], maxAttempts = 10): Promise<number> {
  const byId = new Map<string, LedgerEvent[]>();
  for (const e of events) {
    const list = byId.get(e.notificationId);
    if (list) list.push(e);
    else byId.set(e.notificationId, [e]);
  }
  let written = 0;
  let pending = [...byId.keys()];
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > maxAttempts) throw new Error(`projection kept conflicting for ${pending.length} notifications`);
    const current = new Map((await col.find({ _id: { $in: pending } }).toArray()).map((d) => [d._id, d]));
    const ops: AnyBulkWriteOperation<StoredDoc>[] = [];
    const touched: string[] = [];
    for (const id of pending) {
      const before = current.get(id) ?? null;
      const after = byId.get(id)!.reduce<NotificationDoc | null>((doc, e) => evolve(doc, e), before);
      if (after === before || after === null) continue;
      touched.push(id);
      if (before) {
        const { version: _v, ...next } = after as StoredDoc;
        ops.push({ replaceOne: { filter: { _id: id, version: before.version }, replacement: { ...next, version: before.version + 1 } } });
      } else {
        ops.push({ insertOne: { document: { ...after, version: 1 } } });
      }
    }
    if (ops.length === 0) break;
    const landed = await bulkWriteCounting(col, ops);
    written += landed;
    if (landed === ops.length) break;
    // Some writes lost a race with another projector: recompute those from fresh reads.
    // Re-applying events that did land is a no-op, so recomputing all touched ones is safe.
    pending = touched;
  }
  return written;
}

/**
 * FerretDB 1.x holds every statement's cursor open until its whole `update` command ends,
 * so a command of 100 or more statements exhausts its connection pool and deadlocks.
 * Writing in chunks costs real MongoDB a few more round trips per batch and keeps the
 * stand-in alive.
 */
export const WRITE_CHUNK = 50;

async function bulkWriteCounting(col: Notifications, ops: AnyBulkWriteOperation<StoredDoc>[]): Promise<number> {
  let landed = 0;
  for (let i = 0; i < ops.length; i += WRITE_CHUNK) landed += await bulkWriteChunk(col, ops.slice(i, i + WRITE_CHUNK));
  return landed;
}

async function bulkWriteChunk(col: Notifications, ops: AnyBulkWriteOperation<StoredDoc>[]): Promise<number> {
  try {
    const r = await col.bulkWrite(ops, { ordered: false });
    return r.insertedCount + r.modifiedCount;
  } catch (err) {
    // A duplicate _id means another projector inserted first: a lost race, not a failure.
    if (err instanceof MongoBulkWriteError && (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]).every((w) => w.code === 11000)) {
      return err.result.insertedCount + err.result.modifiedCount;
    }
    if (err instanceof MongoServerError && err.code === 11000) return 0;
    throw err;
  }
}

export async function findByIds(col: Notifications, ids: string[]): Promise<Map<string, StoredDoc>> {
  if (ids.length === 0) return new Map();
  return new Map((await col.find({ _id: { $in: ids } }).toArray()).map((d) => [d._id, d]));
}
