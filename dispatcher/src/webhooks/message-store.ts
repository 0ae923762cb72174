import { randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';

/**
 * The retry store (`webhook_messages`): a webhook message is written here only when its
 * first attempt did not settle it (it failed, or took longer than the hand-off time).
 * Until then the ledger entry it came from, unacked in the relay's consumer group, is what
 * keeps it. A stored message that succeeds is deleted; one whose schedule is spent stays,
 * `failed`, until retry-failed or the endpoint's deletion.
 *
 * `nextAttemptAt` is both the schedule and a lease: a relay that takes a message moves it
 * past the time its attempt can last, so a relay killed mid-attempt leaves the message due
 * again a little later, and no two relays send it at once.
 */
export interface StoredMessage {
  /** `<endpointId>:<messageId>`: a message read twice from the ledger is stored once. */
  _id: string;
  endpointId: string;
  messageId: string;
  type: string;
  notificationId?: string;
  /** The exact body: every attempt sends the same bytes. */
  body: string;
  /** Attempts made so far. */
  attempts: number;
  state: 'pending' | 'failed';
  nextAttemptAt: Date;
  createdAt: Date;
  updatedAt: Date;
  lastError?: string;
  /** The relay that took it last (a claim token), while it attempts it. */
  claim?: string;
}

export type Messages = Collection<StoredMessage>;

/** The collection as it is, with no index work: for the relay's thread, whose process opened it. */
export const messagesCollection = (db: Db): Messages => db.collection<StoredMessage>('webhook_messages');

export async function openMessages(db: Db): Promise<Messages> {
  const col = messagesCollection(db);
  await col.createIndex({ endpointId: 1, state: 1, nextAttemptAt: 1 }, { name: 'due' });
  return col;
}

export const storedId = (endpointId: string, messageId: string) => `${endpointId}:${messageId}`;

/**
 * Writes go through one queue, flushed as one ordered bulk write at a time: a message's
 * hand-off and the outcome of its attempt land in the order they were made, however close.
 */
export interface MessageWriter {
  put(doc: StoredMessage): Promise<void>;
  remove(endpointId: string, messageId: string): Promise<void>;
  /** Resolves once everything queued so far is written. */
  idle(): Promise<void>;
}

export function createMessageWriter(col: Messages, onError: (err: unknown) => void): MessageWriter {
  let queued: { op: AnyBulkWriteOperation<StoredMessage>; done: () => void }[] = [];
  let flushing: Promise<void> | undefined;

  async function flushAll(): Promise<void> {
    while (queued.length > 0) {
      const batch = queued;
      queued = [];
      for (let failures = 0; ; failures++) {
        try {
          await col.bulkWrite(
            batch.map((q) => q.op),
            { ordered: true },
          );
          break;
        } catch (err) {
          // MongoDB away: the entries behind these stay unacked, so nothing is lost meanwhile.
          onError(err);
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** failures)));
        }
      }
      for (const q of batch) q.done();
    }
    flushing = undefined;
  }

  function enqueue(op: AnyBulkWriteOperation<StoredMessage>): Promise<void> {
    const written = new Promise<void>((done) => queued.push({ op, done }));
    flushing ??= new Promise<void>((r) => setImmediate(r)).then(flushAll);
    return written;
  }

  return {
    put: (doc) => enqueue({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }),
    remove: (endpointId, messageId) => enqueue({ deleteOne: { filter: { _id: storedId(endpointId, messageId) } } }),
    idle: async () => {
      while (flushing) await flushing;
    },
  };
}

/**
 * Takes up to `limit` of an endpoint's due messages for this relay, oldest due first, and
 * moves their lease to `leaseUntil`. Another relay taking the same ones at once gets the
 * others: each is taken by the update whose filter still saw it due.
 */
export async function claimDue(col: Messages, endpointId: string, limit: number, leaseUntil: Date): Promise<StoredMessage[]> {
  const now = new Date();
  const due = await col
    .find({ endpointId, state: 'pending', nextAttemptAt: { $lte: now } }, { projection: { _id: 1 } })
    .sort({ nextAttemptAt: 1 })
    .limit(limit)
    .toArray();
  if (due.length === 0) return [];
  const claim = randomUUID();
  await col.updateMany(
    { _id: { $in: due.map((d) => d._id) }, state: 'pending', nextAttemptAt: { $lte: now } },
    { $set: { nextAttemptAt: leaseUntil, claim } },
  );
  return col.find({ claim, nextAttemptAt: leaseUntil }).toArray();
}

/** Puts an endpoint's failed messages back on the schedule, from its first step. */
export async function retryFailed(col: Messages, endpointId: string): Promise<number> {
  const now = new Date();
  const res = await col.updateMany(
    { endpointId, state: 'failed' },
    { $set: { state: 'pending', attempts: 0, nextAttemptAt: now, updatedAt: now } },
  );
  return res.modifiedCount;
}

export async function deleteEndpointMessages(col: Messages, endpointId: string): Promise<void> {
  await col.deleteMany({ endpointId });
}

export interface Backlog {
  pending: number;
  failed: number;
  /** When the oldest pending message was made. */
  oldestPendingAt?: Date;
}

export async function backlogOf(col: Messages, endpointId: string): Promise<Backlog> {
  const [pending, failed, oldest] = await Promise.all([
    col.countDocuments({ endpointId, state: 'pending' }),
    col.countDocuments({ endpointId, state: 'failed' }),
    col
      .find({ endpointId, state: 'pending' }, { projection: { createdAt: 1 } })
      .sort({ createdAt: 1 })
      .limit(1)
      .toArray(),
  ]);
  return { pending, failed, ...(oldest[0] && { oldestPendingAt: oldest[0].createdAt }) };
}
