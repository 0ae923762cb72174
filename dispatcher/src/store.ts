import { BSON, MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { evolve, PoisonEntry, type LedgerEvent, type Logger, type NotificationDoc } from '@pushflow/shared';

/**
 * The MongoDB side of the dispatcher: the status collection, its indexes, inserting the
 * documents of newly accepted notifications and folding ledger events into documents.
 * Documents carry a `version` so that concurrent projectors never overwrite each other:
 * a write only lands on the version it was computed from, and a lost race is recomputed.
 *
 * `expiresFrom` (derived from `updatedAt` in shared/src/projection.ts, so every write path and a
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

/** The form a document is written in: with its version, and its expiry time (shared/src/projection.ts derives it too). */
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

export interface ApplyOptions {
  maxAttempts?: number;
  /** Where a command that made two notifications is reported. */
  log?: Logger;
}

/**
 * Folds events into their documents; idempotent and order-safe (see shared/src/projection.ts). New
 * documents are inserted (insertMany, the cheap write), existing ones replaced on the
 * version they were read at. A document that would not change is not written.
 *
 * Two documents cannot share a commandId: an insert or replace refused on that index means
 * one command made two notifications (only when Redis lost its record of the command,
 * command-memory.ts). The document stored first is kept, the other is reported and left
 * out, never retried: retrying cannot change the answer.
 */
export async function applyEvents(col: Notifications, events: LedgerEvent[], opts: ApplyOptions = {}): Promise<number> {
  const maxAttempts = opts.maxAttempts ?? 10;
  const byId = new Map<string, LedgerEvent[]>();
  for (const e of events) {
    const list = byId.get(e.notificationId);
    if (list) list.push(e);
    else byId.set(e.notificationId, [e]);
  }
  let written = 0;
  let pending = [...byId.keys()];
  /** Ids whose insert was refused as a duplicate in the last round. */
  let insertRefused = new Set<string>();
  const duplicates: NotificationDoc[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > maxAttempts) throw new Error(`projection kept conflicting for ${pending.length} notifications`);
    const current = new Map((await col.find({ _id: { $in: pending } }).toArray()).map((d) => [d._id, d]));
    const inserts: StoredDoc[] = [];
    const replaces: AnyBulkWriteOperation<StoredDoc>[] = [];
    const replaced: NotificationDoc[] = [];
    for (const id of pending) {
      const before = current.get(id) ?? null;
      const after = byId.get(id)!.reduce<NotificationDoc | null>((doc, e) => evolve(doc, e), before);
      if (after === before || after === null) continue;
      // Refused, yet no document has this id: the refusal came from the commandId index.
      if (!before && insertRefused.has(id)) {
        duplicates.push(after);
        continue;
      }
      if (before) {
        const { _id: _i, ...replacement } = storedForm(after, before.version + 1);
        replaces.push({ replaceOne: { filter: { _id: id, version: before.version }, replacement } });
        replaced.push(after);
      } else {
        inserts.push(storedForm(after, 1));
      }
    }
    const ins = await insertChunks(col, inserts);
    const rep = await replaceChunks(col, replaces);
    written += ins.landed + rep.landed;
    // A versioned replace never collides on _id: a duplicate there is the commandId index.
    for (const i of rep.duplicateAt) duplicates.push(replaced[i]!);
    insertRefused = new Set(ins.duplicateAt.map((i) => inserts[i]!._id));
    if (ins.landed + rep.landed + rep.duplicateAt.length === inserts.length + replaces.length) break;
    // Some writes lost a race with another projector (a newer version, or an insert first):
    // recompute them from fresh reads. Recomputing those that landed too is a no-op.
    const settled = new Set(rep.duplicateAt.map((i) => replaced[i]!._id));
    pending = [...replaced, ...inserts].map((d) => d._id).filter((id) => !settled.has(id));
  }
  if (duplicates.length > 0) await reportDuplicates(col, duplicates, opts.log);
  return written;
}

