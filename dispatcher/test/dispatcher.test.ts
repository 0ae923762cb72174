import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import {
  parseGroups,
  createRedis,
  deadLetterStream,
  deliveryRequestCodec,
  encodeBatch,
  encodeEntry,
  ensureGroup,
  eventCodec,
  groups,
  makeKeys,
  readGroup,
  replyCodec,
  uuidv7,
  type Keys,
  type LedgerEvent,
  type RedisClient,
  type SendCommand,
  type Status,
  type StatusQuery,
} from '@pushflow/shared';
import { redisServer, mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { loadDispatcherConfig } from '../src/config.ts';
import { startDispatcher, type Dispatcher } from '../src/dispatcher.ts';
import { applyEvents, insertAccepted, openNotifications, type Notifications } from '../src/projection/store.ts';

const log = pino({ level: 'silent' });
let redisSrv: Server, mongoSrv: Server, redis: RedisClient, mongo: MongoClient;
let keys: Keys, notifications: Notifications, dispatcher: Dispatcher;
const replyTo = 'test-replies';
const fatal: Error[] = [];

before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'test');
  const mongoUrl = uniqueMongoUrl(mongoSrv.url);
  mongo = new MongoClient(mongoUrl);
  await mongo.connect();
  const prefix = uniquePrefix();
  keys = makeKeys(prefix);
  const config = loadDispatcherConfig({
    REDIS_URL: redisSrv.url,
    // The webhook relay's thread connects to these itself.
    MONGO_URL: mongoUrl,
    PUSHFLOW_REDIS_PREFIX: prefix,
    DISPATCHER_HOST: '127.0.0.1',
    DISPATCHER_PORT: '0',
    PUSHFLOW_CONSUMER_ID: 'd1',
    PUSHFLOW_BATCH_SIZE: '100',
    PUSHFLOW_BLOCK_MS: '100',
    PUSHFLOW_NODE_TTL_MS: '5000',
    // The nodes here are only presence written by the tests, never heartbeating again: a
    // reaper would settle what they were sent as NODE_LOST in the middle of the assertions.
    PUSHFLOW_REAPER_INTERVAL_MS: '3600000',
  });
  dispatcher = await startDispatcher({
    config,
    redis,
    connect: (name) => createRedis(redisSrv.url, name),
    mongo,
    log,
    onFatal: (err) => fatal.push(err),
  });
  notifications = dispatcher.notifications;
});

after(async () => {
  await dispatcher.stop();
  assert.deepEqual(fatal, [], 'no part of the dispatcher died');
  redis.disconnect();
  await mongo.close();
  await Promise.all([redisSrv.stop(), mongoSrv.stop()]);
});

let seq = 0;
/** As a gateway makes them: a correlation id for the reply, and the id of the notification. */
function sendCommand(recipientId: string, correlationId = `cmd-${++seq}-${Date.now()}`): SendCommand {
  return {
    type: 'notification.send',
    correlationId,
    replyTo,
    sentAt: Date.now(),
    notificationId: uuidv7(),
    notification: { recipientId, title: 'Hello', data: { n: seq } },
  };
}

async function replyFor(correlationId: string, stream = replyTo) {
  return waitFor(`reply ${correlationId}`, async () => {
    const entries = await redis.xrange(stream, '-', '+');
    return entries.flatMap(([, f]) => replyCodec.items(f)).find((r) => r?.correlationId === correlationId);
  });
}

async function ledger(notificationId: string): Promise<LedgerEvent[]> {
  return (await redis.xrange(keys.events(0), '-', '+'))
    .flatMap(([, f]) => eventCodec.items(f))
    .filter((e) => e.notificationId === notificationId);
}

/** The document, once the projector wrote it (with this status, when one is given). */
async function projected(notificationId: string, status?: Status) {
  return waitFor(
    `document ${notificationId}`,
    async () =>
      (await notifications.findOne({
        _id: notificationId,
        acceptedAt: { $exists: true },
        ...(status !== undefined && { status }),
      })) ?? undefined,
  );
}

async function projectorCaughtUp() {
  await waitFor('projector caught up', async () => {
    const group = parseGroups(await redis.xinfo('GROUPS', keys.events(0))).find((g) => g.name === groups.projector);
    return group && group.pending === 0 && group.lag === 0 ? true : undefined;
  });
}

