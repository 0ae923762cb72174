/**
 * How fast the MongoDB-protocol server itself takes the dispatcher's writes, with nothing
 * else running: the ceiling on end-to-end throughput while every status is persisted.
 * Three shapes, through the dispatcher's own store functions: the keyed sender's insert of
 * ACCEPTED documents, the projector folding DELIVERED into documents that exist (read and
 * versioned replaces, in chunks of WRITE_CHUNK), and the projector building new documents
 * from all their events at once (one insert each: the path of sends without a key). Then
 * the status queries' read (findByIds of random ids), one id at a time and in batches of
 * --read-batch, from --readers loops at once: the ceiling on status reads. Prints one JSON
 * line.
 *
 *   ./scripts/node.sh load/experiments/store-ceiling.ts [--docs N] [--batch N] [--read-batch N] [--readers N] [--mongo URL]
 *
 * Without --mongo it starts the same server the tests use (local-stack/servers.ts), and
 * reports the CPU µs that server spent per document in each write phase.
 */
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { evolve, uuidv7, type LedgerEvent, type NotificationDoc } from '@pushflow/shared';
import { applyEvents, findByIds, insertAccepted, openNotifications, WRITE_CHUNK } from '../../dispatcher/src/projection/store.ts';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { machineInfo, serverVersions } from '../probes/environment.ts';
import { now } from '../drivers/clock.ts';
import { summarize } from '../report/percentiles.ts';
import { sampleProcess } from '../probes/processes.ts';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '500' },
    'read-batch': { type: 'string', default: '32' },
    readers: { type: 'string', default: '4' },
    mongo: { type: 'string' },
  },
});
const docs = Number(values.docs);
const batch = Number(values.batch);
const readBatch = Number(values['read-batch']);
const readers = Number(values.readers);
if (![docs, batch, readBatch, readers].every((n) => Number.isInteger(n) && n >= 1)) {
  process.stderr.write('store-ceiling: --docs, --batch, --read-batch and --readers take positive integers\n');
  process.exit(1);
}

let server: Server | undefined;
const url = values.mongo ?? (server = await mongoServer()).url;
const client = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 });
try {
  await client.connect();
  const col = await openNotifications(client.db(), `store_ceiling_${Date.now()}`);
  const accepted = Array.from({ length: docs }, (_, i) => acceptedDoc(i));

  const inserted = await inBatches(accepted, batch, (docs) => insertAccepted(col, docs));
  const projected = await inBatches(accepted, batch, (docs) => applyEvents(col, docs.map(deliveredEvent)));
  // What the projector does on the hot path (sender.ts): a new notification's document built
  // from its accepted, dispatched and delivered events, all in one batch, written by one insert.
  const fresh = Array.from({ length: docs }, (_, i) => acceptedDoc(i));
  const perBatch = Math.max(1, Math.floor(batch / 3));
  const built = await inBatches(fresh, perBatch, (docs) => applyEvents(col, docs.flatMap(eventsOf)));
  const ids = [...accepted, ...fresh].map((d) => d._id);
  const readOne = await randomReads(ids, 1, Math.min(docs, 5_000), (batch) => findByIds(col, batch));
  const readBatched = await randomReads(ids, readBatch, docs, (batch) => findByIds(col, batch));
  await col.drop();
  await col.commands.drop();

  const insertsPerSecond = Math.round(docs / inserted.seconds);
  const deliveredPerSecond = Math.round(docs / projected.seconds);
  process.stdout.write(
    `${JSON.stringify({
      scenario: 'store-ceiling',
      parameters: { docs, batch, writeChunk: WRITE_CHUNK },
      insertAccepted: {
        docsPerSecond: insertsPerSecond,
        serverCpuMicrosPerDoc: inserted.serverCpuMicrosPerDoc,
        batchMs: summarize(inserted.batchMs),
      },
      projectDelivered: {
        docsPerSecond: deliveredPerSecond,
        serverCpuMicrosPerDoc: projected.serverCpuMicrosPerDoc,
        batchMs: summarize(projected.batchMs),
      },
      projectNewFromEvents: {
        docsPerSecond: Math.round(docs / built.seconds),
        serverCpuMicrosPerDoc: built.serverCpuMicrosPerDoc,
        eventsPerBatch: perBatch * 3,
        batchMs: summarize(built.batchMs),
      },
      // The sender's insert then a read-and-replace, per notification (keyed sends; every send before the hot path).
      insertThenReplacePerSecond: Math.round(docs / (inserted.seconds + projected.seconds)),
      // The status queries' read, from `readers` loops at once; the dispatcher reads a batch of queries with one find.
      readById: { readers, readsPerSecond: readOne.perSecond, batchMs: summarize(readOne.batchMs) },
      readByIdsInBatches: {
        readers,
        idsPerRead: readBatch,
        readsPerSecond: readBatched.perSecond,
        batchMs: summarize(readBatched.batchMs),
      },
      machine: machineInfo(),
      servers: await serverVersions(undefined, url),
    })}\n`,
  );
} finally {
  await client.close();
  await server?.stop();
}

