import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { createRedis, eventCodec, encodeEntry, type LedgerEvent } from '@pushflow/shared';
import { root, startStack, type Stack } from '../../local-stack/stack.ts';
import { assertAllSettled, burst, connectClients, type Clients } from './support.ts';

/** Fault test 6: replay the ledger twice and apply every event twice: the documents are unchanged. */
let stack: Stack;
let clients: Clients;
const online = Array.from({ length: 20 }, (_, i) => `online-${i}`);

before(async () => {
  stack = await startStack();
  clients = await connectClients(stack, online);
});

after(async () => {
  clients?.close();
  await stack?.stop();
});

async function collectionHash(mongo: MongoClient, name: string): Promise<string> {
  const docs = await mongo
    .db()
    .collection(name)
    .find({}, { projection: { version: 0 } })
    .sort({ _id: 1 })
    .toArray();
  return createHash('sha256').update(JSON.stringify(docs)).digest('hex');
}

function replay(collection: string): { identical: boolean; documents: number } {
  const r = spawnSync(`${root}/scripts/node.sh`, ['dispatcher/src/projection/replay-cli.ts', '--collection', collection, '--compare'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL: stack.redisUrl, MONGO_URL: stack.mongoUrl, PUSHFLOW_REDIS_PREFIX: stack.prefix },
  });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { identical: boolean; documents: number };
}

test('replaying the ledger twice, and every event applied twice, leaves the documents unchanged', { timeout: 300_000 }, async () => {
  const result = await burst(stack, {
    recipients: [...online, 'offline-1'],
    count: Math.min(3000, Number(process.env.PUSHFLOW_FAULT_BURST ?? 3000)),
  });
  await assertAllSettled(stack, result);
  const mongo = new MongoClient(stack.mongoUrl);
  const redis = createRedis(stack.redisUrl, 'test-replay');
  try {
    const live = await collectionHash(mongo, 'notifications');
    for (const name of ['replay_a', 'replay_b']) {
      const r = replay(name);
      assert.equal(r.identical, true);
      assert.equal(await collectionHash(mongo, name), live, `${name} hashes like the live collection`);
    }
    // Every event appended to the ledger a second time, through the live projector.
    const events = (await redis.xrange(`${stack.prefix}events`, '-', '+')).flatMap(([, f]) => eventCodec.items(f)) as LedgerEvent[];
    const pipe = redis.pipeline();
    for (const e of events) pipe.xadd(`${stack.prefix}events`, '*', ...encodeEntry(e));
    await pipe.exec();
    await assertAllSettled(stack, result);
    assert.equal(await collectionHash(mongo, 'notifications'), live, 'the live documents are unchanged by the repeats');
    assert.equal(replay('replay_c').identical, true, 'a replay of the doubled ledger still matches');
  } finally {
    await mongo.close();
    redis.disconnect();
  }
});
