import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { createRedis, encodeEntry, makeKeys, readGroup, type Keys, type LedgerEvent, type RedisClient } from '@pushflow/shared';
import { mongoServer, redisServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl, uniquePrefix } from '../../local-stack/isolation.ts';
import { trimLedger } from '../src/chores/retention.ts';
import { applyEvents, openNotifications, TTL_INDEX } from '../src/projection/store.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;
let redisSrv: Server, mongoSrv: Server, redis: RedisClient;

before(async () => {
  [redisSrv, mongoSrv] = await Promise.all([redisServer(), mongoServer()]);
  redis = createRedis(redisSrv.url, 'retention-test');
});

after(async () => {
  redis.disconnect();
  await Promise.all([redisSrv.stop(), mongoSrv.stop()]);
});

/** Entries with explicit ids: `old` ones 10 days back, `recent` ones a minute back. */
async function ledger(keys: Keys, now: number) {
  const old: string[] = [];
  const recent: string[] = [];
  for (let i = 1; i <= 5; i++) old.push(await add(keys, `${now - 10 * DAY}-${i}`));
  for (let i = 1; i <= 3; i++) recent.push(await add(keys, `${now - 60_000}-${i}`));
  return { old, recent };
}

async function add(keys: Keys, id: string): Promise<string> {
  const event: LedgerEvent = { type: 'notification.failed', notificationId: id, at: 0, reason: 'RECIPIENT_OFFLINE' };
  return (await redis.xadd(keys.events(0), id, ...encodeEntry(event)))!;
}

async function consume(keys: Keys, group: string, count: number, ackFirst: number): Promise<void> {
  const read = await readGroup(redis, { stream: keys.events(0), group, consumer: 'c', count, id: '>' });
  if (ackFirst > 0) await redis.xack(keys.events(0), group, ...read.slice(0, ackFirst).map((e) => e.id));
}

const ids = async (keys: Keys) => (await redis.xrange(keys.events(0), '-', '+')).map(([id]) => id);

test('nothing is trimmed from a ledger no group reads, or one that does not exist', async () => {
  const keys = makeKeys(uniquePrefix());
  const now = Date.now();
  assert.deepEqual(await trimLedger({ redis, keys, retentionMs: DAY, log, now }), { trimmed: 0 });
  const { old, recent } = await ledger(keys, now);
  assert.equal((await trimLedger({ redis, keys, retentionMs: DAY, log, now })).trimmed, 0);
  assert.deepEqual(await ids(keys), [...old, ...recent]);
});

test('the ledger is trimmed only below what every group processed, and only past retention', async () => {
  const keys = makeKeys(uniquePrefix());
  const now = Date.now();
  const { old, recent } = await ledger(keys, now);
  await redis.xgroup('CREATE', keys.events(0), 'projector', '0');
  await redis.xgroup('CREATE', keys.events(0), 'audit', '0');
  await consume(keys, 'projector', 100, 8); // everything processed
  await consume(keys, 'audit', 4, 2); // two processed, two pending, the rest never read

  let result = await trimLedger({ redis, keys, retentionMs: 7 * DAY, log, now });
  assert.equal(result.trimmed, 2);
  assert.deepEqual(await ids(keys), [...old.slice(2), ...recent], 'entries pending for a group are kept');

  await redis.xack(keys.events(0), 'audit', old[2]!, old[3]!);
  result = await trimLedger({ redis, keys, retentionMs: 7 * DAY, log, now });
  assert.deepEqual(await ids(keys), [old[4]!, ...recent], 'entries a group has not read yet are kept');

  await consume(keys, 'audit', 100, 100);
  result = await trimLedger({ redis, keys, retentionMs: 7 * DAY, log, now });
  assert.deepEqual(await ids(keys), recent, 'processed entries younger than the retention are kept');
  assert.equal(result.trimmed, 1);

  await trimLedger({ redis, keys, retentionMs: 7 * DAY, log, now: now + 8 * DAY });
  assert.deepEqual(await ids(keys), [], 'once every group processed them and retention passed, they go');
});

test('status documents carry expiresFrom = updatedAt and get a TTL index where the server has them', async () => {
  const mongo = new MongoClient(uniqueMongoUrl(mongoSrv.url));
  await mongo.connect();
  try {
    const col = await openNotifications(mongo.db(), 'notifications', { statusTtlDays: 30, log });
    await openNotifications(mongo.db(), 'notifications', { statusTtlDays: 10, log }); // a changed setting is applied, not refused
    const at = Date.now();
    await applyEvents(col, [
      { type: 'notification.accepted', notificationId: 'n1', at, commandId: 'c1', recipientId: 'alice' },
      { type: 'notification.failed', notificationId: 'n1', at: at + 5, reason: 'RECIPIENT_OFFLINE' },
    ]);
    const doc = await col.findOne({ _id: 'n1' });
    assert.equal(doc?.updatedAt, at + 5);
    assert.deepEqual(doc?.expiresFrom, new Date(at + 5));

    // Expiry counts from the last change.
    await applyEvents(col, [{ type: 'notification.acknowledged', notificationId: 'n1', at: at + 50 }]);
    assert.deepEqual((await col.findOne({ _id: 'n1' }))?.expiresFrom, new Date(at + 50));

    const ttl = (await col.indexes()).find((i) => i.name === TTL_INDEX);
    // FerretDB 1.x refuses TTL indexes (NotImplemented); openNotifications then only warns.
    if (ttl) assert.equal(ttl.expireAfterSeconds, 10 * 86_400);
    else assert.match(mongoSrv.source, /ferretdb/i, 'only the FerretDB stand-in may lack the TTL index');
  } finally {
    await mongo.close();
  }
});
