import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { createRedis, makeKeys, type RedisClient } from '@pushflow/shared';
import { portVarOf, startStack, type Stack } from '../../local-stack/stack.ts';
import { startReceiver, verifyAll, type Receiver } from '../harness/webhook-receiver.ts';
import { waitFor } from '../harness/wait.ts';
import { allFailed, callerOf, lastEventId, relayCaughtUp, sendMany } from './support.ts';

/**
 * A message through its whole retry schedule (a short one here): kept as failed, visible in
 * attempts, on the dashboard and in the metrics, and sent again by retry-failed under the
 * same webhook-id. A disabled endpoint gets nothing, even from a relay that reads late.
 */
let stack: Stack;
let receiver: Receiver;
let redis: RedisClient;
const call = callerOf(() => stack);

/** An endpoint for this test alone: deleted when it ends, passed or not, so the next test gets only its own messages. */
async function endpointFor(t: TestContext, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const made = await call('POST', '/webhooks', body);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  t.after(() => call('DELETE', `/webhooks/${made.body.id}`));
  return made.body;
}

before(async () => {
  receiver = await startReceiver();
  stack = await startStack({
    env: {
      PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
      PUSHFLOW_WEBHOOK_RETRY_SCHEDULE: '300ms,300ms',
      PUSHFLOW_WEBHOOK_POLL_MS: '100',
      PUSHFLOW_WEBHOOK_ROTATION_OVERLAP_SECONDS: '2',
    },
  });
  redis = createRedis(stack.redisUrl, 'test-webhook-retries');
});
after(async () => {
  redis?.disconnect();
  await stack?.stop();
  await receiver?.close();
});

async function metrics(): Promise<string> {
  const d = stack.service('dispatcher');
  return (await fetch(`http://127.0.0.1:${d.env[portVarOf.dispatcher]}/metrics`)).text();
}

test('a spent schedule keeps the message as failed; retry-failed sends it again under the same webhook-id', {
  timeout: 60_000,
}, async (t) => {
  receiver.behave({ status: 500 });
  const made = { body: await endpointFor(t, { url: receiver.url, events: ['notification.failed'] }) };
  const id = made.body.id;
  const [notificationId] = await sendMany(stack, 1, ['nobody-for-retries']);
  const attempts = await waitFor(
    'the last attempt',
    async () => {
      const a = (await call('GET', `/webhooks/${id}/attempts`)).body.attempts;
      return a.some((x: any) => x.outcome === 'failed') ? a : undefined;
    },
    20_000,
    100,
  );
  assert.deepEqual(
    attempts.map((a: any) => [a.attempt, a.outcome, a.status, a.nextRetryAt === undefined]),
    [
      [3, 'failed', 500, true],
      [2, 'retrying', 500, false],
      [1, 'retrying', 500, false],
    ],
  );
  assert.equal(receiver.received.length, 3);
  assert.equal(new Set(receiver.received.map((r) => r.id)).size, 1, 'every attempt under one webhook-id');
  assert.equal(attempts[0].notificationId, notificationId);

  // The attempt is logged as it ends; the message's state is written a moment later.
  const row = await waitFor('the dashboard to show it failed', async () => {
    const panel = await call('GET', '/dashboard/api/webhooks');
    assert.equal(panel.status, 200, JSON.stringify(panel.body));
    const found = panel.body.endpoints.find((e: any) => e.id === id);
    return found.failed === 1 ? found : undefined;
  });
  assert.deepEqual([row.failed, row.backlog, row.recentAttempts, row.recentSucceeded], [1, 0, 3, 0]);
  assert.equal(row.lastFailures[0].status, 500);
  // The relay's thread reports attempts to the metrics a moment after it stores their outcome.
  const counted = (outcome: string, n: number) =>
    new RegExp(`pushflow_webhook_attempts_total\\{endpoint="${id}",outcome="${outcome}"[^}]*\\} ${n}\n`);
  await waitFor('the metrics to count the attempts', async () => (counted('http_error', 3).test(await metrics()) ? true : undefined));
  assert.match(await metrics(), new RegExp(`pushflow_webhook_failed_messages\\{endpoint="${id}"[^}]*\\} 1`));

  receiver.behave({ status: 204 });
  const retried = await call('POST', `/webhooks/${id}/retry-failed`);
  assert.deepEqual([retried.status, retried.body], [202, { messages: 1 }]);
  await waitFor('the message again', () => (receiver.received.length === 4 ? true : undefined), 10_000);
  assert.equal(receiver.received[3]!.id, receiver.received[0]!.id);
  verifyAll(receiver.received, made.body.secret);
  await waitFor('no failed message left', async () =>
    /pushflow_webhook_failed_messages\{[^}]*\} 0/.test(await metrics()) ? true : undefined,
  );
  await waitFor('the metrics to count the success', async () => (counted('succeeded', 1).test(await metrics()) ? true : undefined));
  assert.equal((await call('POST', `/webhooks/${id}/retry-failed`)).body.messages, 0);
  assert.equal((await call('DELETE', `/webhooks/${id}`)).status, 204);
});

test('an endpoint gets no event from before it was created or enabled again, even read late', { timeout: 90_000 }, async (t) => {
  receiver.behave({ status: 204 });
  const start = receiver.received.length;
  const replayFrom = await lastEventId(redis, stack);
  await allFailed(stack, await sendMany(stack, 2, ['nobody-before-created']));
  await relayCaughtUp(redis, stack);
  const made = await endpointFor(t, { url: receiver.url, events: ['notification.failed'] });
  assert.equal((await call('PATCH', `/webhooks/${made.id}`, { enabled: false })).status, 200);
  await allFailed(stack, await sendMany(stack, 5, ['nobody-while-disabled']));
  await relayCaughtUp(redis, stack);
  assert.equal(receiver.received.length, start, 'nothing while disabled');
  assert.equal((await call('PATCH', `/webhooks/${made.id}`, { enabled: true })).status, 200);
  // The relay reads all of it again, as if it had lagged: the endpoint is enabled now, and
  // only what was appended since it was enabled is for it.
  await redis.xgroup('SETID', makeKeys(stack.prefix).events(0), 'webhooks', replayFrom);
  const [later] = await sendMany(stack, 1, ['nobody-after']);
  await waitFor('the message after', () => receiver.received.slice(start).find((r) => r.body.includes(later!)), 10_000);
  await relayCaughtUp(redis, stack);
  const got = receiver.received.slice(start);
  assert.deepEqual(
    got.map((r) => JSON.parse(r.body).data.recipientId),
    ['nobody-after'],
  );
  verifyAll(got, made.secret);
});

test('after the overlap, only the new secret signs', { timeout: 60_000 }, async (t) => {
  receiver.behave({ status: 204 });
  const made = { body: await endpointFor(t, { url: receiver.url, events: ['notification.failed'] }) };
  const rotated = await call('POST', `/webhooks/${made.body.id}/rotate-secret`);
  assert.ok(Date.parse(rotated.body.previousSecretExpiresAt) - Date.now() <= 2000);
  await new Promise((r) => setTimeout(r, 2500));
  const start = receiver.received.length;
  await sendMany(stack, 1, ['nobody-after-overlap']);
  await waitFor('the message', () => (receiver.received.length > start ? true : undefined), 10_000);
  const m = receiver.received[start]!;
  assert.equal(m.signature.split(' ').length, 1, m.signature);
  verifyAll([m], rotated.body.secret);
  assert.throws(() => verifyAll([m], made.body.secret), /No matching signature/);
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});
