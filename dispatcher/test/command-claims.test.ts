import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MongoClient, type Db } from 'mongodb';
import { pino } from 'pino';
import { evolve, uuidv7, type LedgerEvent, type NotificationDoc } from '@pushflow/shared';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl } from '../../local-stack/isolation.ts';
import { COMMAND_GRACE_MS, LEGACY_COMMAND_INDEX } from '../src/projection/command-claims.ts';
import { applyEvents, insertAccepted, openNotifications, storedForm, TTL_INDEX } from '../src/projection/store.ts';

/**
 * Command uniqueness in `commands` (command-claims.ts), on a real MongoDB-protocol server: no
 * unique index on `notifications` but `_id`; the upgrade from a collection that carries the
 * old unique index; records that expire with their notifications; claims a refused
 * document gives back; a projector that claims nothing.
 */
const logLines: Record<string, unknown>[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _enc, done) {
      logLines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  }),
);
const DAY = 86_400_000;
let mongoSrv: Server, mongo: MongoClient, db: Db;

before(async () => {
  mongoSrv = await mongoServer();
  mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url));
  await mongo.connect();
  db = mongo.db();
});

after(async () => {
  await mongo?.close();
  await mongoSrv?.stop();
});

function accepted(notificationId: string, commandId: string, at: number, requestHash?: string): LedgerEvent {
  return {
    type: 'notification.accepted',
    notificationId,
    at,
    commandId,
    recipientId: 'r',
    ...(requestHash !== undefined && { requestHash }),
  };
}

function docOf(events: LedgerEvent[]): NotificationDoc {
  return events.reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;
}

test('notifications has no unique index but _id, nor has commands; both can be sharded on a hashed _id', async () => {
  const col = await openNotifications(db, 'fresh', { statusTtlDays: 30, log });
  await insertAccepted(col, [docOf([accepted(uuidv7(), 'idem:fresh', Date.now(), 'hash')])]);
  for (const c of [col, col.commands]) {
    const unique = (await c.indexes()).filter((i) => i.unique || i.name === '_id_').map((i) => i.name);
    assert.deepEqual(unique, ['_id_'], `${c.collectionName}: ${JSON.stringify(await c.indexes())}`);
  }
  assert.equal(col.commands.collectionName, 'fresh_commands');
  assert.equal((await openNotifications(db)).commands.collectionName, 'commands', 'the live pair');
});

test('records expire with their notifications: a TTL index the grace longer, and a notification changing past the grace takes its record along', async () => {
  const col = await openNotifications(db, 'expiry', { statusTtlDays: 30, log });
  await openNotifications(db, 'expiry', { statusTtlDays: 10, log }); // a changed setting is applied to both
  const [id, at] = [uuidv7(), Date.now() - 3 * DAY];
  // Records are a keyed command's claim, made by the sender (insertAccepted); the projector then moves them along.
  const claimed = accepted(id, 'c-late', at, 'hash');
  await insertAccepted(col, [docOf([claimed])]);
  await applyEvents(col, [claimed, { type: 'notification.dispatched', notificationId: id, at: at + 5, nodeIds: ['n'] }]);
  assert.deepEqual((await col.commands.findOne({ _id: 'c-late' }))?.expiresFrom, new Date(at), 'counted from acceptance');
  await applyEvents(col, [{ type: 'notification.delivered', notificationId: id, at: at + 60_000, nodeId: 'n', connections: 1 }]);
  assert.deepEqual((await col.commands.findOne({ _id: 'c-late' }))?.expiresFrom, new Date(at), 'within the grace: no write');
  // Acknowledged two days later: the document expires from then, so must its record.
  await applyEvents(col, [{ type: 'notification.acknowledged', notificationId: id, at: at + 2 * DAY }]);
  assert.deepEqual((await col.commands.findOne({ _id: 'c-late' }))?.expiresFrom, new Date(at + 2 * DAY));
  assert.deepEqual((await col.findOne({ _id: id }))?.expiresFrom, new Date(at + 2 * DAY));
  // An older event applied again never moves it back.
  await applyEvents(col, [{ type: 'notification.delivered', notificationId: id, at: at + 60_000, nodeId: 'n', connections: 1 }]);
  assert.deepEqual((await col.commands.findOne({ _id: 'c-late' }))?.expiresFrom, new Date(at + 2 * DAY));

  const ttl = (await col.commands.indexes()).find((i) => i.name === TTL_INDEX);
  // FerretDB 1.x refuses TTL indexes (NotImplemented): neither documents nor records expire.
  if (ttl) assert.equal(ttl.expireAfterSeconds, 10 * 86_400 + COMMAND_GRACE_MS / 1000);
  else assert.match(mongoSrv.source, /ferretdb/i, 'only the FerretDB stand-in may lack the TTL index');
});

