import { MongoBulkWriteError, type Collection } from 'mongodb';
import type { Logger, NotificationDoc } from '@pushflow/shared';

/**
 * Which notification each command made, in a collection of its own keyed by the command id
 * (`_id`), so that `notifications` needs no unique index but `_id` and both collections can
 * be sharded on a hashed `_id`: MongoDB keeps a shard key's `_id` unique across shards, and
 * refuses any other unique index on a sharded collection. Inserting a record is how a
 * command is claimed: the first insert lands, every later one is refused (11000) and reads
 * the record that won.
 *
 * Records expire with their notifications (store.ts gives both collections a TTL index).
 * A notification expires `PUSHFLOW_STATUS_TTL_DAYS` after its last change, which moves with
 * every event; following it on every write would double the projector's writes. So a record
 * counts from its notification's acceptance and lives COMMAND_GRACE_MS longer than the
 * status TTL, and only a notification still changing that long after its acceptance (an ack
 * a day later) moves its record's expiry along (commandExpiresFrom). A record therefore
 * outlives its notification by at most COMMAND_GRACE_MS, never the other way round.
 */
export interface CommandRecord {
  /** The command id: the correlation id, or `idem:<key>`. */
  _id: string;
  notificationId: string;
  acceptedAt: number;
  requestHash?: string;
  expiresFrom: Date;
}
export type Commands = Collection<CommandRecord>;

/** What an earlier attempt stored under a command id. */
export interface StoredCommand {
  notificationId: string;
  acceptedAt: number;
  requestHash?: string;
}

export const COMMAND_GRACE_MS = 86_400_000;

/** The live pair is notifications/commands; any other status collection (a replay's) gets `<name>_commands`. */
export function commandsCollectionFor(notifications: string): string {
  return notifications === 'notifications' ? 'commands' : `${notifications}_commands`;
}

/**
 * When a notification's record starts to expire: its acceptance, or its last change once
 * that is more than the grace past acceptance. A pure function of the document, so the
 * live projection and a replay give a record the same expiry.
 */
export function commandExpiresFrom(doc: NotificationDoc): Date {
  const acceptedAt = doc.acceptedAt ?? doc.updatedAt;
  return new Date(doc.updatedAt - acceptedAt > COMMAND_GRACE_MS ? doc.updatedAt : acceptedAt);
}

export function recordOf(doc: NotificationDoc): CommandRecord {
  return {
    _id: doc.commandId!,
    notificationId: doc._id,
    acceptedAt: doc.acceptedAt ?? doc.updatedAt,
    ...(doc.requestHash !== undefined && { requestHash: doc.requestHash }),
    expiresFrom: commandExpiresFrom(doc),
  };
}

/**
 * Inserts the records (one insertMany, unordered) and returns, for each command id whose
 * record was refused as a duplicate, the record there first (which may be another record
 * of this same call). A record missing from the answer landed. A record that refused ours
 * and then vanished (expired, or a refused notification's record taken back) fails the
 * call, so the batch is handled again, when the insert will land.
 */
export async function claimCommands(commands: Commands, records: CommandRecord[]): Promise<Map<string, StoredCommand>> {
  const existing = new Map<string, StoredCommand>();
  if (records.length === 0) return existing;
  let refused: number[] = [];
  try {
    await commands.insertMany(records, { ordered: false });
  } catch (err) {
    refused = duplicateIndexes(err);
  }
  if (refused.length === 0) return existing;
  const ids = [...new Set(refused.map((i) => records[i]!._id))];
  for (const r of await commands.find({ _id: { $in: ids } }).toArray()) {
    existing.set(r._id, {
      notificationId: r.notificationId,
      acceptedAt: r.acceptedAt,
      ...(r.requestHash !== undefined && { requestHash: r.requestHash }),
    });
  }
  const vanished = ids.filter((id) => !existing.has(id));
  if (vanished.length > 0) throw new Error(`${vanished.length} command records no longer found; retrying the batch`);
  return existing;
}

