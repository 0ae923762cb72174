import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import {
  parseGroups,
  createRedis,
  encodeEntry,
  eventCodec,
  groups,
  makeKeys,
  replyCodec,
  startConsumer,
  type Consumer,
  type Keys,
  type LedgerEvent,
  type RedisClient,
  type SendCommand,
} from '@pushflow/shared';
import { mongoServer, redisServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { createProjector } from '../src/projection/projector.ts';
import { reapDeadNodes } from '../src/chores/reaper.ts';
import { compareCollections, replayLedger, ReplayTargetNotEmpty } from '../src/projection/replay.ts';
import { createSendHandler } from '../src/sending/sender.ts';
import { openNotifications, type Notifications } from '../src/projection/store.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const log = pino({ level: 'silent' });
const replyTo = 'replay-test-replies';
let redisSrv: Server, mongoSrv: Server, redis: RedisClient, mongo: MongoClient, mongoUrl: string;
let keys: Keys, prefix: string, live: Notifications;
const consumers: Consumer[] = [];
const ids: string[] = [];

/**
 * One ledger built the way production builds it: the real send handler and projector,
 * delivery outcomes and acks as delivery nodes append them, and a dead node reaped.
 */
before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'replay-test');
  mongoUrl = uniqueMongoUrl(mongoSrv.url);
  mongo = new MongoClient(mongoUrl);
  await mongo.connect();
  live = await openNotifications(mongo.db(), 'notifications', { statusTtlDays: 30, log });
  prefix = uniquePrefix();
  keys = makeKeys(prefix);
  const deps = { redis, keys, notifications: live, log };
  const common = { consumer: 'd1', count: 7, blockMs: 100, log };
  consumers.push(
    startConsumer({
      ...common,
      redis: createRedis(redisSrv.url, 'r1'),
      stream: keys.commands(0),
      group: groups.dispatcher,
      handler: createSendHandler({ ...deps, stream: keys.commands(0), group: groups.dispatcher, nodeTtlMs: 5000 }),
    }),
    startConsumer({
      ...common,
      redis: createRedis(redisSrv.url, 'r2'),
      stream: keys.events(0),
      group: groups.projector,
      handler: createProjector({ ...deps, stream: keys.events(0), group: groups.projector }),
    }),
  );

  const now = Date.now();
  await online('alice', ['node-a', 'node-b'], now);
  await online('bob', ['node-c'], now); // routed to while alive, reaped once dead (below)
  const recipients = ['alice', 'alice', 'alice', 'bob', 'bob', 'nobody', 'alice', 'nobody'];
  for (const [i, recipientId] of recipients.entries()) {
    const command: SendCommand = {
      type: 'notification.send',
      correlationId: `c-${i}-${now}`,
      replyTo,
      sentAt: now,
      notification: { recipientId, title: `t${i}`, data: { i } },
      // One keyed command: only those are claimed, live by the sender and in a replay by the projector.
      ...(i === 6 && { idempotencyKey: `replay-key-${now}`, requestHash: 'hash-6' }),
    };
    await redis.xadd(keys.commands(0), '*', ...encodeEntry(command));
  }
  await waitFor('every reply', async () => {
    const replies = (await redis.xrange(replyTo, '-', '+')).flatMap(([, f]) => replyCodec.items(f));
    return replies.length >= recipients.length ? replies : undefined;
  }).then((replies) => {
    for (const r of replies) ids.push((r as { result: { notificationId: string } }).result.notificationId);
  });

  const [a0, a1, a2] = ids;
  const outcomes: LedgerEvent[] = [
    { type: 'notification.delivered', notificationId: a0!, at: now + 1, nodeId: 'node-a', connections: 1 },
    { type: 'notification.failed', notificationId: a0!, at: now + 2, nodeId: 'node-b', reason: 'BACKPRESSURE' },
    { type: 'notification.acknowledged', notificationId: a0!, at: now + 3, nodeId: 'node-a' },
    { type: 'notification.failed', notificationId: a1!, at: now + 1, nodeId: 'node-a', reason: 'BACKPRESSURE' },
    { type: 'notification.failed', notificationId: a1!, at: now + 4, nodeId: 'node-b', reason: 'BACKPRESSURE' },
    { type: 'notification.delivered', notificationId: a2!, at: now + 2, nodeId: 'node-b', connections: 2 },
    { type: 'notification.delivered', notificationId: a2!, at: now + 2, nodeId: 'node-b', connections: 2 }, // redelivered
  ];
  for (const e of outcomes) await redis.xadd(keys.events(0), '*', ...encodeEntry(e));
  await redis.zadd(keys.nodes, now - 60_000, 'node-c');
  const reaped = await reapDeadNodes({ redis, keys, nodeLostMs: 15_000, log });
  assert.deepEqual(
    reaped.map((r) => [r.nodeId, r.notificationIds.length]),
    [['node-c', 2]],
  );
  await projected();
});

after(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  redis.disconnect();
  await mongo.close();
  await Promise.all([redisSrv.stop(), mongoSrv.stop()]);
});

