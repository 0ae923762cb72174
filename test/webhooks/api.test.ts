import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { freePort } from '../../local-stack/servers.ts';
import { root } from '../../local-stack/stack.ts';
import { Webhook } from 'standardwebhooks';
import WebSocket from 'ws';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { startReceiver, verifyAll, type Receiver } from '../harness/webhook-receiver.ts';
import { waitFor } from '../harness/wait.ts';
import { callerOf, sendMany } from './support.ts';

/**
 * The webhooks API and the messages it sets off, against the three services as processes
 * on real Redis and a MongoDB-protocol server: CRUD and validation, every message checked
 * with the standardwebhooks package, rotation, test messages, the SSRF guard.
 */
let stack: Stack;
let receiver: Receiver;
const call = callerOf(() => stack);

before(async () => {
  receiver = await startReceiver();
  stack = await startStack({ env: { PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', PUSHFLOW_WEBHOOK_POLL_MS: '200' } });
});
after(async () => {
  await stack?.stop();
  await receiver?.close();
});

test('create, read, change and delete an endpoint; the secret only in the create answer', { timeout: 60_000 }, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url, description: 'crud' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.match(made.body.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
  assert.deepEqual(made.body.events, ['notification.delivered', 'notification.acknowledged', 'notification.failed']);
  assert.equal(made.body.enabled, true);
  const id = made.body.id;

  const one = await call('GET', `/webhooks/${id}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.secret, undefined);
  assert.equal(one.body.description, 'crud');
  const all = await call('GET', '/webhooks');
  assert.ok(all.body.webhooks.some((w: any) => w.id === id));
  assert.ok(all.body.webhooks.every((w: any) => w.secret === undefined));
  assert.ok(!JSON.stringify(all.body).includes(made.body.secret));

  const changed = await call('PATCH', `/webhooks/${id}`, { events: ['notification.failed'], enabled: false, description: 'changed' });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.deepEqual(changed.body.events, ['notification.failed']);
  assert.equal(changed.body.enabled, false);

  assert.equal((await call('DELETE', `/webhooks/${id}`)).status, 204);
  const gone = await call('GET', `/webhooks/${id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.type, 'urn:pushflow:problem:not-found');
  assert.equal((await call('DELETE', `/webhooks/${id}`)).status, 404);
  // A URL may carry a password of the receiver's: neither it nor the secret reaches a log line.
  const withPassword = await call('POST', '/webhooks', { url: receiver.url.replace('http://', 'http://hook-user:hook-pass-s3cret@') });
  assert.equal(withPassword.status, 201);
  assert.equal((await call('DELETE', `/webhooks/${withPassword.body.id}`)).status, 204);
  for (const s of stack.services) {
    assert.ok(!s.lines.some((l) => l.includes(made.body.secret) || l.includes(withPassword.body.secret)), `${s.name} logged a secret`);
    assert.ok(!s.lines.some((l) => l.includes('hook-pass-s3cret')), `${s.name} logged a URL's password`);
  }
  assert.ok(
    stack.service('dispatcher').lines.some((l) => l.includes(withPassword.body.id) && l.includes('<redacted>@')),
    'the create was logged, its URL without the password',
  );
});

test('validation: problem+json, nothing created', { timeout: 60_000 }, async () => {
  const before = (await call('GET', '/webhooks')).body.webhooks.length;
  const bad: [unknown, string][] = [
    [{ url: 'ftp://example.com/x' }, '/body/url'],
    [{ url: 'http://' }, '/body/url'],
    [{ url: receiver.url, events: ['notification.sent'] }, '/body/events/0'],
    [{ url: receiver.url, events: [] }, '/body/events'],
    [{ url: receiver.url, secret: 'mine' }, '/body/secret'],
    [{}, '/body/url'],
  ];
  for (const [body, path] of bad) {
    const res = await call('POST', '/webhooks', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.type, /application\/problem\+json/);
    assert.equal(res.body.type, 'urn:pushflow:problem:validation-failed');
    assert.ok(
      res.body.errors.some((e: any) => e.path.startsWith(path)),
      `${JSON.stringify(body)}: ${JSON.stringify(res.body.errors)}`,
    );
  }
  assert.equal((await call('GET', '/webhooks/not-an-id')).status, 400);
  assert.equal((await call('PATCH', '/webhooks/0190a8c4-1111-7000-8000-000000000000', {})).status, 400);
  assert.equal((await call('GET', '/webhooks', undefined, 'not-a-key-0123456789')).status, 401);
  assert.equal((await call('GET', '/webhooks')).body.webhooks.length, before);
});

test('every message verifies with standardwebhooks and reports its notification', { timeout: 60_000 }, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url, events: ['notification.accepted', 'notification.failed'] });
  assert.equal(made.status, 201);
  const start = receiver.received.length;
  const ids = await sendMany(stack, 50, ['nobody-online-1', 'nobody-online-2']);
  // Each offline send is accepted, then fails RECIPIENT_OFFLINE: two messages each.
  await waitFor('100 messages', () => (receiver.received.length - start >= 100 ? true : undefined), 20_000);
  await new Promise((r) => setTimeout(r, 300));
  const got = receiver.received.slice(start);
  const bodies = verifyAll(got, made.body.secret) as any[];
  assert.equal(got.length, 100, 'one message per event, no more');
  assert.equal(new Set(got.map((m) => m.id)).size, 100, 'each event its own webhook-id');
  for (const id of ids) {
    const mine = bodies.filter((b) => b.data.notificationId === id);
    assert.deepEqual(
      mine.map((b) => b.type),
      ['notification.accepted', 'notification.failed'],
      `ledger order for ${id}`,
    );
    const failed = mine[1];
    assert.equal(failed.data.status, 'FAILED');
    assert.equal(failed.data.reason, 'RECIPIENT_OFFLINE');
    assert.match(failed.data.recipientId, /^nobody-online-/);
    assert.ok(!Number.isNaN(Date.parse(failed.timestamp)) && !Number.isNaN(Date.parse(failed.data.at)));
  }
  const attempts = await call('GET', `/webhooks/${made.body.id}/attempts?limit=5`);
  assert.equal(attempts.status, 200);
  assert.equal(attempts.body.attempts.length, 5);
  assert.equal(attempts.body.attempts[0].outcome, 'succeeded');
  assert.equal(attempts.body.attempts[0].status, 204);
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});

test('rotation: during the overlap each message carries both signatures, and each verifies', { timeout: 60_000 }, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url, events: ['notification.failed'] });
  const rotated = await call('POST', `/webhooks/${made.body.id}/rotate-secret`);
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.notEqual(rotated.body.secret, made.body.secret);
  const overlap = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
  assert.ok(overlap > 23 * 3600_000 && overlap <= 24 * 3600_000, `overlap ${overlap} ms`);
  const start = receiver.received.length;
  await sendMany(stack, 5, ['nobody-online-3']);
  await waitFor('5 messages', () => (receiver.received.length - start >= 5 ? true : undefined), 20_000);
  const got = receiver.received.slice(start);
  for (const m of got) assert.equal(m.signature.split(' ').length, 2, m.signature);
  verifyAll(got, made.body.secret);
  verifyAll(got, rotated.body.secret);
  assert.throws(() => verifyAll(got, `whsec_${Buffer.alloc(32, 7).toString('base64')}`), /No matching signature/);
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});

