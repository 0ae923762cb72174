/**
 * How fast the MongoDB-protocol server itself takes the dispatcher's writes, with nothing
 * else running: the ceiling on end-to-end throughput while every status is persisted.
 * Three shapes, through the dispatcher's own store functions: the keyed sender's insert of
 * ACCEPTED documents, the projector folding DELIVERED into documents that exist (read and
 * versioned replaces, in chunks of WRITE_CHUNK), and the projector building new documents
 * from all their events at once (one insert each: the path of sends without a key). Prints
 * one JSON line.
 *
 *   ./scripts/node.sh --import tsx load/store-ceiling.ts [--docs N] [--batch N] [--mongo URL]
 *
 * Without --mongo it starts the same server the tests use (test/harness/servers.ts).
 */
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import { evolve, uuidv7, type LedgerEvent, type NotificationDoc } from '@pushflow/shared';
import { applyEvents, insertAccepted, openNotifications, WRITE_CHUNK } from '../dispatcher/src/store.ts';
import { mongoServer, type Server } from '../test/harness/servers.ts';
import { machineInfo, serverVersions } from './environment.ts';
import { now } from './clock.ts';
import { summarize } from './percentiles.ts';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '500' },
    mongo: { type: 'string' },
  },
});
const docs = Number(values.docs);
const batch = Number(values.batch);
if (!Number.isInteger(docs) || docs < 1 || !Number.isInteger(batch) || batch < 1) {
  process.stderr.write('store-ceiling: --docs and --batch take positive integers\n');
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
  await col.drop();
  await col.commands.drop();

  const insertsPerSecond = Math.round(docs / inserted.seconds);
  const deliveredPerSecond = Math.round(docs / projected.seconds);
  process.stdout.write(`${JSON.stringify({
    scenario: 'store-ceiling',
    parameters: { docs, batch, writeChunk: WRITE_CHUNK },
    insertAccepted: { docsPerSecond: insertsPerSecond, batchMs: summarize(inserted.batchMs) },
    projectDelivered: { docsPerSecond: deliveredPerSecond, batchMs: summarize(projected.batchMs) },
    projectNewFromEvents: { docsPerSecond: Math.round(docs / built.seconds), eventsPerBatch: perBatch * 3, batchMs: summarize(built.batchMs) },
    // The sender's insert then a read-and-replace, per notification (keyed sends; every send before the hot path).
    insertThenReplacePerSecond: Math.round(docs / (inserted.seconds + projected.seconds)),
    machine: machineInfo(),
    servers: await serverVersions(undefined, url),
  })}\n`);
} finally {
  await client.close();
  await server?.stop();
}

function acceptedDoc(i: number): NotificationDoc {
  const at = Date.now();
  const notificationId = uuidv7(at);
  const events: LedgerEvent[] = [
    {
      type: 'notification.accepted', notificationId, at, commandId: uuidv7(at), recipientId: `ceiling-${i % 50}`,
      title: 'bench', body: 'a notification', data: { seq: i },
    },
    { type: 'notification.dispatched', notificationId, at, nodeIds: ['delivery-1'] },
  ];
  return events.reduce<NotificationDoc | null>((doc, e) => evolve(doc, e), null)!;
}

/** Runs `write` over `items` a batch at a time; how long each batch and the whole took. */
async function inBatches<T>(items: T[], size: number, write: (batch: T[]) => Promise<unknown>): Promise<{ batchMs: number[]; seconds: number }> {
  const batchMs: number[] = [];
  const start = now();
  for (let i = 0; i < items.length; i += size) {
    const t = now();
    await write(items.slice(i, i + size));
    batchMs.push(now() - t);
  }
  return { batchMs, seconds: (now() - start) / 1000 };
}

function eventsOf(doc: NotificationDoc): LedgerEvent[] {
  const at = doc.acceptedAt ?? Date.now();
  return [
    { type: 'notification.accepted', notificationId: doc._id, at, commandId: doc.commandId!, recipientId: doc.recipientId!, title: 'bench', body: 'a notification', data: { n: 1 } },
    { type: 'notification.dispatched', notificationId: doc._id, at, nodeIds: ['delivery-1'] },
    deliveredEvent(doc),
  ];
}

function deliveredEvent(doc: NotificationDoc): LedgerEvent {
  return { type: 'notification.delivered', notificationId: doc._id, at: Date.now(), nodeId: 'delivery-1', connections: 1 };
}