let queries = 0;
async function statusOf(notificationId: string): Promise<{ status: string }> {
  const query: StatusQuery = { type: 'notification.status', correlationId: `q-${++queries}`, replyTo, sentAt: Date.now(), notificationId };
  await redis.xadd(keys.queries, '*', ...encodeEntry(query));
  const reply = await replyFor(query.correlationId);
  assert.equal(reply.ok, true, `status of ${notificationId}: ${JSON.stringify(reply)}`);
  return (reply as { result: { status: string } }).result;
}

async function goOnline(recipientId: string, nodeId: string, heartbeatAt = Date.now()) {
  await redis.hincrby(keys.presence(recipientId), nodeId, 1);
  await redis.zadd(keys.nodes, heartbeatAt, nodeId);
}

test('the webhook relay runs on a thread of its own, PUSHFLOW_WEBHOOK_NICE (19) steps below the one that sends', async () => {
  const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
  const main = niceOf(String(process.pid));
  const lowered = await waitFor('a thread at the relay priority', () =>
    readdirSync('/proc/self/task').some((tid) => niceOf(tid) === Math.min(19, main + 19)) ? true : undefined,
  );
  assert.ok(lowered);
  // The rest of the process is untouched.
  assert.equal(getPriority(0), main);
});

test('a send to an online recipient is stored, recorded, routed to its node and answered', async () => {
  await goOnline('alice', 'node-a');
  const cmd = sendCommand('alice');
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
  const reply = await replyFor(cmd.correlationId);
  assert.equal(reply.ok, true);
  const result = (reply as { result: { notificationId: string; status: string; acceptedAt: string } }).result;
  assert.equal(result.status, 'ACCEPTED');
  assert.match(result.notificationId, /^[0-9a-f-]{36}$/);

  // Read-your-writes: a status query finds it as soon as the reply exists; the projector writes the document.
  assert.equal((await statusOf(result.notificationId)).status, 'DISPATCHED');
  const doc = await projected(result.notificationId, 'DISPATCHED');
  assert.deepEqual(doc.dispatchedTo, ['node-a']);
  assert.deepEqual(
    (await ledger(result.notificationId)).map((e) => e.type),
    ['notification.accepted', 'notification.dispatched'],
  );

  const partition = await redis.xrange(keys.deliveries('node-a'), '-', '+');
  const request = partition.flatMap(([, f]) => deliveryRequestCodec.items(f)).find((r) => r?.notificationId === result.notificationId);
  assert.deepEqual(request, {
    notificationId: result.notificationId,
    recipientId: 'alice',
    title: 'Hello',
    data: { n: seq },
    acceptedAt: result.acceptedAt,
  });
  const pending = await redis.xpending(keys.commands(0), groups.dispatcher);
  assert.equal(pending[0], 0, 'the command is acked');
});

test('a recipient with no live connection fails at once with RECIPIENT_OFFLINE', async () => {
  await goOnline('stale', 'dead-node', Date.now() - 60_000); // presence left by a node whose heartbeat stopped
  for (const recipient of ['nobody', 'stale']) {
    const cmd = sendCommand(recipient);
    await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
    const reply = await replyFor(cmd.correlationId);
    const { notificationId } = (reply as { result: { notificationId: string } }).result;
    const doc = await projected(notificationId, 'FAILED');
    assert.equal(doc.reason, 'RECIPIENT_OFFLINE', recipient);
    assert.equal(await redis.exists(keys.deliveries('dead-node')), 0, 'nothing routed to a dead node');
  }
});

test('a command handled twice (redelivered after a crash) yields the same notification', async () => {
  const cmd = sendCommand('bob');
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
  const first = await replyFor(cmd.correlationId);
  await redis.del(replyTo);
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
  const second = await replyFor(cmd.correlationId);
  // The same notification, accepted again: the document keeps the first acceptance.
  const [one, two] = [first, second].map((r) => (r as { result: { notificationId: string; acceptedAt: string } }).result);
  assert.equal(two!.notificationId, cmd.notificationId);
  assert.equal(one!.notificationId, cmd.notificationId);
  assert.ok(two!.acceptedAt >= one!.acceptedAt);
  await projected(cmd.notificationId!);
  await projectorCaughtUp();
  assert.equal(await notifications.countDocuments({ commandId: cmd.correlationId }), 1);
  assert.equal(new Date((await notifications.findOne({ _id: cmd.notificationId! }))!.acceptedAt!).toISOString(), one!.acceptedAt);
});

