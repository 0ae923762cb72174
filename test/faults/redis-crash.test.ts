import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { restartableRedis, type RestartableServer } from '../../local-stack/servers.ts';
import { assertAllSettled, burst, burstRecipients, connectClients, onlineRecipients, type Clients } from './support.ts';

/** Fault test 4: kill -9 Redis (AOF, appendfsync always) mid-burst and restart it. */
let redis: RestartableServer;
let stack: Stack;
let clients: Clients;

before(async () => {
  redis = await restartableRedis('always');
  stack = await startStack({ redis, env: { PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } });
  clients = await connectClients(stack, onlineRecipients);
});

after(async () => {
  clients?.close();
  await stack?.stop();
  await redis?.stop();
});

test('kill -9 Redis mid-burst and restart it: nothing acknowledged is lost, every notification settles', { timeout: 300_000 }, async () => {
  const result = await burst(stack, {
    recipients: burstRecipients,
    fault: async () => {
      await redis.kill();
      await new Promise((r) => setTimeout(r, 1000));
      await redis.start();
    },
  });
  assert.ok(
    (result.statuses.get(503) ?? 0) + (result.statuses.get(504) ?? 0) > 0,
    `the outage was seen: ${JSON.stringify([...result.statuses])}`,
  );
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  for (const s of stack.services) assert.equal(s.child.exitCode, null, `${s.name} survived the outage`);
});
