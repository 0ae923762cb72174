import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { uuidv7, type LedgerEvent } from '@pushflow/shared';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl } from '../../local-stack/isolation.ts';
import { applyEvents, openNotifications, WRITE_CHUNK, type Notifications } from '../src/projection/store.ts';

/**
 * Eight partitions' projectors (two dispatchers' worth) replacing documents at the same
 * time: their `update` statements add up to several hundred. Each batch must land, and
 * soon. FerretDB 1.24 as released deadlocks here for good (see scripts/install-ferretdb.sh,
 * patch 3); this test is what tells a stand-in that does from one that does not.
 */
let mongoSrv: Server;
let mongo: MongoClient;
let notifications: Notifications;

before(async () => {
  mongoSrv = await mongoServer();
  mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url), { socketTimeoutMS: 30_000 });
  notifications = await openNotifications(mongo.db());
});

after(async () => {
  await mongo?.close();
  await mongoSrv?.stop();
});

test('concurrent projectors whose replaces add up to hundreds of statements all land', { timeout: 120_000 }, async () => {
  const projectors = 16;
  const perBatch = WRITE_CHUNK;
  const batches = Array.from({ length: projectors }, (_, p) =>
    Array.from({ length: perBatch }, (_, i) => ({
      id: uuidv7(),
      recipientId: `user-${p}-${i}`,
    })),
  );
  const accepted = (n: { id: string; recipientId: string }, at: number): LedgerEvent[] => [
    { type: 'notification.accepted', notificationId: n.id, at, commandId: `c-${n.id}`, recipientId: n.recipientId, title: 'hi' },
    { type: 'notification.dispatched', notificationId: n.id, at: at + 1, nodeIds: ['n1'] },
  ];
  await Promise.all(
    batches.map((b) =>
      applyEvents(
        notifications,
        b.flatMap((n) => accepted(n, 1000)),
      ),
    ),
  );

  // Every batch is one `update` command of WRITE_CHUNK statements, all sent at once.
  const delivered = (b: (typeof batches)[number]): LedgerEvent[] =>
    b.map((n) => ({ type: 'notification.delivered', notificationId: n.id, at: 2000, nodeId: 'n1', connections: 1 }));
  const written = await Promise.all(batches.map((b) => applyEvents(notifications, delivered(b))));

  assert.deepEqual(
    written,
    batches.map(() => perBatch),
    'every replace landed, once',
  );
  const statuses = await notifications.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray();
  assert.deepEqual(statuses, [{ _id: 'DELIVERED', n: projectors * perBatch }]);
});