async function online(recipientId: string, nodes: string[], heartbeatAt: number) {
  for (const node of nodes) {
    await redis.hincrby(keys.presence(recipientId), node, 1);
    await redis.zadd(keys.nodes, heartbeatAt, node);
  }
}

/** The projector has applied and acked every ledger entry. */
async function projected(): Promise<void> {
  await waitFor('projector caught up', async () => {
    const top = (await redis.xrevrange(keys.events(0), '+', '-', 'COUNT', 1))[0]?.[0];
    const group = parseGroups(await redis.xinfo('GROUPS', keys.events(0))).find((g) => g.name === groups.projector);
    return group && group.lastDeliveredId === top && group.pending === 0 ? true : undefined;
  });
}

test('the live documents cover every status, NODE_LOST included', async () => {
  const statuses = (await live.find({}).toArray()).map((d) => `${d.status}${d.reason ? `:${d.reason}` : ''}`).sort();
  assert.deepEqual(statuses, [
    'ACKNOWLEDGED',
    'DELIVERED',
    'DISPATCHED',
    'FAILED:BACKPRESSURE',
    'FAILED:NODE_LOST',
    'FAILED:NODE_LOST',
    'FAILED:RECIPIENT_OFFLINE',
    'FAILED:RECIPIENT_OFFLINE',
  ]);
});

test('a replay rebuilds documents identical to the live projection, twice over, and changes nothing in Redis', async () => {
  const before = {
    length: await redis.xlen(keys.events(0)),
    events: (await redis.xrange(keys.events(0), '-', '+')).flatMap(([, f]) => eventCodec.items(f)).length,
    groups: await redis.xinfo('GROUPS', keys.events(0)),
  };
  const first = await replayLedger({ redis, keys, db: mongo.db(), collection: 'replay_one', batchSize: 4, log });
  assert.equal(first.documents, ids.length);
  assert.equal(first.events, before.events);
  assert.equal(first.skipped, 0);
  const comparison = await compareCollections(mongo.db().collection('replay_one'), live);
  assert.deepEqual([comparison.identical, comparison.differing, comparison.compared], [true, [], ids.length]);
  assert.equal(first.commands, 'replay_one_commands');
  const records = await compareCollections(mongo.db().collection(first.commands), mongo.db().collection(live.commands.collectionName));
  assert.deepEqual(
    [records.identical, records.differing, records.compared],
    [true, [], 1],
    'one record per keyed command, the same as live',
  );

  const second = await replayLedger({ redis, keys, db: mongo.db(), log });
  assert.match(second.collection, /^notifications_replay_\d{8}T\d+Z$/);
  assert.equal((await compareCollections(mongo.db().collection(second.collection), mongo.db().collection('replay_one'))).identical, true);

  assert.deepEqual(
    { length: await redis.xlen(keys.events(0)), events: before.events, groups: await redis.xinfo('GROUPS', keys.events(0)) },
    before,
  );
});

test('a replay refuses a collection that holds documents; a comparison names what differs', async () => {
  await assert.rejects(replayLedger({ redis, keys, db: mongo.db(), collection: 'notifications', log }), ReplayTargetNotEmpty);
  await mongo
    .db()
    .collection('replay_taken_commands')
    .insertOne({ _id: 'x' as never });
  await assert.rejects(
    replayLedger({ redis, keys, db: mongo.db(), collection: 'replay_taken', log }),
    ReplayTargetNotEmpty,
    'its command records go to a fresh collection too',
  );
  await replayLedger({ redis, keys, db: mongo.db(), collection: 'replay_changed', log });
  const changed = mongo.db().collection<{ _id: string }>('replay_changed');
  await changed.updateOne({ _id: ids[0]! }, { $set: { status: 'FAILED' } });
  await changed.deleteOne({ _id: ids[5]! });
  // A history an older version stored is derived data, not a difference.
  await changed.updateOne({ _id: ids[1]! }, { $set: { history: [{ status: 'ACCEPTED', at: 1 }] } });
  const comparison = await compareCollections(mongo.db().collection('replay_changed'), live);
  assert.equal(comparison.identical, false);
  assert.deepEqual(comparison.differing.sort(), [ids[0]!, ids[5]!].sort());
});

test('npm run ledger:replay -- --compare prints identical:true', async () => {
  const env = { ...process.env, REDIS_URL: redisSrv.url, MONGO_URL: mongoUrl, PUSHFLOW_REDIS_PREFIX: prefix };
  const child = spawn(`${root}/scripts/node.sh`, ['dispatcher/src/projection/replay-cli.ts', '--compare'], {
    cwd: root,
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').pop()!);
  assert.equal(summary.identical, true);
  assert.deepEqual(summary.differing, []);
  assert.deepEqual([summary.commandRecords.identical, summary.commandRecords.differing], [true, []]);
  assert.equal(summary.documents, ids.length);
  assert.match(summary.collection, /^notifications_replay_/);
  assert.ok(summary.ledgerFrom);
});
