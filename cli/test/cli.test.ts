import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Redis } from 'ioredis';
import { encodeEntry, makeKeys } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { type CliStack, runCli, startCli, startCliStack } from './run-cli.ts';

/**
 * The real `pushflow` binary (node_modules/.bin/pushflow, as `npx pushflow` runs it) against
 * a real stack: Redis, a MongoDB-protocol server and the three services as processes.
 */
let cliStack: CliStack;
let stack: Stack;
let redis: Redis;
let env: Record<string, string>;

before(async () => {
  cliStack = await startCliStack();
  ({ stack, redis, env } = cliStack);
});

after(() => cliStack?.stop());

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });

/** A WebSocket client of `recipientId`, connected with `token` and visible to routing. */
async function connect(recipientId: string, token: string): Promise<{ ws: WebSocket; frames: any[] }> {
  const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(token)}`);
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed with ${code}`)));
  });
  const presence = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(`presence of ${recipientId}`, async () => (Number(await redis.hget(presence, stack.nodeIds[0]!)) > 0 ? true : undefined));
  return { ws, frames };
}

async function sendJson(recipientId: string, ...args: string[]): Promise<{ notificationId: string; status: string; acceptedAt: string }> {
  const r = await cli(['send', recipientId, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('send --json prints the accepted notification; human output names it', async () => {
  const sent = await sendJson('cli-send', '--title', 'Hi', '--body', 'Welcome', '--data', '{"orderId":42}');
  assert.match(sent.notificationId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
  assert.equal(sent.status, 'ACCEPTED');
  const human = await cli(['send', 'cli-send']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^ACCEPTED [0-9a-f-]{36} to cli-send at \S+\n$/);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: it looks for ANSI colour escapes
  assert.doesNotMatch(human.stdout, /\u001b\[/, 'no colours when stdout is not a terminal');
});

test('send --idempotency-key twice makes one notification', async () => {
  const key = randomUUID();
  const a = await sendJson('cli-idem', '--title', 'once', '--idempotency-key', key);
  const b = await sendJson('cli-idem', '--title', 'once', '--idempotency-key', key);
  assert.equal(b.notificationId, a.notificationId);
});

test('send --batch sends a JSON Lines file in chunks, one line per notification in file order; the same key again sends nothing twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-cli-'));
  try {
    const notifications = Array.from({ length: 7 }, (_, i) =>
      JSON.stringify({ recipientId: `cli-batch-${i}`, title: `#${i}`, data: { i } }),
    );
    const file = join(dir, 'batch.jsonl');
    writeFileSync(file, `${notifications.slice(0, 4).join('\n')}\n\n${notifications.slice(4).join('\n')}\n`);
    const key = randomUUID();
    const r = await cli(['send', '--batch', file, '--batch-size', '3', '--idempotency-key', key, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const sent = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(sent.length, 7);
    assert.ok(sent.every((a) => a.status === 'ACCEPTED' && /^[0-9a-f]{8}-[0-9a-f]{4}-7/.test(a.notificationId)));
    assert.equal(new Set(sent.map((a) => a.notificationId)).size, 7);
    // Printed in file order: the sixth line printed is the notification to cli-batch-5.
    const status = await cli(['status', sent[5].notificationId, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).recipientId, 'cli-batch-5');

    const again = await cli(['send', '--batch', file, '--batch-size', '3', '--idempotency-key', key, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      again.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).notificationId),
      sent.map((a) => a.notificationId),
    );

    const human = await cli(['send', '--batch', file]);
    assert.equal(human.code, 0, human.stderr);
    const printed = human.stdout.trim().split('\n');
    assert.equal(printed.length, 7);
    printed.forEach((line, i) => {
      assert.match(line, new RegExp(`^ACCEPTED [0-9a-f-]{36} to cli-batch-${i} at \\S+$`));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('send --batch stops at a chunk the API refuses, naming its line and what was sent before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-cli-'));
  try {
    const file = join(dir, 'bad.jsonl');
    const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ recipientId: i === 4 ? 'not valid' : `cli-batch-${i}` }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await cli(['send', '--batch', file, '--batch-size', '3']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 3, 'the first chunk was sent and printed');
    assert.match(
      r.stderr,
      /error urn:pushflow:problem:validation-failed: line 5: POST \/notifications\/batch answered 400: body\/notifications\/1\/recipientId .*; the 3 notifications before were sent/,
    );
    const json = await cli(['send', '--batch', file, '--batch-size', '10', '--json']);
    assert.equal(json.code, 2);
    assert.equal(json.stdout, '');
    const { error } = JSON.parse(json.stderr);
    assert.equal(error.line, 5);
    assert.equal(error.sent, 0);
    assert.equal(error.status, 400);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status --wait DELIVERED returns once a connected client got it; --wait ACKNOWLEDGED times out with 5', async () => {
  const minted = await cli(['token', 'cli-wait', '--ttl', '600']);
  assert.equal(minted.code, 0, minted.stderr);
  const client = await connect('cli-wait', minted.stdout.trim());
  try {
    const sent = await sendJson('cli-wait', '--title', 'wait for me');
    const r = await cli(['status', sent.notificationId, '--wait', 'DELIVERED', '--timeout', '15', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.status, 'DELIVERED');
    assert.equal(doc.recipientId, 'cli-wait');
    assert.deepEqual(
      doc.history.map((h: { status: string }) => h.status),
      ['ACCEPTED', 'DISPATCHED', 'DELIVERED'],
    );
    assert.ok(
      client.frames.some((f) => f.notificationId === sent.notificationId),
      'the client got the frame',
    );

    const human = await cli(['status', sent.notificationId]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^${sent.notificationId} DELIVERED\\n  recipient  cli-wait\\n`));
    assert.match(human.stdout, /DELIVERED +on delivery-1/);

    // Never acked: still DELIVERED when the wait gives up; the last status is printed anyway.
    const timedOut = await cli(['status', sent.notificationId, '--wait', 'ACKNOWLEDGED', '--timeout', '1']);
    assert.equal(timedOut.code, 5, timedOut.stderr);
    assert.match(timedOut.stderr, /error WAIT_TIMEOUT: .* still DELIVERED after 1 s/);
    assert.match(timedOut.stdout, /DELIVERED/);
  } finally {
    client.ws.close();
  }
});

test('status --wait DELIVERED of a notification that FAILED exits 6', async () => {
  const sent = await sendJson('cli-nobody-home');
  const r = await cli(['status', sent.notificationId, '--wait', 'DELIVERED', '--timeout', '15', '--json']);
  assert.equal(r.code, 6, r.stderr);
  assert.equal(JSON.parse(r.stdout).reason, 'RECIPIENT_OFFLINE');
  assert.equal(JSON.parse(r.stderr).error.code, 'WAIT_OTHER_OUTCOME');
});

test('status of an unknown id exits 4 with the not-found problem type', async () => {
  const r = await cli(['status', randomUUID()]);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /error urn:pushflow:problem:not-found: GET \/notifications\/[0-9a-f-]+\/status answered 404/);
});

test('a bad API key exits 2 with the unauthorized problem type', async () => {
  const r = await cli(['send', 'cli-send', '--json'], { PUSHFLOW_API_KEY: 'not-a-key-of-this-gateway' });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const { error } = JSON.parse(r.stderr);
  assert.equal(error.code, 'urn:pushflow:problem:unauthorized');
  assert.equal(error.type, 'urn:pushflow:problem:unauthorized');
  assert.equal(error.status, 401);
});

test('a request the API refuses as invalid exits 2 and names the field', async () => {
  const r = await cli(['send', 'cli-send', '--title', 'x'.repeat(300)]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /error urn:pushflow:problem:validation-failed: POST \/notifications answered 400: body\/title /);
});

test('an API error is printed once, in words, with its stable code', async () => {
  const key = await cli(['send', 'cli-send'], { PUSHFLOW_API_KEY: 'not-a-key-of-this-gateway' });
  assert.equal(key.code, 2, key.stderr);
  assert.equal(
    key.stderr,
    'pushflow: error urn:pushflow:problem:unauthorized: POST /notifications answered 401: The API key is not valid\n',
  );
  for (const id of ['abc', '01a20e56-1b2c']) {
    const r = await cli(['status', id]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `pushflow: error urn:pushflow:problem:validation-failed: GET /notifications/${id}/status answered 400: params/id is not a notification id (a UUID)\n`,
    );
    const json = await cli(['status', id, '--json']);
    const { error } = JSON.parse(json.stderr);
    assert.equal(error.message, `GET /notifications/${id}/status answered 400: params/id is not a notification id (a UUID)`);
    assert.deepEqual(error.errors, [{ path: '/params/id', message: 'is not a notification id (a UUID)' }]);
  }
});

test('token --local signs a token the delivery node accepts', async () => {
  const r = await cli(['token', 'cli-local', '--local', '--ttl', '120'], { PUSHFLOW_CONNECT_SECRET: stack.connectSecret });
  assert.equal(r.code, 0, r.stderr);
  const client = await connect('cli-local', r.stdout.trim());
  try {
    const sent = await sendJson('cli-local', '--title', 'signed here');
    await waitFor('the frame', async () => client.frames.find((f) => f.notificationId === sent.notificationId));
  } finally {
    client.ws.close();
  }
  // Signed with another secret, the node refuses it (4001): the secret is what counts.
  const wrong = await cli(['token', 'cli-local', '--local'], { PUSHFLOW_CONNECT_SECRET: 'y'.repeat(40) });
  const refused = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(wrong.stdout.trim())}`);
  const [code] = await new Promise<[number]>((resolve) => refused.once('close', (c) => resolve([c])));
  assert.equal(code, 4001);
});

test('watch prints the events of a send as they happen and exits 0 on SIGINT', async () => {
  const minted = await cli(['token', 'cli-watch', '--ttl', '600']);
  const client = await connect('cli-watch', minted.stdout.trim());
  const json = startCli(['watch', '--recipient', 'cli-watch', '--json'], env);
  const human = startCli(['watch', '--recipient', 'cli-watch'], env);
  try {
    for (const w of [json, human])
      await waitFor('watch to start', async () => (w.stderrLines.some((l) => l.startsWith('watching ')) ? true : undefined), 15_000);
    await sendJson('cli-other', '--title', 'not for cli-watch');
    const sent = await sendJson('cli-watch', '--title', 'watched');
    const types = await waitFor('accepted, dispatched and delivered', async () => {
      const events = json.stdoutLines.map((l) => JSON.parse(l));
      const t = events.map((e) => e.type);
      return t.includes('notification.delivered') ? events : undefined;
    });
    assert.deepEqual(
      types.map((e) => e.type),
      ['notification.accepted', 'notification.dispatched', 'notification.delivered'],
    );
    assert.ok(
      types.every((e) => e.notificationId === sent.notificationId),
      "only cli-watch's notification",
    );
    assert.match(types[0].id, /^\d+-\d+$/);
    await waitFor('human lines', async () => (human.stdoutLines.length >= 3 ? true : undefined));
    assert.match(human.stdoutLines[0]!, new RegExp(`^\\S+Z accepted +${sent.notificationId} to cli-watch "watched"$`));
    assert.match(human.stdoutLines[1]!, new RegExp(`^\\S+Z dispatched +${sent.notificationId} to delivery-1$`));
    assert.match(human.stdoutLines[2]!, /delivered +\S+ on delivery-1 \(1 connection\)$/);
  } finally {
    json.child.kill('SIGINT');
    human.child.kill('SIGINT');
    client.ws.close();
  }
  assert.equal(await json.exited, 0, json.stderrLines.join('\n'));
  assert.equal(await human.exited, 0, human.stderrLines.join('\n'));
});

test('watch follows every partition of a partitioned ledger, as many as Redis recorded', async () => {
  const prefix = `cli-partitioned-${randomUUID().slice(0, 8)}:`;
  const keys = makeKeys(prefix, 8);
  await redis.set(keys.partitionCount, '8');
  const watch = startCli(['watch', '--json', '--from', '0', '--prefix', prefix], env);
  try {
    await waitFor(
      'watch to start',
      async () => (watch.stderrLines.some((l) => l.startsWith('watching 8 partitions')) ? true : undefined),
      15_000,
    );
    const ids = Array.from({ length: 24 }, (_, i) => `cli-p-${i}`);
    for (const notificationId of ids) {
      await redis.xadd(
        keys.eventsOf(notificationId),
        '*',
        ...encodeEntry({ type: 'notification.failed', notificationId, at: Date.now(), reason: 'RECIPIENT_OFFLINE' }),
      );
    }
    const printed = await waitFor('every event', async () =>
      watch.stdoutLines.length >= ids.length ? watch.stdoutLines.map((l) => JSON.parse(l)) : undefined,
    );
    assert.deepEqual(printed.map((e) => e.notificationId).sort(), [...ids].sort());
    assert.ok(new Set(ids.map((id) => keys.partitionOf(id))).size > 4, 'the ids spread over the partitions');
  } finally {
    watch.child.kill('SIGINT');
  }
  assert.equal(await watch.exited, 0, watch.stderrLines.join('\n'));
});

test('replay runs the ledger replay with its options and prints its summary', async () => {
  await sendJson('cli-replay');
  const r = await cli(['replay', '--collection', `cli_replay_${Date.now()}`, '--json'], { MONGO_URL: stack.mongoUrl });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.ok(summary.events > 0, r.stdout);
  assert.ok(summary.documents > 0, r.stdout);
});