test('the projector folds delivery outcomes and acks into the document; status queries read it', async () => {
  await goOnline('carol', 'node-a');
  await goOnline('carol', 'node-b');
  const cmd = sendCommand('carol');
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
  const { notificationId } = ((await replyFor(cmd.correlationId)) as { result: { notificationId: string } }).result;
  const at = Date.now();
  for (const e of [
    { type: 'notification.failed', notificationId, at: at + 1, nodeId: 'node-b', reason: 'BACKPRESSURE' },
    { type: 'notification.delivered', notificationId, at: at + 2, nodeId: 'node-a', connections: 2 },
    { type: 'notification.acknowledged', notificationId, at: at + 3, nodeId: 'node-a' },
  ] satisfies LedgerEvent[])
    await redis.xadd(keys.events(0), '*', ...encodeEntry(e));

  const stored = await waitFor('ACKNOWLEDGED', async () => {
    const doc = await notifications.findOne({ _id: notificationId });
    return doc?.status === 'ACKNOWLEDGED' ? doc : undefined;
  });
  // The document keeps the facts; the history is derived from them when a status is read.
  assert.equal('history' in stored, false, 'no stored history');
  assert.deepEqual(
    stored.outcomes.map((o) => [o.nodeId, o.status]),
    [
      ['node-a', 'DELIVERED'],
      ['node-b', 'FAILED'],
    ],
  );
  const query: StatusQuery = {
    type: 'notification.status',
    correlationId: `q-${notificationId}`,
    replyTo,
    sentAt: Date.now(),
    notificationId,
  };
  await redis.xadd(keys.queries, '*', ...encodeEntry(query));
  const reply = await replyFor(query.correlationId);
  assert.equal(reply.ok, true);
  const view = (reply as { result: { status: string; history: { status: string; nodeId?: string; reason?: string }[] } }).result;
  assert.equal(view.status, 'ACKNOWLEDGED');
  assert.deepEqual(
    view.history.map((h) => [h.status, h.nodeId, h.reason]),
    [
      ['ACCEPTED', undefined, undefined],
      ['DISPATCHED', undefined, undefined],
      ['FAILED', 'node-b', 'BACKPRESSURE'],
      ['DELIVERED', 'node-a', undefined],
      ['ACKNOWLEDGED', 'node-a', undefined],
    ],
  );

  const missing: StatusQuery = { ...query, correlationId: 'q-missing', notificationId: '0190a000-0000-7000-8000-00000000dead' };
  await redis.xadd(keys.queries, '*', ...encodeEntry(missing));
  const notFound = await replyFor('q-missing');
  assert.deepEqual(notFound, {
    correlationId: 'q-missing',
    ok: false,
    error: { code: 'NOT_FOUND', message: `no notification ${missing.notificationId}` },
  });
});

test('a document stored with a history (before it was derived on read) is read by its facts and loses it at its next write', async () => {
  await goOnline('dave', 'node-a');
  const cmd = sendCommand('dave');
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(cmd));
  const { notificationId } = ((await replyFor(cmd.correlationId)) as { result: { notificationId: string } }).result;
  const doc = await projected(notificationId, 'DISPATCHED');
  // As an older version wrote it: the same facts, and a history beside them, here a stale one.
  const legacy = [{ status: 'ACCEPTED', at: 1 }];
  await notifications.updateOne({ _id: notificationId }, { $set: { history: legacy } } as never);
  const view = async () => {
    const query: StatusQuery = {
      type: 'notification.status',
      correlationId: `q-${++queries}`,
      replyTo,
      sentAt: Date.now(),
      notificationId,
    };
    await redis.xadd(keys.queries, '*', ...encodeEntry(query));
    return ((await replyFor(query.correlationId)) as { result: { history: { status: string; at: string }[] } }).result.history;
  };
  assert.deepEqual(
    (await view()).map((h) => [h.status, Date.parse(h.at)]),
    [
      ['ACCEPTED', doc.acceptedAt],
      ['DISPATCHED', doc.dispatchedAt],
    ],
  );
  await redis.xadd(
    keys.events(0),
    '*',
    ...encodeEntry({
      type: 'notification.delivered',
      notificationId,
      at: Date.now(),
      nodeId: 'node-a',
      connections: 1,
    } satisfies LedgerEvent),
  );
  const delivered = await projected(notificationId, 'DELIVERED');
  assert.equal('history' in delivered, false, 'the write dropped the stored history');
  assert.deepEqual(
    (await view()).map((h) => h.status),
    ['ACCEPTED', 'DISPATCHED', 'DELIVERED'],
  );
});