test('upgrade: a collection with the old unique index gets its records copied, loses the index, and keeps every guarantee', async () => {
  const name = 'legacy';
  const old = db.collection<NotificationDoc & { version: number }>(name);
  await old.createIndex({ commandId: 1 }, { unique: true, sparse: true, name: LEGACY_COMMAND_INDEX });
  const now = Date.now();
  const keyed = docOf([accepted(uuidv7(), 'idem:old-key', now, 'hash-1')]);
  const plainId = uuidv7();
  const plain = docOf([
    accepted(plainId, 'c-old', now),
    { type: 'notification.failed', notificationId: plainId, at: now + 1, reason: 'RECIPIENT_OFFLINE' },
  ]);
  const orphanOutcome = docOf([{ type: 'notification.delivered', notificationId: uuidv7(), at: now, nodeId: 'n', connections: 1 }]);
  // More than one insert batch of the copy.
  const many = Array.from({ length: 1500 }, (_, i) => docOf([accepted(uuidv7(), `c-many-${i}`, now)]));
  await old.insertMany([keyed, plain, orphanOutcome, ...many].map((d) => storedForm(d, 1)));

  logLines.length = 0;
  const col = await openNotifications(db, name, { log });
  assert.equal(
    (await col.indexes()).some((i) => i.name === LEGACY_COMMAND_INDEX),
    false,
    'the old index is gone',
  );
  assert.equal(await col.commands.countDocuments(), 2 + many.length, 'one record per document with a command');
  assert.deepEqual(await col.commands.findOne({ _id: 'idem:old-key' }), {
    _id: 'idem:old-key',
    notificationId: keyed._id,
    acceptedAt: now,
    requestHash: 'hash-1',
    expiresFrom: new Date(now),
  });
  assert.equal((await col.commands.findOne({ _id: 'c-old' }))?.notificationId, plain._id);
  assert.ok(
    logLines.some((l) => l.records === 2 + many.length),
    JSON.stringify(logLines.slice(-3)),
  );

  // Opening again (another dispatcher, a restart) finds nothing to do.
  await openNotifications(db, name, { log });
  assert.equal(await col.commands.countDocuments(), 2 + many.length);

  // A keyed retry of an old notification finds it, with its request hash.
  const retry = docOf([accepted(uuidv7(), 'idem:old-key', now + 10, 'hash-1')]);
  const found = await insertAccepted(col, [retry]);
  assert.deepEqual(found.get('idem:old-key'), { notificationId: keyed._id, acceptedAt: now, requestHash: 'hash-1' });
  assert.equal(await col.countDocuments({ commandId: 'idem:old-key' }), 1);

  // A command without a key is not claimed by the projector: it names its notification,
  // so it cannot make a second one (sender.ts).
  await applyEvents(col, [accepted(uuidv7(), 'c-new', now + 20)]);
  assert.equal(await col.commands.countDocuments(), 2 + many.length, 'the projector claimed a command without a key');
  // A keyed command found making a second notification: the old one is kept, the other reported.
  const again = uuidv7();
  logLines.length = 0;
  await applyEvents(col, [accepted(again, 'idem:old-key', now + 30, 'hash-1')], { log });
  assert.equal(await col.countDocuments({ _id: again }), 0);
  assert.ok(
    logLines.some((l) => l.notificationId === again && l.keptNotificationId === keyed._id),
    JSON.stringify(logLines),
  );
});

test('an upgrade that died after copying some records finishes on the next start', async () => {
  const old = db.collection<NotificationDoc & { version: number }>('half');
  await old.createIndex({ commandId: 1 }, { unique: true, sparse: true, name: LEGACY_COMMAND_INDEX });
  const docs = Array.from({ length: 5 }, (_, i) => docOf([accepted(uuidv7(), `c-half-${i}`, Date.now())]));
  await old.insertMany(docs.map((d) => storedForm(d, 1)));
  await db.collection('half_commands').insertOne({
    _id: 'c-half-0' as never,
    notificationId: docs[0]!._id,
    acceptedAt: docs[0]!.acceptedAt,
    expiresFrom: new Date(docs[0]!.acceptedAt!),
  });
  const col = await openNotifications(db, 'half', { log });
  assert.deepEqual(
    (await col.commands.find().sort({ _id: 1 }).toArray()).map((r) => [r._id, r.notificationId]),
    docs.map((d) => [d.commandId, d._id]),
  );
  assert.equal(
    (await col.indexes()).some((i) => i.name === LEGACY_COMMAND_INDEX),
    false,
  );
});

test('a keyed batch holding a document the database refuses leaves no record of it behind', async () => {
  const col = await openNotifications(db, 'refusals', { log });
  const at = Date.now();
  const good = docOf([accepted(uuidv7(), 'idem:good', at)]);
  // The driver cannot encode a key with a NUL: the whole insert fails, naming no document.
  const bad = { ...docOf([accepted(uuidv7(), 'idem:bad', at)]), data: { 'k\u0000': 1 } };
  await assert.rejects(insertAccepted(col, [good, bad]), (err: Error) => err.name === 'PoisonEntry');
  assert.equal(await col.commands.countDocuments(), 0, 'claims of documents not stored are taken back');
  // The batch retried entry by entry (as the consumer does): the good one is stored, the bad one refused again.
  assert.equal((await insertAccepted(col, [good])).size, 0, 'a new claim, not a duplicate');
  await assert.rejects(insertAccepted(col, [bad]), (err: Error) => err.name === 'PoisonEntry');
  assert.deepEqual(
    (await col.commands.find().toArray()).map((r) => r._id),
    ['idem:good'],
  );
  assert.equal(await col.countDocuments(), 1);
});

test('a projected document the database refuses leaves nothing behind', async (t) => {
  if (!/ferretdb/i.test(mongoSrv.source)) {
    t.skip('only FerretDB refuses valid BSON (nested arrays)');
    return;
  }
  const col = await openNotifications(db, 'projector_refusals', { log });
  const id = uuidv7();
  const event = { ...accepted(id, 'c-nested', Date.now()), data: { m: [[1, 2]] } } as LedgerEvent;
  await assert.rejects(applyEvents(col, [event]), (err: Error) => err.name === 'PoisonEntry');
  assert.equal(await col.commands.countDocuments({ _id: 'c-nested' }), 0);
  assert.equal(await col.countDocuments({ _id: id }), 0);
});
