import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { BATCH_FIELD, DATA_FIELD, createRedis, makeKeys, type Keys, type RedisClient } from '@pushflow/shared';
import { apiOf } from './harness/api.ts';
import { startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';
import { connectRecipient } from './harness/gateway-client.ts';

/**
 * A rolling upgrade from services older than batched entries: the new services run with
 * PUSHFLOW_ENTRY_FORMAT=single until no old one is left, and then write only one-message
 * entries, the format the old services read. Sends, single and batched, still go end to end;
 * a restart with the default (batch) then reads a stream holding both formats.
 */
let stack: Stack;
let redis: RedisClient;
let mongo: MongoClient;
let keys: Keys;
const api = apiOf(() => stack);

before(async () => {
  stack = await startStack({ env: { PUSHFLOW_ENTRY_FORMAT: 'single' } });
  redis = createRedis(stack.redisUrl, 'test-entry-format');
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  keys = makeKeys(stack.prefix);
});

after(async () => {
  redis?.disconnect();
  await mongo?.close();
  await stack?.stop();
});

const connect = (recipientId: string) => connectRecipient(stack, redis, recipientId);

async function send(recipientId: string): Promise<string[]> {
  const one = await api('POST', '/notifications', { recipientId, title: 'one' });
  const { notifications } = await api('POST', '/notifications/batch', {
    notifications: [
      { recipientId, title: 'a' },
      { recipientId, title: 'b' },
    ],
  });
  return [one.notificationId, ...notifications.map((n: { notificationId: string }) => n.notificationId)];
}

async function allDelivered(ids: string[]): Promise<void> {
  const col = mongo.db().collection<{ _id: string; status: string }>('notifications');
  await waitFor(
    'every status DELIVERED',
    async () => ((await col.countDocuments({ _id: { $in: ids }, status: 'DELIVERED' })) === ids.length ? true : undefined),
    20_000,
  );
}

/** The field every entry of a stream carries its messages in. */
async function fieldsOf(stream: string): Promise<Set<string>> {
  return new Set((await redis.xrange(stream, '-', '+')).map(([, fields]) => fields[0]!));
}

test('with PUSHFLOW_ENTRY_FORMAT=single every service writes one message per entry, and sends still go end to end', async () => {
  const client = await connect('upgrading');
  const ids = await send('upgrading');
  await waitFor('frames', async () => (client.frames.length === ids.length ? true : undefined));
  assert.deepEqual(
    client.frames.map((f) => f.notificationId),
    ids,
  );
  await allDelivered(ids);
  for (const stream of [keys.commands(0), keys.events(0), keys.deliveries(stack.nodeIds[0]!)]) {
    assert.deepEqual([...(await fieldsOf(stream))], [DATA_FIELD], stream);
  }
  client.ws.close();
});

test('upgraded to batches, the services read what the single format left and write batches', async () => {
  // Restarted with the default: the stack's env no longer names the format.
  for (const label of ['dispatcher', 'delivery', 'gateway']) {
    const service = stack.service(label);
    delete service.env.PUSHFLOW_ENTRY_FORMAT;
    await stack.restart(label, 'SIGTERM');
  }
  const client = await connect('upgraded');
  const ids = await send('upgraded');
  await waitFor('frames', async () => (client.frames.length === ids.length ? true : undefined));
  await allDelivered(ids);
  assert.deepEqual(await fieldsOf(keys.events(0)), new Set([DATA_FIELD, BATCH_FIELD]), 'the ledger holds both formats');
  client.ws.close();
});
