import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import {
  createRedis,
  deliveryRequestCodec,
  encodeEntry,
  ensureGroup,
  eventCodec,
  groups,
  makeKeys,
  readGroup,
  replyCodec,
  type Keys,
  type LedgerEvent,
  type NotificationContent,
  type RedisClient,
  type Reply,
  type SendCommand,
} from '@pushflow/shared';
import { redisServer, mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { createProjector } from '../src/projection/projector.ts';
import { createSendHandler } from '../src/sending/sender.ts';
import { applyEvents, openNotifications, type Notifications } from '../src/projection/store.ts';

/**
 * Idempotency-Key through the real send handler, real Redis and a real MongoDB-protocol
 * server: one notification per key, however the retries are batched; a key reused for
 * another body is refused; only a redelivered command re-appends its events.
 */
const log = pino({ level: 'silent' });
let redisSrv: Server, mongoSrv: Server, redis: RedisClient, mongo: MongoClient;
let keys: Keys, notifications: Notifications;
let handle: ReturnType<typeof createSendHandler>;
const replyTo = 'idem-replies';
const NODE = 'node-a';

before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'idem-test');
  mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url));
  await mongo.connect();
  notifications = await openNotifications(mongo.db());
  keys = makeKeys(uniquePrefix());
  handle = createSendHandler({ redis, keys, notifications, log, stream: keys.commands(0), group: groups.dispatcher, nodeTtlMs: 60_000 });
  await ensureGroup(redis, keys.commands(0), groups.dispatcher);
  await ensureGroup(redis, keys.events(0), groups.projector);
  await redis.hincrby(keys.presence('alice'), NODE, 1);
  await redis.zadd(keys.nodes, Date.now() + 3_600_000, NODE); // alive for the whole file
});

after(async () => {
  redis?.disconnect();
  await mongo?.close();
  await Promise.all([redisSrv?.stop(), mongoSrv?.stop()]);
});

let seq = 0;
function command(idempotencyKey: string | undefined, notification: NotificationContent, requestHash?: string): SendCommand {
  return {
    type: 'notification.send',
    correlationId: `c-${++seq}`,
    replyTo,
    sentAt: Date.now(),
    notification,
    ...(idempotencyKey !== undefined && { idempotencyKey, requestHash: requestHash ?? `hash-of-${JSON.stringify(notification)}` }),
  };
}

/** Appends the commands, reads them as one batch through the group, runs the handler on it. */
async function handleBatch(commands: SendCommand[], redelivered = false): Promise<void> {
  for (const c of commands) await redis.xadd(keys.commands(0), '*', ...encodeEntry(c));
  const entries = await readGroup(redis, { stream: keys.commands(0), group: groups.dispatcher, consumer: 'd1', count: 1000, id: '>' });
  assert.equal(entries.length, commands.length);
  await handle(entries.map((e) => ({ ...e, redelivered })));
}

async function replies(): Promise<Map<string, Reply>> {
  const all = (await redis.xrange(replyTo, '-', '+')).flatMap(([, f]) => replyCodec.items(f));
  return new Map(all.map((r) => [r.correlationId, r]));
}

async function acceptedIn(cmds: SendCommand[]): Promise<{ notificationId: string; acceptedAt: string }[]> {
  const all = await replies();
  return cmds.map((c) => {
    const r = all.get(c.correlationId);
    assert.ok(r?.ok, `reply to ${c.correlationId}: ${JSON.stringify(r)}`);
    return r.result as { notificationId: string; acceptedAt: string };
  });
}

async function ledger(notificationId: string): Promise<LedgerEvent[]> {
  return (await redis.xrange(keys.events(0), '-', '+'))
    .flatMap(([, f]) => eventCodec.items(f))
    .filter((e) => e.notificationId === notificationId);
}

async function deliveries(notificationId: string): Promise<number> {
  return (await redis.xrange(keys.deliveries(NODE), '-', '+'))
    .flatMap(([, f]) => deliveryRequestCodec.items(f))
    .filter((r) => r.notificationId === notificationId).length;
}

/** Runs the projector over every ledger event not projected yet (the sender leaves unkeyed documents to it). */
async function project(): Promise<void> {
  const projector = createProjector({ redis, keys, notifications, log, stream: keys.events(0), group: groups.projector });
  const entries = await readGroup(redis, { stream: keys.events(0), group: groups.projector, consumer: 'p1', count: 10_000, id: '>' });
  if (entries.length > 0) await projector(entries);
}

const pendingCount = async () => ((await redis.xpending(keys.commands(0), groups.dispatcher)) as [number])[0];

