import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRedis, makeKeys } from '@pushflow/shared';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { burst } from '../faults/support.ts';
import { tcpProxy, type TcpProxy } from '../harness/proxy.ts';
import { startReceiver, verifyAll, type Receiver } from '../harness/webhook-receiver.ts';
import { waitFor } from '../harness/wait.ts';
import { callerOf } from './support.ts';

/**
 * MongoDB, the retry store, unreachable while an endpoint fails every message: nothing can
 * be stored, so the relay must hold its ledger entries (not ack them, and not let the
 * consumer loop claim them again until they are dead-lettered) and send everything once
 * MongoDB is back. The claim idle time is short here, so a relay that let its entries be
 * claimed would dead-letter them within the outage.
 */
let mongo: Server;
let proxy: TcpProxy;
let stack: Stack;
let receiver: Receiver;
const call = callerOf(() => stack);

before(async () => {
  mongo = await mongoServer();
  proxy = await tcpProxy(mongo.url);
  receiver = await startReceiver();
  stack = await startStack({
    mongo: { url: proxy.url, source: 'proxy', stop: async () => {} },
    env: {
      PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
      PUSHFLOW_WEBHOOK_RETRY_SCHEDULE: '500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s',
      PUSHFLOW_WEBHOOK_POLL_MS: '200',
      PUSHFLOW_CLAIM_IDLE_MS: '3000',
      PUSHFLOW_COMMAND_MEMORY_SECONDS: '60',
      PUSHFLOW_REPLY_TIMEOUT_MS: '3000',
    },
  });
});
after(async () => {
  await stack?.stop();
  await proxy?.close();
  await mongo?.stop();
  await receiver?.close();
});

test('MongoDB away for 25 s while the endpoint fails: nothing dead-lettered, everything sent once it is back', {
  timeout: 150_000,
}, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url, events: ['notification.failed'] });
  assert.equal(made.status, 201);
  // One message through first: the relay has loaded the endpoint (from MongoDB) before the cut.
  await burst(stack, { count: 1, recipients: ['outage-first'], concurrency: 1 });
  await waitFor('the first message', () => (receiver.received.length > 0 ? true : undefined));
  receiver.behave({ status: 503 });
  await proxy.cut();
  const { accepted } = await burst(stack, { count: 200, recipients: ['outage-a', 'outage-b'], concurrency: 8 });
  assert.equal(accepted.length, 200, 'sends need no MongoDB');
  await new Promise((r) => setTimeout(r, 25_000));
  receiver.behave({ status: 204 });
  await proxy.restore();
  const got = new Set<string>();
  await waitFor(
    'a message for every notification',
    () => {
      for (const b of verifyAll(receiver.received, made.body.secret) as any[]) got.add(b.data.notificationId);
      return accepted.every((id) => got.has(id)) ? true : undefined;
    },
    90_000,
    1000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${accepted.filter((id) => !got.has(id)).length} missing`);
  });
  const redis = createRedis(stack.redisUrl, 'test-webhook-outage');
  try {
    const dead = await redis.xlen(`${makeKeys(stack.prefix).events(0)}:dead`);
    assert.equal(dead, 0, 'no ledger entry dead-lettered');
  } finally {
    redis.disconnect();
  }
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});