test('replaying the whole ledger, twice, into an empty collection rebuilds the same documents', async () => {
  await projectorCaughtUp();
  const events = (await redis.xrange(keys.events(0), '-', '+')).flatMap(([, f]) => eventCodec.items(f));
  const replayed = await openNotifications(mongo.db(), 'replay');
  await applyEvents(replayed, events);
  await applyEvents(replayed, [...events].reverse());
  const strip = (docs: object[]) =>
    docs
      .map(({ version: _v, ...d }: { version?: number }) => d)
      .sort((a, b) => String((a as { _id: string })._id).localeCompare(String((b as { _id: string })._id)));
  assert.deepEqual(strip(await replayed.find().toArray()), strip(await notifications.find().toArray()));
});

test('ensureGroup tolerates an existing group and readGroup returns nothing on an empty stream', async () => {
  await ensureGroup(redis, keys.commands(0), groups.dispatcher);
  assert.deepEqual(
    await readGroup(redis, { stream: keys.commands(0), group: groups.dispatcher, consumer: 'idle', count: 10, id: '0' }),
    [],
  );
});

test('a malformed command goes to the dead-letter stream; its neighbours are answered', async () => {
  const good = sendCommand('dave');
  await redis.xadd(keys.commands(0), '*', ...encodeEntry({ type: 'notification.send', correlationId: 'broken' }));
  await redis.xadd(keys.commands(0), '*', ...encodeEntry(good));
  assert.equal((await replyFor(good.correlationId)).ok, true);
  const dead = await waitFor('dead letter', async () => {
    const entries = await redis.xrange(`${keys.commands(0)}:dead`, '-', '+');
    return entries.length > 0 ? entries : undefined;
  });
  assert.equal(dead.length, 1);
  assert.match(dead[0]![1].join(' '), /broken/);
  await waitFor('nothing pending', async () => ((await redis.xpending(keys.commands(0), groups.dispatcher))[0] === 0 ? true : undefined));
});

/** Events in the ledger, whatever the entries they are batched in. */
async function eventCount(): Promise<number> {
  return (await redis.xrange(keys.events(0), '-', '+')).flatMap(([, f]) => eventCodec.items(f)).length;
}

test('a command no gateway would send is refused at once and set aside; its batch neighbours go on', async () => {
  await goOnline('neighbour', 'node-n');
  const before = await eventCount();
  const replies = keys.replies('refusals');
  const command = (): SendCommand => ({ ...sendCommand('neighbour'), replyTo: replies });
  const good1 = command();
  // A NUL in a key: BSON cannot store it, and the stream codec refuses it like the gateway does.
  const bad: SendCommand = { ...command(), notification: { recipientId: 'neighbour', data: { ok: { 'k\u0000': 1 } } } };
  const good2 = command();
  const pipe = redis.pipeline();
  for (const c of [good1, bad, good2]) pipe.xadd(keys.commands(0), '*', ...encodeEntry(c));
  await pipe.exec();

  const refused = await replyFor(bad.correlationId, replies);
  assert.equal(refused.ok, false);
  assert.equal((refused as { error: { code: string } }).error.code, 'NOTIFICATION_REFUSED');
  for (const c of [good1, good2]) {
    const reply = await replyFor(c.correlationId, replies);
    assert.equal(reply.ok, true, `neighbour ${c.correlationId} was answered ${JSON.stringify(reply)}`);
    const id = (reply as { result: { notificationId: string } }).result.notificationId;
    assert.ok(await projected(id), 'a neighbour of the refused command was not stored');
  }
  const dead = await redis.xrange(deadLetterStream(keys.commands(0)), '-', '+');
  const holds = (fields: string[], c: SendCommand) => fields.join(' ').includes(c.correlationId);
  assert.equal(dead.filter(([, f]) => holds(f, bad)).length, 1, 'the refused command is not in the dead-letter stream once');
  assert.ok(!dead.some(([, f]) => holds(f, good1) || holds(f, good2)), 'a neighbour was dead-lettered');
  assert.equal(await notifications.countDocuments({ commandId: bad.correlationId }), 0, 'the refused notification was stored');
  // accepted + dispatched for each neighbour, nothing for the refused one.
  assert.equal((await eventCount()) - before, 4);
  const pending = (await redis.xpending(keys.commands(0), groups.dispatcher)) as [number, ...unknown[]];
  assert.equal(pending[0], 0, 'a command was left pending');
});