test('one key, one body: one notification, one delivery, the same answer in one batch and across batches', async () => {
  const body = { recipientId: 'alice', title: 'Once', data: { n: 1 } };
  const inOneBatch = Array.from({ length: 10 }, () => command('key-1', body));
  await handleBatch(inOneBatch);
  const later = Array.from({ length: 3 }, () => command('key-1', body));
  for (const c of later) await handleBatch([c]);

  const answers = await acceptedIn([...inOneBatch, ...later]);
  const { notificationId, acceptedAt } = answers[0]!;
  for (const a of answers) assert.deepEqual(a, { notificationId, status: 'ACCEPTED', acceptedAt });

  assert.equal(await notifications.countDocuments({ commandId: 'idem:key-1' }), 1);
  const doc = await notifications.findOne({ _id: notificationId });
  assert.equal(doc?.requestHash, inOneBatch[0]!.requestHash);
  assert.equal(doc?.status, 'DISPATCHED');
  assert.deepEqual(
    (await ledger(notificationId)).map((e) => e.type),
    ['notification.accepted', 'notification.dispatched'],
  );
  assert.equal(await deliveries(notificationId), 1, 'one delivery entry on the node partition');
  assert.equal(await pendingCount(), 0, 'every command is acked');
});

test('another key makes another notification', async () => {
  const body = { recipientId: 'alice', title: 'Twice' };
  const [a, b] = [command('key-2a', body), command('key-2b', body)];
  await handleBatch([a, b]);
  const [ra, rb] = await acceptedIn([a, b]);
  assert.notEqual(ra!.notificationId, rb!.notificationId);
});

test('the same key with a different body is refused with IDEMPOTENCY_KEY_REUSED and appends nothing', async () => {
  const first = command('key-3', { recipientId: 'alice', title: 'First' });
  await handleBatch([first]);
  const { notificationId } = (await acceptedIn([first]))[0]!;
  // Events and delivery requests, whatever the entries they are batched in.
  const lengths = async () =>
    Promise.all([
      redis.xrange(keys.events(0), '-', '+').then((entries) => entries.flatMap(([, f]) => eventCodec.items(f)).length),
      redis.xrange(keys.deliveries(NODE), '-', '+').then((entries) => entries.flatMap(([, f]) => deliveryRequestCodec.items(f)).length),
    ]);
  const before = await lengths();

  const other = command('key-3', { recipientId: 'alice', title: 'Second' });
  // In the same batch as a fresh key-4 pair whose second body differs too.
  const fresh = command('key-4', { recipientId: 'alice', title: 'Fresh' });
  const freshOther = command('key-4', { recipientId: 'alice', title: 'Not fresh' });
  await handleBatch([other, fresh, freshOther]);

  const all = await replies();
  const refused = {
    ok: false,
    error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
  };
  assert.deepEqual(all.get(other.correlationId), { correlationId: other.correlationId, ...refused });
  assert.deepEqual(all.get(freshOther.correlationId), { correlationId: freshOther.correlationId, ...refused });
  const { notificationId: freshId } = (await acceptedIn([fresh]))[0]!;

  const after = await lengths();
  assert.deepEqual(after, [before[0] + 2, before[1] + 1], 'only the fresh key-4 notification was recorded and routed');
  assert.equal(await notifications.countDocuments({ commandId: { $in: ['idem:key-3', 'idem:key-4'] } }), 2);
  assert.equal((await notifications.findOne({ _id: notificationId }))?.title, 'First');
  assert.equal((await notifications.findOne({ _id: freshId }))?.title, 'Fresh');
  assert.equal(await pendingCount(), 0);
});

test('only a redelivered command re-appends the events and delivery of the notification it stored', async () => {
  const body = { recipientId: 'alice', title: 'Crash' };
  const original = command('key-5', body);
  await handleBatch([original]);
  const { notificationId, acceptedAt } = (await acceptedIn([original]))[0]!;

  // A caller's retry is answered, not routed again.
  const retry = command('key-5', body);
  await handleBatch([retry]);
  assert.equal((await ledger(notificationId)).length, 2);
  assert.equal(await deliveries(notificationId), 1);

  // The same command read again after a crash: its first attempt may have died after the
  // insert and before the appends, so they are made again, with the stored id and time.
  await redis.del(replyTo);
  await handleBatch([original], true);
  assert.deepEqual((await acceptedIn([original]))[0], { notificationId, status: 'ACCEPTED', acceptedAt });
  const events = await ledger(notificationId);
  assert.deepEqual(
    events.map((e) => e.type),
    ['notification.accepted', 'notification.dispatched', 'notification.accepted', 'notification.dispatched'],
  );
  assert.deepEqual(events[2], events[0], 'the re-appended accepted event is the same fact');
  assert.equal(await deliveries(notificationId), 2);
  assert.equal(await notifications.countDocuments({ commandId: 'idem:key-5' }), 1);

  // Redelivered together with a retry that stores the notification in the same batch: the
  // notification is routed once, by the command that stored it.
  const [x, y] = [command('key-6', body), command('key-6', body)];
  await handleBatch([x, y], true);
  const [rx, ry] = await acceptedIn([x, y]);
  assert.deepEqual(rx, ry);
  assert.equal(await deliveries(rx!.notificationId), 1);
});

