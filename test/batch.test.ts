import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { createRedis, makeKeys, type Keys, type RedisClient } from '@pushflow/shared';
import { startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';
import { connectRecipient, postTo } from './harness/gateway-client.ts';

/**
 * POST /notifications/batch end to end, the three services as processes, the commands
 * stream split into 4 partitions so that a batch is appended as several entries: every
 * notification of a batch reaches its connected recipient over WebSocket and ends DELIVERED
 * in MongoDB, and an Idempotency-Key covers the whole batch. With PUSHFLOW_TEST_REDIS_CLUSTER=1
 * it runs on a Redis Cluster, where each partition's entry goes to a slot of its own.
 */
const P = 4;
const COUNT = 50;
let stack: Stack;
let redis: RedisClient;
let mongo: MongoClient;
let keys: Keys;

before(async () => {
  stack = await startStack({ env: { PUSHFLOW_PARTITIONS: String(P) } });
  redis = createRedis(stack.redisUrl, 'test-batch');
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  keys = makeKeys(stack.prefix, P);
});

after(async () => {
  redis?.disconnect();
  await mongo?.close();
  const codes = await stack?.stop();
  assert.deepEqual(
    codes,
    stack.services.map(() => 0),
    'every service exits 0 on SIGTERM',
  );
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) => postTo(stack, path, body, headers);
const connect = (recipientId: string) => connectRecipient(stack, redis, recipientId, P);

test(`a batch of ${COUNT} to connected recipients: each received over WebSocket, each DELIVERED in MongoDB; the same Idempotency-Key and body again sends nothing twice`, {
  timeout: 60_000,
}, async () => {
  const recipients = Array.from({ length: COUNT }, (_, i) => `batch-user-${i}`);
  assert.ok(new Set(recipients.map((r) => keys.partitionOf(r))).size > 1, 'the batch spans partitions');
  const clients = await Promise.all(recipients.map(connect));
  const notifications = recipients.map((recipientId, i) => ({ recipientId, title: `#${i}`, body: 'batched', data: { i } }));
  const headers = { 'idempotency-key': `batch-${Date.now()}` };
  try {
    const sent = await post('/notifications/batch', { notifications }, headers);
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const accepted: { notificationId: string; status: string; acceptedAt: string }[] = sent.body.notifications;
    assert.equal(accepted.length, COUNT);
    assert.ok(accepted.every((a) => a.status === 'ACCEPTED'));
    const ids = accepted.map((a) => a.notificationId);
    assert.equal(new Set(ids).size, COUNT);

    // In request order: notification i went to recipient i, with its own content.
    await waitFor('every frame', async () => (clients.every((c) => c.frames.length > 0) ? true : undefined), 15_000);
    clients.forEach((client, i) => {
      assert.deepEqual(client.frames, [
        {
          type: 'notification',
          notificationId: ids[i],
          title: `#${i}`,
          body: 'batched',
          data: { i },
          acceptedAt: accepted[i]!.acceptedAt,
        },
      ]);
    });

    const docs = mongo.db().collection<{ _id: string; status: string; recipientId: string }>('notifications');
    const delivered = await waitFor(
      'every status document DELIVERED',
      async () => {
        const found = await docs.find({ _id: { $in: ids } }).toArray();
        return found.length === COUNT && found.every((d) => d.status === 'DELIVERED') ? found : undefined;
      },
      20_000,
      200,
    );
    const recipientOf = new Map(delivered.map((d) => [d._id, d.recipientId]));
    assert.deepEqual(
      ids.map((id) => recipientOf.get(id)),
      recipients,
    );

    // A retry of the same batch: the same ids, and no second frame.
    const again = await post('/notifications/batch', { notifications }, headers);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.deepEqual(again.body, sent.body);
    await new Promise((r) => setTimeout(r, 750));
    assert.ok(
      clients.every((c) => c.frames.length === 1),
      'each recipient got its notification once',
    );
    assert.equal(await docs.countDocuments({ recipientId: { $in: recipients } }), COUNT);
  } finally {
    for (const c of clients) c.ws.close();
  }
});

test('the same Idempotency-Key with a different, longer batch: 422, and none of it is sent', { timeout: 30_000 }, async () => {
  const headers = { 'idempotency-key': `reused-${Date.now()}` };
  const first = await post(
    '/notifications/batch',
    {
      notifications: [
        { recipientId: 'batch-a', title: 'one' },
        { recipientId: 'batch-b', title: 'two' },
      ],
    },
    headers,
  );
  assert.equal(first.status, 202, JSON.stringify(first.body));
  const other = {
    notifications: [
      { recipientId: 'batch-a', title: 'changed' },
      { recipientId: 'batch-b', title: 'two' },
      { recipientId: 'batch-extra', title: 'three' },
    ],
  };
  const reused = await post('/notifications/batch', other, headers);
  assert.equal(reused.status, 422, JSON.stringify(reused.body));
  assert.equal(reused.body.type, 'urn:pushflow:problem:idempotency-key-reused');

  const docs = mongo.db().collection('notifications');
  await waitFor(
    'the first batch stored',
    async () => ((await docs.countDocuments({ recipientId: { $in: ['batch-a', 'batch-b'] } })) === 2 ? true : undefined),
    10_000,
    100,
  );
  await new Promise((r) => setTimeout(r, 750));
  assert.equal(await docs.countDocuments({ recipientId: 'batch-extra' }), 0, "the longer batch's third notification was not sent");
  assert.equal(await docs.countDocuments({ title: 'changed' }), 0);
});

test('an invalid notification anywhere in a batch: 400 naming it, and nothing queued', { timeout: 30_000 }, async () => {
  const before = await Promise.all(keys.allCommands.map((s) => redis.xlen(s)));
  const notifications = Array.from({ length: 10 }, (_, i) => ({ recipientId: i === 7 ? 'not valid' : `batch-v-${i}` }));
  const res = await post('/notifications/batch', { notifications });
  assert.equal(res.status, 400);
  assert.equal(res.body.type, 'urn:pushflow:problem:validation-failed');
  assert.equal(res.body.errors[0].path, '/body/notifications/7/recipientId');
  assert.deepEqual(await Promise.all(keys.allCommands.map((s) => redis.xlen(s))), before);
  assert.equal(
    await mongo
      .db()
      .collection('notifications')
      .countDocuments({ recipientId: { $regex: '^batch-v-' } }),
    0,
  );
});
