import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../harness/stack.ts';
import { assertAllSettled, burst, connectClients, type Clients } from './support.ts';

/** Fault test 2: two dispatchers; kill -9 one for good mid-burst; the other takes over its pending entries. */
let stack: Stack;
let clients: Clients;
const online = Array.from({ length: 40 }, (_, i) => `online-${i}`);
const recipients = [...online, ...Array.from({ length: 10 }, (_, i) => `offline-${i}`)];

before(async () => {
  stack = await startStack({ env: { PUSHFLOW_CLAIM_IDLE_MS: '2000', PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } });
  await stack.add('dispatcher', { PUSHFLOW_CONSUMER_ID: 'dispatcher-b' }, 'dispatcher-b');
  clients = await connectClients(stack, online);
});

after(async () => {
  clients?.close();
  await stack?.stop();
});

test('kill -9 one of two dispatchers for good mid-burst: the other claims its pending work', { timeout: 300_000 }, async () => {
  const result = await burst(stack, {
    recipients,
    fault: async () => {
      await stack.service('dispatcher').stop('SIGKILL');
    },
  });
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  // assertAllSettled found no entry pending: what the dead dispatcher held was claimed.
});