test('a claim whose document is missing (its attempt died, or has not inserted it yet): a retry stores it unrouted, a redelivery stores and routes it', async () => {
  const body = { recipientId: 'alice', title: 'Half' };
  /** What a crash between the claim and the document leaves: the claim, no document, nothing appended. */
  const halfDone = async (key: string, notificationId: string) => {
    const original = command(key, body);
    const acceptedAt = Date.now() - 1000;
    await notifications.commands.insertOne({
      _id: `idem:${key}`,
      notificationId,
      acceptedAt,
      requestHash: original.requestHash!,
      expiresFrom: new Date(acceptedAt),
    });
    return { original, expected: { notificationId, status: 'ACCEPTED', acceptedAt: new Date(acceptedAt).toISOString() } };
  };

  // A caller's retry is answered with the claim, and the status it names can be read at once.
  const a = await halfDone('key-7', '0190a000-0000-7000-8000-0000000000a7');
  const retry = command('key-7', body);
  await handleBatch([retry]);
  assert.deepEqual((await acceptedIn([retry]))[0], a.expected);
  assert.equal((await notifications.findOne({ _id: a.expected.notificationId }))?.status, 'ACCEPTED');
  assert.equal(await deliveries(a.expected.notificationId), 0, "a caller's retry routes nothing");
  // The command itself, redelivered, routes it; the projector folds the route in.
  await handleBatch([a.original], true);
  assert.deepEqual((await acceptedIn([a.original]))[0], a.expected);
  assert.equal(await deliveries(a.expected.notificationId), 1);
  await project();
  assert.equal((await notifications.findOne({ _id: a.expected.notificationId }))?.status, 'DISPATCHED');

  // Redelivered with nobody's retry before it: the document is stored routed.
  const b = await halfDone('key-8', '0190a000-0000-7000-8000-0000000000a8');
  await handleBatch([b.original], true);
  assert.deepEqual((await acceptedIn([b.original]))[0], b.expected);
  const doc = await notifications.findOne({ _id: b.expected.notificationId });
  assert.equal(doc?.status, 'DISPATCHED');
  assert.equal(doc?.commandId, 'idem:key-8');
  assert.equal(await deliveries(b.expected.notificationId), 1);
  assert.deepEqual(
    (await ledger(b.expected.notificationId)).map((e) => e.type),
    ['notification.accepted', 'notification.dispatched'],
  );
  assert.equal(await notifications.countDocuments({ commandId: { $in: ['idem:key-7', 'idem:key-8'] } }), 2);
});

test('without a key, a command read twice makes one notification: the same answer, one document, a repeated frame of the same id', async () => {
  const once = command(undefined, { recipientId: 'alice', title: 'No key' });
  await handleBatch([once]);
  const [first] = await acceptedIn([once]);
  await redis.del(replyTo);
  await handleBatch([once]);
  assert.equal((await acceptedIn([once]))[0]!.notificationId, first!.notificationId);
  // At least once: clients dedupe frames by notificationId (docs/operations.md, Guarantees).
  assert.equal(await deliveries(first!.notificationId), 2);
  await project();
  assert.equal(await notifications.countDocuments({ commandId: once.correlationId }), 1);
  const doc = await notifications.findOne({ _id: first!.notificationId });
  assert.equal(doc?.commandId, once.correlationId);
  assert.equal(doc?.requestHash, undefined);
});

test('replaying the ledger rebuilds the same documents, request hashes included', async () => {
  await project();
  const events = (await redis.xrange(keys.events(0), '-', '+')).flatMap(([, f]) => eventCodec.items(f));
  const replayed = await openNotifications(mongo.db(), 'replay');
  await applyEvents(replayed, events);
  const strip = (docs: object[]) =>
    docs
      .map(({ version: _v, ...d }: { version?: number }) => d)
      .sort((a, b) => String((a as { _id: string })._id).localeCompare(String((b as { _id: string })._id)));
  const live = strip(await notifications.find().toArray());
  assert.ok(live.some((d) => (d as { requestHash?: string }).requestHash));
  assert.deepEqual(strip(await replayed.find().toArray()), live);
});