/** Whether the notification holds its command's claim, given claimCommands' answer. */
export function holdsClaim(existing: Map<string, StoredCommand>, doc: NotificationDoc): boolean {
  return (existing.get(doc.commandId!)?.notificationId ?? doc._id) === doc._id;
}

/** Takes back the records of notifications that were not stored after all; a record another notification holds is left alone. */
export async function releaseCommands(commands: Commands, docs: NotificationDoc[]): Promise<void> {
  const owned = docs.filter((d) => d.commandId !== undefined).map((d) => ({ _id: d.commandId!, notificationId: d._id }));
  if (owned.length > 0) await commands.deleteMany({ $or: owned });
}

/**
 * Moves the records of notifications still changing past the grace (commandExpiresFrom)
 * along with them. `$max`: never moves one back, whatever order writes land in.
 */
export async function extendCommands(commands: Commands, docs: NotificationDoc[]): Promise<void> {
  const late = docs.filter((d) => d.commandId !== undefined && d.acceptedAt !== undefined && d.updatedAt - d.acceptedAt > COMMAND_GRACE_MS);
  if (late.length === 0) return;
  await commands.bulkWrite(
    late.map((d) => ({
      updateOne: { filter: { _id: d.commandId!, notificationId: d._id }, update: { $max: { expiresFrom: new Date(d.updatedAt) } } },
    })),
    { ordered: false },
  );
}

/** The unique index on `notifications` that held command uniqueness before `commands` existed. */
export const LEGACY_COMMAND_INDEX = 'commandId_unique';

/**
 * The upgrade from that layout: copy each document's command into a record, then drop the
 * index (it forbids sharding). Run at start, before anything is consumed; a start that dies
 * half way does it again (records already there are refused and skipped). Old dispatchers
 * must be stopped first: they write no records. Returns how many records it offered.
 */
export async function retireLegacyCommandIndex<T extends NotificationDoc>(
  notifications: Collection<T>,
  commands: Commands,
  log?: Logger,
): Promise<number> {
  if (!(await hasIndex(notifications, LEGACY_COMMAND_INDEX))) return 0;
  log?.info(
    { collection: notifications.collectionName, commands: commands.collectionName },
    'moving command uniqueness to its own collection',
  );
  let copied = 0;
  let batch: CommandRecord[] = [];
  const flush = async () => {
    try {
      await commands.insertMany(batch, { ordered: false });
    } catch (err) {
      duplicateIndexes(err); // records a concurrent start (or a live write) made already
    }
    copied += batch.length;
    batch = [];
  };
  const cursor = notifications.find(
    { commandId: { $exists: true } },
    {
      projection: { _id: 1, commandId: 1, acceptedAt: 1, requestHash: 1, updatedAt: 1 },
    },
  );
  for await (const doc of cursor) {
    batch.push(recordOf(doc));
    if (batch.length === 1000) await flush();
  }
  if (batch.length > 0) await flush();
  try {
    await notifications.dropIndex(LEGACY_COMMAND_INDEX);
  } catch (err) {
    // 27 IndexNotFound: a concurrent start dropped it first.
    if ((err as { code?: number }).code !== 27) throw err;
  }
  log?.info(
    { collection: notifications.collectionName, records: copied },
    `records copied into ${commands.collectionName}; ${LEGACY_COMMAND_INDEX} dropped`,
  );
  return copied;
}

async function hasIndex<T extends NotificationDoc>(col: Collection<T>, name: string): Promise<boolean> {
  try {
    return (await col.indexes()).some((i) => i.name === name);
  } catch (err) {
    // 26 NamespaceNotFound: no collection yet, so no index either.
    if ((err as { code?: number }).code === 26) return false;
    throw err;
  }
}

/** Indexes of the writes an unordered insertMany refused as duplicates; any other failure is thrown. */
function duplicateIndexes(err: unknown): number[] {
  if (!(err instanceof MongoBulkWriteError)) throw err;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  if (errors.length === 0 || errors.some((w) => w.code !== 11000)) throw err;
  return errors.map((w) => w.index);
}
