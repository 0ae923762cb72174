import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { pino } from 'pino';
import {
  createRedis,
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
  type StatusQuery,
} from '@pushflow/shared';
import { redisServer, mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { createProjector } from '../src/projection/projector.ts';
import { createStatusHandler } from '../src/queries/status-queries.ts';
import { createSendHandler } from '../src/sending/sender.ts';
import { openNotifications, type Notifications } from '../src/projection/store.ts';

/**
 * The send hot path without MongoDB: a command without an Idempotency-Key names its
 * notification, is answered from a snapshot until projected, and its document is written by
 * the projector with one insert. Handlers are called directly, so the test decides when the
 * projector runs.
 */
const logLines: Record<string, unknown>[] = [];
const log = pino(
  { level: 'error' },
  new Writable({
    write(chunk, _enc, done) {
      logLines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  }),
);
let redisSrv: Server, mongoSrv: Server, redis: RedisClient, mongo: MongoClient;
let keys: Keys, notifications: Notifications, prefix: string;
let send: ReturnType<typeof createSendHandler>;
let project: ReturnType<typeof createProjector>;
let status: ReturnType<typeof createStatusHandler>;
const writes: CommandStartedEvent[] = [];
const replyTo = 'hot-replies';
const NODE = 'node-h';

before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'hot-test');
  // The test's own client, watched: every insert and update it sends is counted.
  mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url), { monitorCommands: true });
  mongo.on('commandStarted', (e) => {
    if (e.commandName === 'insert' || e.commandName === 'update') writes.push(e);
  });
  await mongo.connect();
  notifications = await openNotifications(mongo.db());
  prefix = uniquePrefix();
  keys = makeKeys(prefix);
  const deps = { redis, keys, notifications, log };
  send = createSendHandler({ ...deps, stream: keys.commands(0), group: groups.dispatcher, nodeTtlMs: 60_000, snapshotMs: 60_000 });
  project = createProjector({ ...deps, stream: keys.events(0), group: groups.projector });
  status = createStatusHandler({ ...deps, group: groups.dispatcher });
  for (const [stream, group] of [
    [keys.commands(0), groups.dispatcher],
    [keys.events(0), groups.projector],
    [keys.queries, groups.dispatcher],
  ] as const) {
    await ensureGroup(redis, stream, group);
  }
  await redis.hincrby(keys.presence('hana'), NODE, 1);
  await redis.zadd(keys.nodes, Date.now() + 3_600_000, NODE);
});

after(async () => {
  redis?.disconnect();
  await mongo?.close();
  await Promise.all([redisSrv?.stop(), mongoSrv?.stop()]);
});

let seq = 0;
function command(notification: NotificationContent = { recipientId: 'hana', title: 'Hot' }, idempotencyKey?: string): SendCommand {
  return {
    type: 'notification.send',
    correlationId: `h-${++seq}`,
    replyTo,
    sentAt: Date.now(),
    notification,
    ...(idempotencyKey !== undefined && { idempotencyKey, requestHash: `hash-of-${JSON.stringify(notification)}` }),
  };
}

async function sendBatch(commands: SendCommand[], redelivered = false): Promise<void> {
  for (const c of commands) await redis.xadd(keys.commands(0), '*', ...encodeEntry(c));
  const entries = await readGroup(redis, { stream: keys.commands(0), group: groups.dispatcher, consumer: 'd1', count: 1000, id: '>' });
  await send(entries.map((e) => ({ ...e, redelivered })));
}

/** Runs the projector over whatever the ledger holds that it has not seen. */
async function projectAll(): Promise<void> {
  const entries = await readGroup(redis, { stream: keys.events(0), group: groups.projector, consumer: 'p1', count: 10_000, id: '>' });
  if (entries.length > 0) await project(entries);
}

async function lastReply(correlationId: string): Promise<Reply> {
  const all = (await redis.xrange(replyTo, '-', '+')).flatMap(([, f]) => replyCodec.items(f));
  const found = all.filter((r) => r.correlationId === correlationId);
  assert.ok(found.length > 0, `no reply to ${correlationId}`);
  return found[found.length - 1]!;
}

async function accepted(c: SendCommand): Promise<string> {
  const r = await lastReply(c.correlationId);
  assert.ok(r.ok, JSON.stringify(r));
  return (r.result as { notificationId: string }).notificationId;
}

let queries = 0;
async function statusOf(notificationId: string): Promise<Reply> {
  const q: StatusQuery = { type: 'notification.status', correlationId: `hq-${++queries}`, replyTo, sentAt: Date.now(), notificationId };
  await redis.xadd(keys.queries, '*', ...encodeEntry(q));
  await status(await readGroup(redis, { stream: keys.queries, group: groups.dispatcher, consumer: 'd1', count: 100, id: '>' }));
  return lastReply(q.correlationId);
}

