import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import {
  compareIds,
  createRedis,
  encodeEntry,
  ensureGroup,
  groups,
  makeKeys,
  readGroup,
  type LedgerEvent,
  type RedisClient,
} from '@pushflow/shared';
import { mongoServer, redisServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { replayLedger } from '../src/projection/replay.ts';
import { trimLedger } from '../src/chores/retention.ts';

/** Replay and retention over a ledger split into 8 partitions. */
const log = pino({ level: 'silent' });
const DAY = 86_400_000;
let redisSrv: Server, mongoSrv: Server, redis: RedisClient, mongo: MongoClient;

before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'partitioned-ledger-test');
  mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url));
  await mongo.connect();
});

after(async () => {
  redis.disconnect();
  await mongo.close();
  await Promise.all([redisSrv.stop(), mongoSrv.stop()]);
});

function lifecycle(notificationId: string, at: number): LedgerEvent[] {
  return [
    { type: 'notification.accepted', notificationId, at, commandId: `c-${notificationId}`, recipientId: 'r', title: notificationId },
    { type: 'notification.dispatched', notificationId, at, nodeIds: ['n1'] },
    { type: 'notification.delivered', notificationId, at: at + 1, nodeId: 'n1', connections: 1 },
  ];
}

test('a replay reads every partition and rebuilds every notification whole', async () => {
  const keys = makeKeys(uniquePrefix(), 8);
  const ids = Array.from({ length: 40 }, (_, i) => `n-${i}`);
  for (const id of ids) for (const e of lifecycle(id, Date.now())) await redis.xadd(keys.eventsOf(id), '*', ...encodeEntry(e));
  const result = await replayLedger({ redis, keys, db: mongo.db(), log, collection: 'replay_partitioned' });
  assert.equal(result.events, 120);
  assert.equal(result.documents, 40);
  const firsts = await Promise.all(keys.allEvents.map(async (s) => (await redis.xrange(s, '-', '+', 'COUNT', 1))[0]?.[0]));
  assert.equal(result.ledgerFrom, firsts.filter((x) => x !== undefined).sort(compareIds)[0]);
  const docs = await mongo.db().collection('replay_partitioned').find({}).toArray();
  assert.ok(
    docs.every((d) => d.status === 'DELIVERED'),
    JSON.stringify(docs.map((d) => d.status)),
  );
});

test('retention trims each partition below what its own groups processed', async () => {
  const keys = makeKeys(uniquePrefix(), 8);
  const now = Date.now();
  // Two old entries in every partition; the projector has processed them in all but partition 0.
  for (const stream of keys.allEvents) {
    await ensureGroup(redis, stream, groups.projector);
    for (let i = 1; i <= 2; i++) {
      await redis.xadd(
        stream,
        `${now - 10 * DAY}-${i}`,
        ...encodeEntry({ type: 'notification.failed', notificationId: `x${i}`, at: 0, reason: 'RECIPIENT_OFFLINE' } satisfies LedgerEvent),
      );
    }
  }
  for (const stream of keys.allEvents.slice(1)) {
    const read = await readGroup(redis, { stream, group: groups.projector, consumer: 'c', count: 10, id: '>' });
    await redis.xack(stream, groups.projector, ...read.map((e) => e.id));
  }
  const result = await trimLedger({ redis, keys, retentionMs: DAY, log, now });
  assert.equal(result.trimmed, 14);
  assert.equal(await redis.xlen(keys.events(0)), 2, 'unread entries are kept');
  for (const stream of keys.allEvents.slice(1)) assert.equal(await redis.xlen(stream), 0);
});