test('POST /webhooks/:id/test sends a signed webhook.test', { timeout: 60_000 }, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url });
  const sent = await call('POST', `/webhooks/${made.body.id}/test`);
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const m = await waitFor('the test message', () => receiver.received.find((r) => r.id === sent.body.messageId), 10_000);
  const [body] = verifyAll([m], made.body.secret) as any[];
  assert.equal(body.type, 'webhook.test');
  assert.equal((await call('POST', '/webhooks/0190a8c4-1111-7000-8000-000000000000/test')).status, 404);
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});

test("the README's receiver verifies PushFlow's messages, refuses a forged one, prints a retry once", { timeout: 60_000 }, async () => {
  const block = /^<!-- webhook-receiver -->\n```js\n([\s\S]*?)^```$/m.exec(readFileSync(join(root, 'README.md'), 'utf8'));
  assert.ok(block, 'README.md has a ```js block right after <!-- webhook-receiver -->');
  // Inside the repository, so that its import of standardwebhooks resolves as in an application.
  const dir = join(root, 'test-output', `readme-receiver-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'receiver.mjs'), block[1]!);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const made = await call('POST', '/webhooks', { url, events: ['notification.failed'] });
  assert.equal(made.status, 201);
  const child = spawn(process.execPath, [join(dir, 'receiver.mjs')], {
    env: { ...process.env, PORT: String(port), PUSHFLOW_WEBHOOK_SECRET: made.body.secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  try {
    await waitFor('the receiver listening', async () => (await fetch(url, { method: 'POST', body: '{}' }).catch(() => undefined))?.status);
    const forged = await fetch(url, {
      method: 'POST',
      headers: { 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' },
      body: '{"type":"notification.failed","data":{}}',
    });
    assert.equal(forged.status, 401);
    const [id] = await sendMany(stack, 1, ['nobody-online-readme']);
    await waitFor('its line', () => lines.find((l) => l.includes(id!)), 15_000);
    assert.equal(
      lines.find((l) => l.includes(id!)),
      `notification.failed ${id} nobody-online-readme FAILED RECIPIENT_OFFLINE`,
    );
    // The same message again (a retry carries the same webhook-id): answered 2xx, not printed again.
    const [last] = (await call('GET', `/webhooks/${made.body.id}/attempts?limit=1`)).body.attempts;
    assert.equal(last.status, 204);
    const body = JSON.stringify({ type: 'notification.failed', timestamp: new Date().toISOString(), data: { notificationId: id } });
    const at = new Date();
    const retried = await fetch(url, {
      method: 'POST',
      headers: {
        'webhook-id': last.messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': new Webhook(made.body.secret).sign(last.messageId, at, body),
      },
      body,
    });
    assert.equal(retried.status, 204);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lines.filter((l) => l.includes(id!)).length, 1);
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
    await call('DELETE', `/webhooks/${made.body.id}`);
  }
});

test('an online recipient who acks: delivered then acknowledged, with the recipient and the node', { timeout: 60_000 }, async () => {
  const made = await call('POST', '/webhooks', { url: receiver.url });
  assert.equal(made.status, 201);
  const token = (await call('POST', '/connect-tokens', { recipientId: 'online-wh', ttlSeconds: 600 })).body.token;
  const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(token)}`);
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string; notificationId: string };
    if (frame.type === 'notification') ws.send(JSON.stringify({ type: 'ack', notificationId: frame.notificationId }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  try {
    // Routable once the node has recorded presence: until then a send fails RECIPIENT_OFFLINE.
    const id = await waitFor('a delivered notification', async () => {
      const [sent] = await sendMany(stack, 1, ['online-wh']);
      const status = (await waitFor('its outcome', async () => {
        const s = (await call('GET', `/notifications/${sent}/status`)).body;
        return ['DELIVERED', 'ACKNOWLEDGED', 'FAILED'].includes(s?.status) ? s.status : undefined;
      })) as string;
      return status === 'FAILED' ? undefined : sent;
    });
    // Other tests' endpoints had other secrets: verify only this notification's messages.
    const mine = () =>
      verifyAll(
        receiver.received.filter((r) => r.body.includes(id!)),
        made.body.secret,
      ) as any[];
    const got = await waitFor('delivered and acknowledged', () => (mine().length >= 2 ? mine() : undefined), 15_000);
    assert.deepEqual(
      got.map((b) => [b.type, b.data.status, b.data.recipientId, b.data.nodeId]),
      [
        ['notification.delivered', 'DELIVERED', 'online-wh', stack.nodeIds[0]],
        ['notification.acknowledged', 'ACKNOWLEDGED', 'online-wh', stack.nodeIds[0]],
      ],
    );
  } finally {
    ws.close();
    await call('DELETE', `/webhooks/${made.body.id}`);
  }
});