function acceptedDoc(i: number): NotificationDoc {
  const at = Date.now();
  const notificationId = uuidv7(at);
  const events: LedgerEvent[] = [
    {
      type: 'notification.accepted',
      notificationId,
      at,
      commandId: uuidv7(at),
      recipientId: `ceiling-${i % 50}`,
      title: 'bench',
      body: 'a notification',
      data: { seq: i },
    },
    { type: 'notification.dispatched', notificationId, at, nodeIds: ['delivery-1'] },
  ];
  return events.reduce<NotificationDoc | null>((doc, e) => evolve(doc, e), null)!;
}

/** Runs `write` over `items` a batch at a time; how long each batch and the whole took. */
async function inBatches<T>(
  items: T[],
  size: number,
  write: (batch: T[]) => Promise<unknown>,
): Promise<{ batchMs: number[]; seconds: number; serverCpuMicrosPerDoc: number | null }> {
  const batchMs: number[] = [];
  const start = now();
  const cpuBefore = serverCpuSeconds();
  for (let i = 0; i < items.length; i += size) {
    const t = now();
    await write(items.slice(i, i + size));
    batchMs.push(now() - t);
  }
  const cpuAfter = serverCpuSeconds();
  const serverCpuMicrosPerDoc = cpuBefore === null || cpuAfter === null ? null : Math.round(((cpuAfter - cpuBefore) / items.length) * 1e6);
  return { batchMs, seconds: (now() - start) / 1000, serverCpuMicrosPerDoc };
}

/** The server's CPU so far, when this script started it (with --mongo it is elsewhere). */
function serverCpuSeconds(): number | null {
  return server?.pid === undefined ? null : sampleProcess(server.pid).cpuSeconds;
}

/**
 * `total` lookups of random ids, `size` per read, from `readers` loops at once; throws if a
 * read misses, so a wrong read cannot pass for a fast one.
 */
async function randomReads(ids: string[], size: number, total: number, read: (batch: string[]) => Promise<Map<string, unknown>>) {
  const batchMs: number[] = [];
  let left = Math.ceil(total / size);
  let found = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: readers }, async () => {
      while (left-- > 0) {
        const batch = [...new Set(Array.from({ length: size }, () => ids[Math.floor(Math.random() * ids.length)]!))];
        const t = now();
        const docs = await read(batch);
        batchMs.push(now() - t);
        if (docs.size !== batch.length) throw new Error(`store-ceiling: a read found ${docs.size} of ${batch.length} documents`);
        found += docs.size;
      }
    }),
  );
  const seconds = (now() - start) / 1000;
  return { batchMs, perSecond: Math.round(found / seconds) };
}

function eventsOf(doc: NotificationDoc): LedgerEvent[] {
  const at = doc.acceptedAt ?? Date.now();
  return [
    {
      type: 'notification.accepted',
      notificationId: doc._id,
      at,
      commandId: doc.commandId!,
      recipientId: doc.recipientId!,
      title: 'bench',
      body: 'a notification',
      data: { n: 1 },
    },
    { type: 'notification.dispatched', notificationId: doc._id, at, nodeIds: ['delivery-1'] },
    deliveredEvent(doc),
  ];
}

function deliveredEvent(doc: NotificationDoc): LedgerEvent {
  return { type: 'notification.delivered', notificationId: doc._id, at: Date.now(), nodeId: 'delivery-1', connections: 1 };
}
