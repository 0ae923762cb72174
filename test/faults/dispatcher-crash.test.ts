import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../harness/stack.ts';
import { assertAllSettled, burst, connectClients, type Clients } from './support.ts';

/** Fault test 1: kill -9 the dispatcher in the middle of a burst, restart it. */
let stack: Stack;
let clients: Clients;
const online = Array.from({ length: 40 }, (_, i) => `online-${i}`);
const recipients = [...online, ...Array.from({ length: 10 }, (_, i) => `offline-${i}`)];

before(async () => {
  // A stable consumer name: the restarted dispatcher resumes the entries it left pending.
  stack = await startStack({ env: { PUSHFLOW_CONSUMER_ID: 'dispatcher-1', PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } });
  clients = await connectClients(stack, online);
});

after(async () => {
  clients?.close();
  await stack?.stop();
});

test('kill -9 the dispatcher mid-burst and restart it: every accepted notification settles once', { timeout: 300_000 }, async () => {
  const result = await burst(stack, {
    recipients,
    fault: async () => {
      await stack.restart('dispatcher', 'SIGKILL');
    },
  });
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0 && (settled.byStatus.FAILED ?? 0) > 0, JSON.stringify(settled));
  for (const id of result.accepted) {
    // Online recipients got every notification the system accepted for them (at least once).
    if (clients.received.has(id)) assert.ok(clients.received.get(id)! >= 1);
  }
  const deliveredOrAcked = (settled.byStatus.DELIVERED ?? 0) + (settled.byStatus.ACKNOWLEDGED ?? 0);
  const framesForAccepted = result.accepted.filter((id) => clients.received.has(id)).length;
  assert.equal(framesForAccepted, deliveredOrAcked, 'every DELIVERED notification reached its client, and only those');
});
