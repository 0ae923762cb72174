import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { assertAllSettled, burst, connectClients, type Clients } from './support.ts';

/**
 * Fault test 3: kill -9 a delivery node with connected clients mid-burst. What it held
 * ends FAILED NODE_LOST, or DELIVERED where the other node delivered it.
 */
let stack: Stack;
let onDoomed: Clients;
let onSurvivor: Clients;
const doomedOnly = Array.from({ length: 20 }, (_, i) => `doomed-${i}`);
const both = Array.from({ length: 10 }, (_, i) => `both-${i}`);
const survivorOnly = Array.from({ length: 20 }, (_, i) => `survivor-${i}`);

before(async () => {
  stack = await startStack({
    deliveryNodes: 2,
    env: {
      PUSHFLOW_NODE_TTL_MS: '2000',
      PUSHFLOW_NODE_LOST_MS: '4000',
      PUSHFLOW_REAPER_INTERVAL_MS: '500',
      PUSHFLOW_HEARTBEAT_MS: '500',
      PUSHFLOW_REPLY_TIMEOUT_MS: '3000',
    },
  });
  onDoomed = await connectClients(stack, [...doomedOnly, ...both], 0);
  onSurvivor = await connectClients(stack, [...survivorOnly, ...both], 1);
});

after(async () => {
  onDoomed?.close();
  onSurvivor?.close();
  await stack?.stop();
});

test('kill -9 a delivery node mid-burst: its notifications end NODE_LOST or DELIVERED by the other node', {
  timeout: 300_000,
}, async () => {
  const result = await burst(stack, {
    recipients: [...doomedOnly, ...both, ...survivorOnly],
    fault: async () => {
      await stack.service('delivery-1').stop('SIGKILL');
    },
  });
  const settled = await assertAllSettled(stack, result);
  const mongo = new MongoClient(stack.mongoUrl);
  try {
    const docs = await mongo
      .db()
      .collection('notifications')
      .find({}, { projection: { recipientId: 1, status: 1, reason: 1 } })
      .toArray();
    const lost = docs.filter((d) => d.reason === 'NODE_LOST');
    assert.ok(lost.length > 0, `some notifications were lost with the node: ${JSON.stringify(settled.byStatus)}`);
    for (const d of lost)
      assert.ok(String(d.recipientId).startsWith('doomed-'), `${d.recipientId} had a live socket elsewhere but ended NODE_LOST`);
    for (const d of docs.filter((x) => String(x.recipientId).startsWith('both-'))) {
      assert.equal(d.status, 'DELIVERED', `${d._id} for ${d.recipientId} was delivered by the surviving node`);
    }
    for (const d of docs.filter((x) => String(x.recipientId).startsWith('survivor-'))) assert.equal(d.status, 'DELIVERED');
  } finally {
    await mongo.close();
  }
});
