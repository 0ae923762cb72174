import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { createPushFlow, PushFlowApiError, verifyWebhook, WebhookVerificationError, type PushFlow } from '../src/index.ts';

/**
 * The webhook endpoint calls against a real stack whose dispatcher may post to loopback, and
 * verifyWebhook on the messages that dispatcher really sends, read the way a receiver reads
 * them (Node's req.headers and the raw body). Retries are 300 ms apart, so a message fails
 * for good within a second.
 */
interface Message {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let stack: Stack;
let pushflow: PushFlow;
let receiver: Server;
let hookUrl: string;
let answerWith = 204;
const messages: Message[] = [];

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      messages.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answerWith).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  stack = await startStack({
    env: { PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', PUSHFLOW_WEBHOOK_POLL_MS: '100', PUSHFLOW_WEBHOOK_RETRY_SCHEDULE: '300ms,300ms' },
  });
  pushflow = createPushFlow({ url: stack.gatewayUrl, apiKey: stack.apiKey });
});
after(async () => {
  await stack?.stop();
  receiver?.close();
});

const withId = (id: string) => () => messages.find((m) => m.headers['webhook-id'] === id);

test('create, list, get, update; test messages verified with verifyWebhook; delete', { timeout: 60_000 }, async () => {
  const made = await pushflow.createWebhook({ url: hookUrl, description: 'orders' });
  assert.deepEqual(Object.keys(made).sort(), ['createdAt', 'description', 'enabled', 'events', 'id', 'secret', 'updatedAt', 'url']);
  assert.match(made.secret, /^whsec_/);
  assert.deepEqual(made.events, ['notification.delivered', 'notification.acknowledged', 'notification.failed']);

  const listed = await pushflow.listWebhooks();
  assert.deepEqual(
    listed.map((w) => [w.id, 'secret' in w]),
    [[made.id, false]],
  );
  assert.equal((await pushflow.getWebhook(made.id)).description, 'orders');
  const changed = await pushflow.updateWebhook(made.id, { events: ['notification.failed'], description: 'failures' });
  assert.deepEqual([changed.events, changed.description, changed.enabled], [['notification.failed'], 'failures', true]);

  const { messageId } = await pushflow.testWebhook(made.id);
  const message = await waitFor('the test message', withId(messageId));
  const event = verifyWebhook(message.headers, message.body, made.secret);
  assert.equal(event.type, 'webhook.test');
  const other = `whsec_${Buffer.from('not the secret of this endpoint!').toString('base64')}`;
  assert.throws(
    () => verifyWebhook(message.headers, message.body, other),
    (e: unknown) => e instanceof WebhookVerificationError && e.code === 'webhook-signature-invalid',
  );

  // A real event: a notification to nobody fails at once.
  const { notificationId } = await pushflow.send({ recipientId: 'nobody-online' });
  const failed = await waitFor('the failed event', () =>
    messages.find((m) => m.body.includes(notificationId) && m.body.includes('notification.failed')),
  );
  const failure = verifyWebhook(failed.headers, failed.body.toString('utf8'), made.secret);
  assert.deepEqual(
    [failure.type, failure.data.notificationId, failure.data.reason],
    ['notification.failed', notificationId, 'RECIPIENT_OFFLINE'],
  );

  const attempts = await waitFor('the attempt recorded', async () => {
    const all = await pushflow.webhookAttempts(made.id, { limit: 10 });
    return all.some((a) => a.messageId === messageId) ? all : undefined;
  });
  const attempt = attempts.find((a) => a.messageId === messageId)!;
  assert.deepEqual([attempt.outcome, attempt.status, attempt.attempt, attempt.event], ['succeeded', 204, 1, 'webhook.test']);

  await pushflow.deleteWebhook(made.id);
  for (const call of [pushflow.getWebhook(made.id), pushflow.deleteWebhook(made.id)]) {
    const err = await call.catch((e) => e);
    assert.ok(err instanceof PushFlowApiError && err.code === 'not-found', String(err));
  }
});

test('rotateWebhookSecret: messages verify with the new secret and, meanwhile, the old one', { timeout: 60_000 }, async () => {
  const made = await pushflow.createWebhook({ url: hookUrl });
  const rotated = await pushflow.rotateWebhookSecret(made.id);
  assert.equal(rotated.id, made.id);
  assert.notEqual(rotated.secret, made.secret);
  assert.ok(Date.parse(rotated.previousSecretExpiresAt) > Date.now());
  const { messageId } = await pushflow.testWebhook(made.id);
  const message = await waitFor('the test message', withId(messageId));
  assert.equal(String(message.headers['webhook-signature']).split(' ').length, 2);
  for (const secret of [rotated.secret, made.secret, [made.secret, rotated.secret]]) {
    assert.equal(verifyWebhook(message.headers, message.body, secret).type, 'webhook.test');
  }
  await pushflow.deleteWebhook(made.id);
});

test('retryFailedWebhooks sends a message again once its schedule is spent', { timeout: 60_000 }, async () => {
  const made = await pushflow.createWebhook({ url: hookUrl });
  answerWith = 500;
  const { messageId } = await pushflow.testWebhook(made.id);
  await waitFor('the message to fail for good', async () =>
    (await pushflow.webhookAttempts(made.id)).some((a) => a.messageId === messageId && a.outcome === 'failed') ? true : undefined,
  );
  assert.equal(messages.filter((m) => m.headers['webhook-id'] === messageId).length, 3);
  answerWith = 204;
  assert.deepEqual(await pushflow.retryFailedWebhooks(made.id), { messages: 1 });
  await waitFor('the message to succeed', async () =>
    (await pushflow.webhookAttempts(made.id)).some((a) => a.messageId === messageId && a.outcome === 'succeeded') ? true : undefined,
  );
  const last = messages.filter((m) => m.headers['webhook-id'] === messageId).at(-1)!;
  assert.equal(verifyWebhook(last.headers, last.body, made.secret).type, 'webhook.test');
  assert.deepEqual(await pushflow.retryFailedWebhooks(made.id), { messages: 0 });
  await pushflow.deleteWebhook(made.id);
});