test('a keyed command whose document the database refuses is set aside; its batch neighbours are routed, not only answered', async (t) => {
  if (!/ferretdb/i.test(mongoSrv.source)) {
    t.skip('only FerretDB refuses valid BSON (nested arrays)');
    return;
  }
  await goOnline('kin', 'node-k');
  const replies = keys.replies('keyed-refusals');
  const keyed = (key: string, data: Record<string, unknown>): SendCommand => ({
    ...sendCommand('kin'),
    replyTo: replies,
    notification: { recipientId: 'kin', data },
    idempotencyKey: key,
    requestHash: `hash-${key}`,
  });
  const good = keyed(`good-${Date.now()}`, { n: 1 });
  const bad = keyed(`bad-${Date.now()}`, { m: [[1, 2]] });
  const plain = { ...sendCommand('kin'), replyTo: replies };
  const pipe = redis.pipeline();
  for (const c of [good, bad, plain]) pipe.xadd(keys.commands(0), '*', ...encodeEntry(c));
  await pipe.exec();

  const refused = await replyFor(bad.correlationId, replies);
  assert.equal((refused as { error?: { code: string } }).error?.code, 'NOTIFICATION_REFUSED');
  assert.equal(
    await notifications.commands.countDocuments({ _id: `idem:${bad.idempotencyKey}` }),
    0,
    "the refused key's claim was given back",
  );
  for (const c of [good, plain]) {
    const reply = await replyFor(c.correlationId, replies);
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const id = (reply as { result: { notificationId: string } }).result.notificationId;
    const deliveries = (await redis.xrange(keys.deliveries('node-k'), '-', '+')).filter(([, f]) => f.join(' ').includes(id));
    assert.equal(deliveries.length, 1, `${c.correlationId} was answered but never routed`);
    assert.deepEqual(
      (await ledger(id)).map((e) => e.type),
      ['notification.accepted', 'notification.dispatched'],
    );
  }
});

test('a dead-lettered command naming a key that is not a reply stream gets no write there', async () => {
  const target = `${keys.commands(0)}:not-a-reply-stream`;
  await redis.xadd(keys.commands(0), '*', 'data', JSON.stringify({ replyTo: target, correlationId: 'x' }));
  await waitFor(
    'dead-lettered',
    async () =>
      (await redis.xrange(deadLetterStream(keys.commands(0)), '-', '+')).some(([, f]) => f.join(' ').includes(target)) || undefined,
  );
  assert.equal(await redis.exists(target), 0);
});

test('the store calls a document the database cannot take poison, and stores none of its batch', async () => {
  const doc = (id: string, data?: Record<string, unknown>) => ({
    _id: id,
    recipientId: 'r',
    status: 'ACCEPTED' as const,
    acceptedAt: Date.now(),
    updatedAt: Date.now(),
    commandId: `store-${id}`,
    ...(data && { data }),
  });
  const ids = [uuidv7(), uuidv7()];
  await assert.rejects(
    insertAccepted(notifications, [doc(ids[0]!), doc(ids[1]!, { 'k\u0000': 1 })] as never),
    (err: Error) => err.name === 'PoisonEntry',
  );
  assert.equal(await notifications.countDocuments({ _id: { $in: ids } }), 0);
  assert.equal(await notifications.commands.countDocuments({ notificationId: { $in: ids } }), 0, 'nor their command records');
});

test('batched entries: a batch of commands makes one ledger entry, one delivery entry per node and one reply entry', async () => {
  await goOnline('batch-a', 'node-b1');
  await goOnline('batch-b', 'node-b2');
  const replies = keys.replies('batched');
  const commands = ['batch-a', 'batch-b', 'batch-a', 'batch-offline'].map((r) => ({ ...sendCommand(r), replyTo: replies }));
  const [eventsBefore, nodeBefore] = await Promise.all([redis.xlen(keys.events(0)), redis.xlen(keys.deliveries('node-b1'))]);
  await redis.xadd(keys.commands(0), '*', ...encodeBatch(commands));

  const answered = await Promise.all(commands.map((c) => replyFor(c.correlationId, replies)));
  assert.ok(
    answered.every((r) => r.ok),
    JSON.stringify(answered),
  );
  assert.equal(await redis.xlen(replies), 1, 'one reply entry for the batch');
  assert.equal((await redis.xlen(keys.events(0))) - eventsBefore, 1, 'one ledger entry for the batch');
  assert.equal((await redis.xlen(keys.deliveries('node-b1'))) - nodeBefore, 1, 'one delivery entry per node');
  const toA = (await redis.xrange(keys.deliveries('node-b1'), '-', '+')).at(-1)![1];
  const ids = answered.map((r) => (r as { result: { notificationId: string } }).result.notificationId);
  assert.deepEqual(
    deliveryRequestCodec.items(toA).map((r) => r.notificationId),
    [ids[0], ids[2]],
    'in command order',
  );
  // Each notification's events stay in order inside the entry: accepted, then its route.
  for (const [i, id] of ids.entries()) {
    assert.deepEqual(
      (await ledger(id)).map((e) => e.type),
      ['notification.accepted', i === 3 ? 'notification.failed' : 'notification.dispatched'],
    );
  }
  await projected(ids[3]!, 'FAILED');
  for (const id of ids.slice(0, 3)) await projected(id, 'DISPATCHED');
});

