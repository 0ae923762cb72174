import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';
import { connectRecipient, postTo } from './harness/gateway-client.ts';

/**
 * Idempotency-Key end to end, the three services as processes: a caller retrying one
 * request 50 times at once gets one notification, and its user one frame.
 */
let stack: Stack;
let redis: Redis;
let mongo: MongoClient;

before(async () => {
  stack = await startStack();
  redis = new Redis(stack.redisUrl);
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
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
const connect = (recipientId: string) => connectRecipient(stack, redis, recipientId);

test('50 concurrent retries with one Idempotency-Key: one notification, one frame, one document', { timeout: 30_000 }, async () => {
  const client = await connect('idem-user');
  const body = { recipientId: 'idem-user', title: 'Your order shipped', data: { order: 42 } };
  const headers = { 'idempotency-key': 'order-42-shipped' };

  const answers = await Promise.all(Array.from({ length: 50 }, () => post('/notifications', body, headers)));
  for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body));
  const ids = new Set(answers.map((a) => a.body.notificationId));
  assert.equal(ids.size, 1, `one notification id, got ${[...ids].join(', ')}`);
  const [notificationId] = [...ids];
  assert.equal(new Set(answers.map((a) => a.body.acceptedAt)).size, 1, 'one acceptance time');

  await waitFor('the frame', async () => (client.frames.length > 0 ? true : undefined), 5000);
  // Give a wrongly repeated delivery the time to show up.
  await new Promise((r) => setTimeout(r, 750));
  assert.deepEqual(
    client.frames.map((f) => [f.type, f.notificationId]),
    [['notification', notificationId]],
  );
  assert.equal(await mongo.db().collection('notifications').countDocuments({ recipientId: 'idem-user' }), 1);

  // A later retry, after the notification went out, still gets the same answer.
  const late = await post('/notifications', { data: { order: 42 }, title: 'Your order shipped', recipientId: 'idem-user' }, headers);
  assert.equal(late.status, 202);
  assert.deepEqual(late.body, answers[0]!.body);
  client.ws.close();
});

test('the same Idempotency-Key with a different body is a 422 problem', { timeout: 15_000 }, async () => {
  const headers = { 'idempotency-key': 'welcome-mail' };
  const first = await post('/notifications', { recipientId: 'someone', title: 'Welcome' }, headers);
  assert.equal(first.status, 202, JSON.stringify(first.body));
  const reused = await post('/notifications', { recipientId: 'someone', title: 'Welcome again' }, headers);
  assert.equal(reused.status, 422, JSON.stringify(reused.body));
  assert.match(reused.contentType ?? '', /^application\/problem\+json/);
  assert.equal(reused.body.type, 'urn:pushflow:problem:idempotency-key-reused');
  assert.equal(reused.body.status, 422);
  assert.equal(await mongo.db().collection('notifications').countDocuments({ recipientId: 'someone' }), 1);
});
