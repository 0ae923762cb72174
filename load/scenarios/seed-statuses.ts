import { MongoClient, type Collection } from 'mongodb';
import { evolve, uuidv7, type LedgerEvent, type NotificationDoc } from '@pushflow/shared';
import { storedForm, type StoredDoc } from '../../dispatcher/src/projection/store.ts';
import { now } from '../drivers/clock.ts';

/**
 * Fills the status collection with `count` notifications the way the dispatcher would have
 * left them once delivered: each document is folded from its ledger events by the
 * dispatcher's own projection and written in its stored form, so the GETs read the same
 * shape they read in production. Written straight into MongoDB: going through the API
 * would measure the send path for minutes before the status path is even reached.
 */
export interface Seeded {
  ids: string[];
  seconds: number;
  /** What the collection holds afterwards: the seeded documents and any others. */
  inCollection: number;
}

/**
 * Documents per insertMany. FerretDB 1.x deadlocks on update commands of 100 statements
 * or more (store.ts, WRITE_CHUNK); inserts do not hold cursors that way: 1000 per command
 * seeded 100,000 documents without a hitch, at ~11,000/s against ~6,700/s in chunks of 50.
 */
export const SEED_CHUNK = 1000;
/** Chunks written at a time: the stand-in gains little from more on two cores. */
const parallel = 2;

export async function seedStatuses(mongoUrl: string, count: number, onProgress: (written: number) => void = () => {}): Promise<Seeded> {
  const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  try {
    const col = client.db().collection<StoredDoc>('notifications');
    const started = now();
    // Accepted over the last day, so the ids (UUIDv7) spread over time like real ones.
    const from = Date.now() - 86_400_000;
    const ids: string[] = new Array(count);
    let next = 0;
    let written = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < count) {
          const first = next;
          const end = Math.min(count, first + SEED_CHUNK);
          next = end;
          const docs: StoredDoc[] = [];
          for (let i = first; i < end; i++) {
            const doc = deliveredDoc(from + Math.floor((i * 86_400_000) / count), i);
            ids[i] = doc._id;
            docs.push(storedForm(doc, 3));
          }
          await col.insertMany(docs, { ordered: false });
          written += docs.length;
          onProgress(written);
        }
      }),
    );
    const seconds = (now() - started) / 1000;
    return { ids, seconds, inCollection: await documentCount(client, col) };
  } finally {
    await client.close();
  }
}

/**
 * The count collStats keeps: FerretDB 1.x answers it at once, while `count` and
 * countDocuments read every document (some 10 s for 100,000 here).
 */
async function documentCount(client: MongoClient, col: Collection<StoredDoc>): Promise<number> {
  try {
    const stats = await client.db().command({ collStats: col.collectionName });
    if (typeof stats.count === 'number') return stats.count;
  } catch {
    /* a server without collStats */
  }
  return col.estimatedDocumentCount();
}

function deliveredDoc(acceptedAt: number, i: number): NotificationDoc {
  const notificationId = uuidv7(acceptedAt);
  const events: LedgerEvent[] = [
    {
      type: 'notification.accepted',
      notificationId,
      at: acceptedAt,
      commandId: uuidv7(acceptedAt),
      recipientId: `bench-status-${i % 10_000}`,
      title: 'bench',
      body: 'a seeded notification',
      data: { seq: i, kind: 'status-bench' },
    },
    { type: 'notification.dispatched', notificationId, at: acceptedAt + 2, nodeIds: ['delivery-1'] },
    { type: 'notification.delivered', notificationId, at: acceptedAt + 5, nodeId: 'delivery-1', connections: 1 },
  ];
  return events.reduce<NotificationDoc | null>((doc, e) => evolve(doc, e), null)!;
}