test('a stream holding both entry formats is read whole: old one-message entries beside batches', async () => {
  await goOnline('mixed', 'node-m');
  const old = sendCommand('mixed');
  const batched = [sendCommand('mixed'), sendCommand('mixed')];
  const pipe = redis.pipeline();
  pipe.xadd(keys.commands(0), '*', ...encodeEntry(old));
  pipe.xadd(keys.commands(0), '*', ...encodeBatch(batched));
  await pipe.exec();
  const ids = await Promise.all(
    [old, ...batched].map(async (c) => ((await replyFor(c.correlationId)) as { result: { notificationId: string } }).result.notificationId),
  );

  // An old writer's ledger entries (one event each) beside a batch of outcomes.
  const at = Date.now();
  const ledgerPipe = redis.pipeline();
  ledgerPipe.xadd(
    keys.events(0),
    '*',
    ...encodeEntry({ type: 'notification.delivered', notificationId: ids[0]!, at, nodeId: 'node-m', connections: 1 } satisfies LedgerEvent),
  );
  ledgerPipe.xadd(
    keys.events(0),
    '*',
    ...encodeBatch(
      ids
        .slice(1)
        .map((notificationId): LedgerEvent => ({ type: 'notification.delivered', notificationId, at, nodeId: 'node-m', connections: 1 })),
    ),
  );
  await ledgerPipe.exec();
  for (const id of ids) await projected(id, 'DELIVERED');
});

test('one malformed message in a batch is dead-lettered alone; the good ones around it go on', async () => {
  await goOnline('among', 'node-x');
  const replies = keys.replies('among');
  const good1 = { ...sendCommand('among'), replyTo: replies };
  const good2 = { ...sendCommand('among'), replyTo: replies };
  const bad = { ...sendCommand('among'), replyTo: replies, notification: { recipientId: 'among', data: { 'a.b': 1 } } };
  await redis.xadd(keys.commands(0), '*', ...encodeBatch([good1, bad, good2]));

  const refused = await replyFor(bad.correlationId, replies);
  assert.equal((refused as { error: { code: string } }).error.code, 'NOTIFICATION_REFUSED');
  for (const c of [good1, good2]) {
    const reply = await replyFor(c.correlationId, replies);
    assert.equal(reply.ok, true, JSON.stringify(reply));
    await projected((reply as { result: { notificationId: string } }).result.notificationId, 'DISPATCHED');
  }
  const dead = (await redis.xrange(deadLetterStream(keys.commands(0)), '-', '+')).filter(([, f]) =>
    f.join(' ').includes(bad.correlationId),
  );
  assert.equal(dead.length, 1);
  assert.ok(!dead[0]![1].join(' ').includes(good1.correlationId), 'only the bad message is in the dead entry');

  // The same on the ledger: a bad event between two good ones.
  const reply = await replyFor(good1.correlationId, replies);
  const id = (reply as { result: { notificationId: string } }).result.notificationId;
  const id2 = ((await replyFor(good2.correlationId, replies)) as { result: { notificationId: string } }).result.notificationId;
  const at = Date.now();
  await redis.xadd(
    keys.events(0),
    '*',
    ...encodeBatch([
      { type: 'notification.delivered', notificationId: id, at, nodeId: 'node-x', connections: 1 },
      { type: 'notification.delivered', notificationId: 'broken', at: -1 },
      { type: 'notification.delivered', notificationId: id2, at, nodeId: 'node-x', connections: 1 },
    ]),
  );
  await projected(id, 'DELIVERED');
  await projected(id2, 'DELIVERED');
  const deadEvents = await waitFor('dead event', async () => {
    const entries = await redis.xrange(deadLetterStream(keys.events(0)), '-', '+');
    return entries.length > 0 ? entries : undefined;
  });
  assert.equal(deadEvents.length, 1);
  assert.match(deadEvents[0]![1].join(' '), /"notificationId":"broken"/);
});