/** Says which notification each command kept; an operator decides what the other one was. */
async function reportDuplicates(col: Notifications, docs: NotificationDoc[], log?: Logger): Promise<void> {
  const commandIds = docs.map((d) => d.commandId).filter((c): c is string => c !== undefined);
  const kept = new Map((await col.find({ commandId: { $in: commandIds } }, { projection: { _id: 1, commandId: 1 } }).toArray())
    .map((d) => [d.commandId, d._id]));
  for (const doc of docs) {
    log?.error({ notificationId: doc._id, commandId: doc.commandId, keptNotificationId: kept.get(doc.commandId) },
      'one command made two notifications (its Redis record was lost); the first is kept, this one is not stored');
  }
}

/**
 * FerretDB 1.x as released holds every statement's cursor open until its whole `update`
 * command ends, so a command of 100 or more statements exhausts its connection pool and
 * deadlocks (the build scripts/install-ferretdb.sh makes does not). Writing in chunks costs
 * real MongoDB a few more round trips per batch and keeps a released FerretDB alive when
 * one batch is the only writer. Inserts do not hold cursors (load/seed-statuses.ts inserts
 * 1000 a time).
 */
export const WRITE_CHUNK = 50;
export const INSERT_CHUNK = 1000;

interface ChunkResult {
  landed: number;
  /** Indexes (into the whole list) of the writes refused as duplicates (code 11000). */
  duplicateAt: number[];
}

async function insertChunks(col: Notifications, docs: StoredDoc[]): Promise<ChunkResult> {
  const out: ChunkResult = { landed: 0, duplicateAt: [] };
  for (let i = 0; i < docs.length; i += INSERT_CHUNK) {
    const chunk = docs.slice(i, i + INSERT_CHUNK);
    try {
      out.landed += (await col.insertMany(chunk, { ordered: false })).insertedCount;
    } catch (err) {
      const errors = writeErrorsOf(err, chunk);
      out.landed += (err as MongoBulkWriteError).result.insertedCount;
      out.duplicateAt.push(...errors.map((w) => w.index + i));
    }
  }
  return out;
}

async function replaceChunks(col: Notifications, ops: AnyBulkWriteOperation<StoredDoc>[]): Promise<ChunkResult> {
  const out: ChunkResult = { landed: 0, duplicateAt: [] };
  for (let i = 0; i < ops.length; i += WRITE_CHUNK) {
    const chunk = ops.slice(i, i + WRITE_CHUNK);
    try {
      const r = await col.bulkWrite(chunk, { ordered: false });
      out.landed += r.modifiedCount;
    } catch (err) {
      const docs = chunk.map((op) => ('replaceOne' in op ? op.replaceOne.replacement : undefined)) as StoredDoc[];
      const errors = writeErrorsOf(err, docs);
      out.landed += (err as MongoBulkWriteError).result.modifiedCount;
      out.duplicateAt.push(...errors.map((w) => w.index + i));
    }
  }
  return out;
}

/**
 * The duplicate-key errors of a failed bulk write; anything else is thrown: a document the
 * driver cannot encode or the database refuses (FerretDB, say, refuses nested arrays) is
 * a PoisonEntry, since retrying cannot help; any other error passes (an outage).
 */
function writeErrorsOf(err: unknown, docs: StoredDoc[]): { index: number; code: number }[] {
  if (!(err instanceof MongoBulkWriteError)) {
    if (err instanceof MongoServerError) throw err;
    throw unencodable(docs) ?? err;
  }
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0) throw unencodable(docs) ?? err;
  const refused = errors.find((w) => w.code !== 11000);
  if (refused) throw new PoisonEntry(`the database refused a notification: ${refused.errmsg ?? `code ${refused.code}`}`, { cause: err });
  return errors.map((w) => ({ index: w.index, code: w.code }));
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