async function ledger(notificationId: string): Promise<LedgerEvent[]> {
  return (await redis.xrange(keys.events(0), '-', '+'))
    .flatMap(([, f]) => eventCodec.items(f))
    .filter((e) => e.notificationId === notificationId);
}

test('a send without a key writes nothing to MongoDB; GET finds it before the projector ran', async () => {
  await projectAll();
  writes.length = 0;
  const c = command();
  await sendBatch([c]);
  const id = await accepted(c);
  assert.equal(await notifications.countDocuments({ _id: id }), 0, 'the sender wrote the document');

  const before = await statusOf(id);
  assert.ok(before.ok, JSON.stringify(before));
  const view = before.result as { notificationId: string; status: string; history: { status: string }[] };
  assert.equal(view.notificationId, id);
  assert.equal(view.status, 'DISPATCHED');
  assert.deepEqual(
    view.history.map((h) => h.status),
    ['ACCEPTED', 'DISPATCHED'],
  );

  await projectAll();
  assert.equal(await redis.hexists(keys.snapshots(id), id), 0, 'the snapshot outlived its document');
  const after = await statusOf(id);
  assert.deepEqual(after.ok && after.result, view, 'the document answers what the snapshot did');
  assert.equal((await statusOf('0190a000-0000-7000-8000-00000000beef')).ok, false);
});

/** Each write as `<command> <collection>`. */
const written = () => writes.map((w) => `${w.commandName} ${String(w.command[w.commandName])}`);

test('the projector builds a new document with one insert, outcome included, and nothing else', async () => {
  const c = command();
  await sendBatch([c]);
  const id = await accepted(c);
  await redis.xadd(
    keys.events(0),
    '*',
    ...encodeEntry({
      type: 'notification.delivered',
      notificationId: id,
      at: Date.now(),
      nodeId: NODE,
      connections: 1,
    } satisfies LedgerEvent),
  );
  writes.length = 0;
  await projectAll();
  assert.deepEqual(written(), ['insert notifications'], 'one insert, no claim, no update');
  assert.equal((writes[0]!.command as { documents: unknown[] }).documents.length, 1);
  const doc = await notifications.findOne({ _id: id });
  assert.equal(doc?.status, 'DELIVERED');
  assert.equal(doc?.version, 1);
});

test('a redelivered command yields the same notification and one document', async () => {
  const c = command();
  await sendBatch([c]);
  const id = await accepted(c);
  await redis.del(replyTo);
  // Read again after a crash: its first attempt may have died before its appends.
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(c));
  const entries = await readGroup(redis, { stream: keys.commands(0), group: groups.dispatcher, consumer: 'd1', count: 10, id: '>' });
  await send(entries.map((e) => ({ ...e, redelivered: true })));
  assert.equal(await accepted(c), id);
  assert.deepEqual(
    (await ledger(id)).map((e) => e.type),
    ['notification.accepted', 'notification.dispatched', 'notification.accepted', 'notification.dispatched'],
  );
  await projectAll();
  assert.equal(await notifications.countDocuments({ commandId: c.correlationId }), 1);
  assert.equal((await notifications.findOne({ _id: id }))?.status, 'DISPATCHED');
});

test('the notification is the one the gateway named; a command read twice makes it once, with nothing kept in Redis', async () => {
  const c = { ...command(), notificationId: '0190a000-0000-7000-8000-00000000c0de' };
  await sendBatch([c]);
  assert.equal(await accepted(c), c.notificationId);
  await projectAll();
  // Read again without being marked as a repeat (say, appended twice): still the same notification.
  await redis.del(replyTo);
  await sendBatch([c]);
  assert.equal(await accepted(c), c.notificationId);
  await projectAll();
  assert.equal(await notifications.countDocuments({ commandId: c.correlationId }), 1);
  assert.equal((await notifications.findOne({ commandId: c.correlationId }))?._id, c.notificationId);
  assert.deepEqual(await redis.keys(`${prefix}command:*`), [], 'a record of the command was kept in Redis');
  const pending = (await redis.xpending(keys.events(0), groups.projector)) as [number];
  assert.equal(pending[0], 0, 'the projector acked its batch');
});

test('a keyed command is stored by the sender; the projector writes nothing for it; another body is refused', async () => {
  await projectAll();
  const body = { recipientId: 'hana', title: 'Keyed' };
  const c = command(body, 'hot-key');
  writes.length = 0;
  await sendBatch([c]);
  const id = await accepted(c);
  assert.deepEqual(written(), ['insert commands', 'insert notifications'], 'the sender claimed the key and inserted the document');
  assert.equal((await notifications.findOne({ _id: id }))?.status, 'DISPATCHED');
  writes.length = 0;
  await projectAll();
  assert.deepEqual(writes, [], 'its accepted and dispatched events wrote again');

  const other = command({ recipientId: 'hana', title: 'Another' }, 'hot-key');
  await sendBatch([other]);
  const refused = await lastReply(other.correlationId);
  assert.deepEqual(refused, {
    correlationId: other.correlationId,
    ok: false,
    error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
  });
});
