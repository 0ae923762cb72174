import { BSON, MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { evolveAll, groupBy, PoisonEntry, type LedgerEvent, type Logger, type NotificationDoc } from '@pushflow/shared';
import {
  claimCommands,
  commandsCollectionFor,
  COMMAND_GRACE_MS,
  extendCommands,
  holdsClaim,
  recordOf,
  releaseCommands,
  retireLegacyCommandIndex,
  type CommandRecord,
  type Commands,
  type StoredCommand,
} from './command-claims.ts';

export type { StoredCommand } from './command-claims.ts';

/**
 * The MongoDB side of the dispatcher: the status collection, its indexes, inserting the
 * documents of newly accepted notifications and folding ledger events into documents.
 * Documents carry a `version` so that concurrent projectors never overwrite each other:
 * a write only lands on the version it was computed from, and a lost race is recomputed.
 *
 * Which notification each command made lives in the status collection's companion,
 * `commands` (command-claims.ts); the pair travels as one handle, `notifications.commands`, so
 * that no caller can write one without the other.
 *
 * `expiresFrom` (derived from `updatedAt` in shared/src/domain/projection.ts, so every write path and a
 * replay agree on it) feeds the TTL index.
 */
export type StoredDoc = NotificationDoc & { version: number };
export type Notifications = Collection<StoredDoc> & { readonly commands: Commands };

export const TTL_INDEX = 'expiresFrom_ttl';

export interface OpenOptions {
  /** Documents expire this many days after their last change; no TTL index when unset. */
  statusTtlDays?: number;
  /** The command records' collection; `commands` beside `notifications`, `<name>_commands` beside any other. */
  commands?: string;
  log?: Logger;
}

/** The collections as they are, with no index work: for a reader whose process already opened them. */
export function notificationsCollection(db: Db, name = 'notifications', commandsName?: string): Notifications {
  const commands = db.collection<CommandRecord>(commandsName ?? commandsCollectionFor(name));
  return Object.assign(db.collection<StoredDoc>(name), { commands });
}

export async function openNotifications(db: Db, name = 'notifications', opts: OpenOptions = {}): Promise<Notifications> {
  const col = notificationsCollection(db, name, opts.commands);
  const { commands } = col;
  // No unique index but `_id` on either collection: both can be sharded on a hashed `_id`.
  await retireLegacyCommandIndex(col, commands, opts.log);
  if (opts.statusTtlDays !== undefined) {
    const seconds = opts.statusTtlDays * 86_400;
    const made = [
      await ensureTtlIndex(db, col, seconds, opts.log),
      await ensureTtlIndex(db, commands, seconds + COMMAND_GRACE_MS / 1000, opts.log),
    ];
    // 238 NotImplemented: FerretDB 1.x has no TTL indexes. Documents then never expire; the
    // service still works, so this is one warning per start (`make dev` shows it in its banner).
    if (made.includes(false)) {
      opts.log?.warn(
        { collections: [col.collectionName, commands.collectionName] },
        'this MongoDB-compatible server refuses TTL indexes; status documents and command records will not expire',
      );
    }
  }
  return col;
}

/** The form a document is written in: with its version, and its expiry time (shared/src/domain/projection.ts derives it too). */
export function storedForm(doc: NotificationDoc, version: number): StoredDoc {
  const { version: _v, ...rest } = doc as StoredDoc;
  return { ...rest, expiresFrom: new Date(doc.updatedAt), version };
}

/** False when the server refuses TTL indexes (FerretDB 1.x answers 238 NotImplemented). */
async function ensureTtlIndex(db: Db, col: Collection<StoredDoc> | Commands, expireAfterSeconds: number, log?: Logger): Promise<boolean> {
  try {
    await col.createIndex({ expiresFrom: 1 }, { expireAfterSeconds, name: TTL_INDEX });
    return true;
  } catch (err) {
    if (!(err instanceof MongoServerError)) throw err;
    // 85 IndexOptionsConflict: the retention setting changed since the index was made.
    if (err.code === 85) {
      await db.command({ collMod: col.collectionName, index: { name: TTL_INDEX, expireAfterSeconds } });
      log?.info({ collection: col.collectionName, expireAfterSeconds }, 'status TTL changed');
      return true;
    }
    if (err.code === 238) return false;
    throw err;
  }
}

/**
 * Stores the documents of a batch of keyed commands: first each command's record (the
 * claim), then the documents whose claim landed. Returns, for each commandId that was
 * already claimed (by an earlier attempt, a retry with the same Idempotency-Key, or another
 * document of this same batch), the notification claimed under it. A caller tells its own
 * document from another one by the notification id.
 *
 * Records first: a claim is what every other attempt sees, so the answer to all of them is
 * decided by one insert. A record whose document is missing (its attempt died between the
 * two inserts, or has not made the second yet) gets it from whichever attempt next finds the
 * record (sending/sender.ts, through storeDocuments). A document the
 * database refuses takes its record back before the PoisonEntry is thrown, so a refused
 * request leaves nothing behind (a retry racing that refusal may have been answered with it:
 * only FerretDB refuses valid BSON, so real MongoDB never gets there).
 */
export async function insertAccepted(col: Notifications, docs: NotificationDoc[]): Promise<Map<string, StoredCommand>> {
  if (docs.length === 0) return new Map();
  const existing = await claimCommands(col.commands, docs.map(recordOf));
  await storeDocuments(
    col,
    docs.filter((d) => holdsClaim(existing, d)),
  );
  return existing;
}

/**
 * Inserts documents that may be there already (their _id refused, left as it is); a
 * document the database refuses takes back its command record, then throws a PoisonEntry.
 */
export async function storeDocuments(col: Notifications, docs: NotificationDoc[]): Promise<void> {
  if (docs.length === 0) return;
  const stored = docs.map((d) => storedForm(d, 1));
  try {
    await col.insertMany(stored, { ordered: false });
  } catch (err) {
    try {
      throwUnlessDuplicates(err, stored); // only refused _ids: those documents are there already
      return;
    } catch (refusal) {
      if (refusal instanceof PoisonEntry) await releaseUnstored(col, docs);
      throw refusal;
    }
  }
}

/** Takes back the command records of those documents that are not stored (not every failure says which landed: an unencodable batch lands none). */
async function releaseUnstored(col: Notifications, docs: NotificationDoc[]): Promise<void> {
  if (docs.length === 0) return;
  const stored = new Set(
    (await col.find({ _id: { $in: docs.map((d) => d._id) } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id),
  );
  await releaseCommands(
    col.commands,
    docs.filter((d) => !stored.has(d._id)),
  );
}

export interface ApplyOptions {
  maxAttempts?: number;
  /** Where a command that made two notifications is reported. */
  log?: Logger;
}

/**
 * Folds events into their documents; idempotent and order-safe (see shared/src/domain/projection.ts). New
 * documents are inserted (insertMany, the cheap write), existing ones replaced on the
 * version they were read at. A document that would not change is not written.
 *
 * A document that gains a keyed commandId (its accepted event with a request hash) claims
 * the command in `commands` first: one insertMany for the batch. Live, the sender made that
 * claim already, and the document exists; a replay makes it here. A claim held by another
 * notification means one command made two notifications. The notification claimed first
 * is kept, the other is reported and not stored, never retried: retrying cannot change the
 * answer.
 */
export async function applyEvents(col: Notifications, events: LedgerEvent[], opts: ApplyOptions = {}): Promise<number> {
  const byId = groupBy(events, (e) => e.notificationId);
  // A read of batched entries can hold hundreds of thousands of events: folded a bounded
  // number of notifications at a time, so each read and write stays one sized for the
  // database (an `$in` of 60,000 ids had FerretDB compare every row with every id).
  const ids = [...byId.keys()];
  let written = 0;
  for (let i = 0; i < ids.length; i += APPLY_CHUNK) {
    written += await applyChunk(col, new Map(ids.slice(i, i + APPLY_CHUNK).map((id) => [id, byId.get(id)!])), opts);
  }
  return written;
}

/** How many notifications one round of reads and writes of the projection covers at most. */
export const APPLY_CHUNK = 1000;

async function applyChunk(col: Notifications, byId: Map<string, LedgerEvent[]>, opts: ApplyOptions): Promise<number> {
  const maxAttempts = opts.maxAttempts ?? 10;
  let written = 0;
  let pending = [...byId.keys()];
  /** Notifications seen holding their command's claim in an earlier round. */
  const holding = new Set<string>();
  const duplicates: { doc: NotificationDoc; kept: string }[] = [];
  // A notification accepted in this very batch without an Idempotency-Key has no document
  // yet (the sender writes none), so the first round inserts it unread. Should one exist
  // after all (this batch is a redelivery), the insert is refused on `_id` and the next
  // round reads it, as for any insert that lost a race.
  const unread = new Set(
    [...byId]
      .filter(([, events]) => events.some((e) => e.type === 'notification.accepted' && e.requestHash === undefined))
      .map(([id]) => id),
  );
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > maxAttempts) throw new Error(`projection kept conflicting for ${pending.length} notifications`);
    const current = await findByIds(col, attempt === 1 ? pending.filter((id) => !unread.has(id)) : pending);
    const changed: { before: StoredDoc | null; after: NotificationDoc }[] = [];
    for (const id of pending) {
      const before = current.get(id) ?? null;
      const after = evolveAll(before, byId.get(id)!);
      if (after !== before && after !== null) changed.push({ before, after });
    }
    // Only a keyed command is claimed: one without a key names its notification (sending/sender.ts),
    // so reading it twice makes the same document again, never a second one. Live, the
    // sender claimed the key before appending; a replay, building from nothing, claims here.
    const claiming = changed
      .filter(({ before, after }) => after.requestHash !== undefined && before?.commandId === undefined && !holding.has(after._id))
      .map(({ after }) => after);
    const claims = await claimCommands(col.commands, claiming.map(recordOf));
    const refused = new Set<string>();
    for (const doc of claiming) {
      if (holdsClaim(claims, doc)) {
        holding.add(doc._id);
      } else {
        refused.add(doc._id);
        duplicates.push({ doc, kept: claims.get(doc.commandId!)!.notificationId });
      }
    }
    const inserts: StoredDoc[] = [];
    const replaces: AnyBulkWriteOperation<StoredDoc>[] = [];
    const writing: NotificationDoc[] = [];
    for (const { before, after } of changed) {
      if (refused.has(after._id)) continue;
      writing.push(after);
      if (before) {
        const { _id: _i, ...replacement } = storedForm(after, before.version + 1);
        replaces.push({ replaceOne: { filter: { _id: after._id, version: before.version }, replacement } });
      } else {
        inserts.push(storedForm(after, 1));
      }
    }
    let landed: number;
    try {
      landed = (await insertChunks(col, inserts)) + (await replaceChunks(col, replaces));
    } catch (err) {
      // The database refused a document (a PoisonEntry: its events are set aside): its claim goes too.
      if (err instanceof PoisonEntry)
        await releaseUnstored(
          col,
          claiming.filter((d) => !refused.has(d._id)),
        );
      throw err;
    }
    await extendCommands(col.commands, writing);
    written += landed;
    if (landed === inserts.length + replaces.length) break;
    // Some writes lost a race with another projector (a newer version, or an insert first):
    // recompute them from fresh reads. Recomputing those that landed too is a no-op.
    pending = writing.map((d) => d._id);
  }
  if (duplicates.length > 0) reportDuplicates(duplicates, opts.log);
  return written;
}

/** Says which notification each command kept; an operator decides what the other one was. */
function reportDuplicates(duplicates: { doc: NotificationDoc; kept: string }[], log?: Logger): void {
  for (const { doc, kept } of duplicates) {
    log?.error(
      { notificationId: doc._id, commandId: doc.commandId, keptNotificationId: kept },
      'one command made two notifications; the first is kept, this one is not stored',
    );
  }
}

/**
 * FerretDB 1.x as released holds every statement's cursor open until its whole `update`
 * command ends, so a command of 100 or more statements exhausts its connection pool and
 * deadlocks (the build scripts/install-ferretdb.sh makes does not). Writing in chunks costs
 * real MongoDB a few more round trips per batch and keeps a released FerretDB alive when
 * one batch is the only writer. Inserts do not hold cursors (load/scenarios/seed-statuses.ts inserts
 * 1000 a time).
 */
export const WRITE_CHUNK = 50;
export const INSERT_CHUNK = 1000;

/** Inserts in chunks; returns how many landed. An insert refused on `_id` lost a race with another projector. */
async function insertChunks(col: Notifications, docs: StoredDoc[]): Promise<number> {
  let landed = 0;
  for (let i = 0; i < docs.length; i += INSERT_CHUNK) {
    const chunk = docs.slice(i, i + INSERT_CHUNK);
    try {
      landed += (await col.insertMany(chunk, { ordered: false })).insertedCount;
    } catch (err) {
      throwUnlessDuplicates(err, chunk);
      landed += (err as MongoBulkWriteError).result.insertedCount;
    }
  }
  return landed;
}

/** Replaces in chunks; returns how many landed. One that did not found a newer version. */
async function replaceChunks(col: Notifications, ops: AnyBulkWriteOperation<StoredDoc>[]): Promise<number> {
  let landed = 0;
  for (let i = 0; i < ops.length; i += WRITE_CHUNK) {
    const chunk = ops.slice(i, i + WRITE_CHUNK);
    try {
      landed += (await col.bulkWrite(chunk, { ordered: false })).modifiedCount;
    } catch (err) {
      throwUnlessDuplicates(err, chunk.map((op) => ('replaceOne' in op ? op.replaceOne.replacement : undefined)) as StoredDoc[]);
      landed += (err as MongoBulkWriteError).result.modifiedCount;
    }
  }
  return landed;
}

/**
 * Returns when a failed bulk write was refused on duplicate keys only; anything else is
 * thrown: a document the driver cannot encode or the database refuses (FerretDB, say,
 * refuses nested arrays) is a PoisonEntry, since retrying cannot help; any other error
 * passes (an outage).
 */
function throwUnlessDuplicates(err: unknown, docs: StoredDoc[]): void {
  if (!(err instanceof MongoBulkWriteError)) {
    if (err instanceof MongoServerError) throw err;
    throw unencodable(docs) ?? err;
  }
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0) throw unencodable(docs) ?? err;
  const refused = errors.find((w) => w.code !== 11000);
  if (refused) throw new PoisonEntry(`the database refused a notification: ${refused.errmsg ?? `code ${refused.code}`}`, { cause: err });
}

export async function findByIds(col: Notifications, ids: string[]): Promise<Map<string, StoredDoc>> {
  const found = new Map<string, StoredDoc>();
  // In chunks: the stand-in re-checks every row it finds against the whole `$in` list.
  for (let i = 0; i < ids.length; i += READ_CHUNK) {
    for (const d of await col.find({ _id: { $in: ids.slice(i, i + READ_CHUNK) } }).toArray()) found.set(d._id, d);
  }
  return found;
}

const READ_CHUNK = 1000;

/** A PoisonEntry naming the first document that cannot be encoded as BSON, if one cannot. */
export function unencodable(docs: NotificationDoc[]): PoisonEntry | undefined {
  for (const doc of docs) {
    try {
      BSON.serialize(storedForm(doc, 1));
    } catch (err) {
      return new PoisonEntry(`a notification cannot be stored: ${(err as Error).message}`, { cause: err });
    }
  }
  return undefined;
}
