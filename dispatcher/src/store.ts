import { BSON, MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { PoisonEntry, type LedgerEvent, type Logger } from '@pushflow/shared';
import { evolve, type NotificationDoc } from './projection.ts';

/**
 * The MongoDB side of the dispatcher: the status collection, its indexes, inserting the
 * documents of newly accepted notifications and folding ledger events into documents.
 * Documents carry a `version` so that concurrent projectors never overwrite each other:
 * a write only lands on the version it was computed from, and a lost race is recomputed.
 *
 * `expiresFrom` (derived from `updatedAt` in projection.ts, so every write path and a
 * replay agree on it) feeds the TTL index.
 */
export type StoredDoc = NotificationDoc & { version: number };
export type Notifications = Collection<StoredDoc>;

export const TTL_INDEX = 'expiresFrom_ttl';

export interface OpenOptions {
  /** Documents expire this many days after their last change; no TTL index when unset. */
  statusTtlDays?: number;
  log?: Logger;
}

export async function openNotifications(db: Db, name = 'notifications', opts: OpenOptions = {}): Promise<Notifications> {
  const col = db.collection<StoredDoc>(name);
  // A command redelivered after a crash must not create a second notification. Sparse,
  // because a document built from an outcome that overtook its accepted event has no
  // commandId yet (partialFilterExpression would be finer, but FerretDB lacks it).
  await col.createIndex({ commandId: 1 }, { unique: true, sparse: true, name: 'commandId_unique' });
  if (opts.statusTtlDays !== undefined) await ensureTtlIndex(db, col, opts.statusTtlDays * 86_400, opts.log);
  return col;
}

/** The form a document is written in: with its version, and its expiry time (projection.ts derives it too). */
export function storedForm(doc: NotificationDoc, version: number): StoredDoc {
  const { version: _v, ...rest } = doc as StoredDoc;
  return { ...rest, expiresFrom: new Date(doc.updatedAt), version };
}

async function ensureTtlIndex(db: Db, col: Notifications, expireAfterSeconds: number, log?: Logger): Promise<void> {
  try {
    await col.createIndex({ expiresFrom: 1 }, { expireAfterSeconds, name: TTL_INDEX });
  } catch (err) {
    if (!(err instanceof MongoServerError)) throw err;
    // 85 IndexOptionsConflict: the retention setting changed since the index was made.
    if (err.code === 85) {
      await db.command({ collMod: col.collectionName, index: { name: TTL_INDEX, expireAfterSeconds } });
      log?.info({ collection: col.collectionName, expireAfterSeconds }, 'status TTL changed');
      return;
    }
    // 238 NotImplemented: FerretDB 1.x has no TTL indexes. Documents then never expire;
    // the service still works, so this is a warning rather than a refusal to start.
    if (err.code === 238) {
      log?.warn({ collection: col.collectionName, err: err.message }, 'this MongoDB-compatible server refuses TTL indexes; status documents will not expire');
      return;
    }
    throw err;
  }
}

/** What an earlier attempt stored under a command id. */
export interface StoredCommand {
  notificationId: string;
  acceptedAt: number;
  requestHash?: string;
}

/**
 * Inserts the documents of a batch; returns, for each commandId that was already stored
 * (by an earlier attempt, a retry with the same Idempotency-Key, or another document of
 * this same batch), the notification stored under it. A caller tells its own document
 * from another one by the notification id.
 */
export async function insertAccepted(col: Notifications, docs: NotificationDoc[]): Promise<Map<string, StoredCommand>> {
  const existing = new Map<string, StoredCommand>();
  if (docs.length === 0) return existing;
  try {
    await col.insertMany(docs.map((d) => storedForm(d, 1)), { ordered: false });
    return existing;
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError)) throw err;
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    // A document the driver cannot encode fails the whole batch with no write error at all;
    // taken for "duplicates only" it would be answered ACCEPTED and never stored.
    if (errors.length === 0) throw unencodable(docs) ?? err;
    // Any other per-document error is the database refusing that document (FerretDB, say,
    // refuses nested arrays): retrying cannot help, so the consumer sets it aside.
    const refused = errors.find((w) => w.code !== 11000);
    if (refused) throw new PoisonEntry(`the database refused a notification: ${refused.errmsg ?? `code ${refused.code}`}`, { cause: err });
    const commandIds = [...new Set(errors.map((w) => docs[w.index]?.commandId).filter((c): c is string => c !== undefined))];
    const found = await col.find(
      { commandId: { $in: commandIds } },
      { projection: { _id: 1, commandId: 1, acceptedAt: 1, requestHash: 1 } },
    ).toArray();
    for (const d of found) {
      if (!d.commandId) continue;
      existing.set(d.commandId, {
        notificationId: d._id,
        acceptedAt: d.acceptedAt ?? Date.now(),
        ...(d.requestHash !== undefined && { requestHash: d.requestHash }),
      });
    }
    // The document that blocked an insert expired (or was deleted) before we could read it:
    // failing the batch lets it be handled again, when the insert will succeed.
    const vanished = commandIds.filter((c) => !existing.has(c));
    if (vanished.length > 0) throw new Error(`${vanished.length} duplicate command ids no longer found; retrying the batch`);
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
        const { _id: _i, ...replacement } = storedForm(after, before.version + 1);
        ops.push({ replaceOne: { filter: { _id: id, version: before.version }, replacement } });
      } else {
        ops.push({ insertOne: { document: storedForm(after, 1) } });
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

/** A PoisonEntry naming the first document that cannot be encoded as BSON, if one cannot. */
function unencodable(docs: NotificationDoc[]): PoisonEntry | undefined {
  for (const doc of docs) {
    try {
      BSON.serialize(storedForm(doc, 1));
    } catch (err) {
      return new PoisonEntry(`a notification cannot be stored: ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}
