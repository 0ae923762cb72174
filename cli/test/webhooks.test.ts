import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { startReceiver, verifyAll, type Receiver } from '../../test/harness/webhook-receiver.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { runCli, startCli } from './run-cli.ts';

/** `pushflow webhooks ...`, the real binary against a real stack (its dispatcher lets webhooks reach loopback, as `make dev`'s does). */
let stack: Stack;
let receiver: Receiver;
let env: Record<string, string>;

before(async () => {
  receiver = await startReceiver();
  stack = await startStack({ env: { PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', PUSHFLOW_WEBHOOK_POLL_MS: '200' } });
  env = { PUSHFLOW_URL: stack.gatewayUrl, PUSHFLOW_API_KEY: stack.apiKey };
});
after(async () => {
  await stack?.stop();
  await receiver?.close();
});

const cli = (args: string[]) => runCli(args, env);

test('add, list, test, attempts, rm', { timeout: 60_000 }, async () => {
  const added = await cli(['webhooks', 'add', receiver.url, '--events', 'failed,acknowledged', '--json']);
  assert.equal(added.code, 0, added.stderr);
  const made = JSON.parse(added.stdout);
  assert.deepEqual(made.events, ['notification.failed', 'notification.acknowledged']);
  assert.match(made.secret, /^whsec_/);

  const listed = await cli(['webhooks', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${made.id} enabled ${receiver.url}`));
  assert.ok(!listed.stdout.includes(made.secret));

  const sent = await cli(['webhooks', 'test', made.id, '--json']);
  assert.equal(sent.code, 0, sent.stderr);
  const { messageId } = JSON.parse(sent.stdout);
  const m = await waitFor('the test message', () => receiver.received.find((r) => r.id === messageId));
  assert.equal((verifyAll([m], made.secret)[0] as any).type, 'webhook.test');

  const attempts = await waitFor('its attempt', async () => {
    const r = await cli(['webhooks', 'attempts', made.id]);
    return r.stdout.includes(messageId) ? r : undefined;
  });
  assert.match(attempts.stdout, /succeeded\s+#1 webhook\.test\s+HTTP 204/);

  assert.equal((await cli(['webhooks', 'rm', made.id])).code, 0);
  const gone = await cli(['webhooks', 'rm', made.id]);
  assert.equal(gone.code, 4, gone.stderr);
  assert.equal((await cli(['webhooks', 'frobnicate'])).code, 1);
  assert.equal((await cli(['webhooks', 'add', receiver.url, '--events', 'sent'])).code, 1);
});

test('listen: registers itself, verifies and prints each event, removes itself on exit', { timeout: 60_000 }, async () => {
  const listener = startCli(['webhooks', 'listen', '--events', 'accepted,failed', '--count', '2', '--json'], env);
  await waitFor('listening', () => (listener.stderrLines.some((l) => l.startsWith('listening on')) ? true : undefined), 20_000);
  const res = await fetch(`${stack.gatewayUrl}/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipientId: 'nobody-here', title: 'hi' }),
  });
  const { notificationId } = (await res.json()) as { notificationId: string };
  const code = await Promise.race([listener.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
  assert.equal(code, 0, listener.stderrLines.join('\n'));
  const printed = listener.stdoutLines.map((l) => JSON.parse(l));
  assert.deepEqual(
    printed.map((p) => [p.type, p.data.notificationId]),
    [
      ['notification.accepted', notificationId],
      ['notification.failed', notificationId],
    ],
  );
  assert.match(printed[0].webhookId, /^msg_/);
  const left = await cli(['webhooks', 'list', '--json']);
  assert.deepEqual(JSON.parse(left.stdout).webhooks, [], 'the endpoint it registered is gone');
});
