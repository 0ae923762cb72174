import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { makeKeys } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { type CliStack, type RunningCli, runCli, startCli, startCliStack } from './run-cli.ts';

/** `pushflow listen`, the real binary, as the client of a real stack's delivery node. */
let cliStack: CliStack;
let stack: Stack;
let redis: Redis;
let env: Record<string, string>;

before(async () => {
  cliStack = await startCliStack();
  ({ stack, redis, env } = cliStack);
});

after(() => cliStack?.stop());

const cli = (args: string[]) => runCli(args, env);

async function tokenFor(recipientId: string): Promise<string> {
  const r = await cli(['token', recipientId]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** Starts `pushflow listen` for `recipientId` and waits until routing can see it. */
async function listening(recipientId: string, ...args: string[]): Promise<RunningCli> {
  const running = startCli(['listen', '--url', stack.deliveryUrls[0]!, '--token', await tokenFor(recipientId), ...args], env);
  const presence = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(`pushflow listen connected as ${recipientId}`, async () =>
    running.stderrLines.some((l) => l.startsWith(`listening as ${recipientId} on `)) &&
    Number(await redis.hget(presence, stack.nodeIds[0]!)) > 0
      ? true
      : undefined,
  );
  return running;
}

async function send(recipientId: string, title: string): Promise<string> {
  const r = await cli(['send', recipientId, '--title', title, '--body', 'Welcome', '--data', '{"orderId":42}', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).notificationId;
}

async function statusOf(id: string, wait: string): Promise<{ status: string; history: { status: string }[] }> {
  const r = await cli(['status', id, '--wait', wait, '--timeout', '10', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Bounds a test's wait for the command to exit. */
function exitCode(running: RunningCli, timeoutMs = 15_000): Promise<number | null> {
  return Promise.race([
    running.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => {
        running.child.kill('SIGKILL');
        reject(new Error(`pushflow listen still running after ${timeoutMs} ms:\n${running.stderrLines.join('\n')}`));
      }, timeoutMs).unref(),
    ),
  ]);
}

test('a bad token: the node closes with 4001 "token invalid", listen exits 2 naming both', async () => {
  const r = await runCli(['listen', '--url', stack.deliveryUrls[0]!, '--token', 'not.a-token.at-all'], {}, 15_000);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /error CLOSED: the delivery node closed the connection with 4001 "token invalid"/);
});

test('--count 1 --json prints the frame, acks it and exits 0: the status is ACKNOWLEDGED', async () => {
  const running = await listening('listen-count', '--count', '1', '--json');
  const id = await send('listen-count', 'Hi');
  assert.equal(await exitCode(running), 0, running.stderrLines.join('\n'));
  assert.equal(running.stdoutLines.length, 1);
  const frame = JSON.parse(running.stdoutLines[0]!);
  assert.deepEqual(
    { ...frame, acceptedAt: typeof frame.acceptedAt },
    { type: 'notification', notificationId: id, title: 'Hi', body: 'Welcome', data: { orderId: 42 }, acceptedAt: 'string' },
  );
  const doc = await statusOf(id, 'ACKNOWLEDGED');
  assert.equal(doc.status, 'ACKNOWLEDGED');
  assert.deepEqual(
    doc.history.map((h) => h.status),
    ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED'],
  );
});

test('--no-ack leaves it DELIVERED; --timeout exits 5 when --count has not come; a human line names the notification', async () => {
  const running = await listening('listen-noack', '--no-ack', '--count', '2', '--timeout', '3');
  const id = await send('listen-noack', 'Only one');
  await waitFor('the printed line', () => (running.stdoutLines.length > 0 ? true : undefined));
  assert.match(running.stdoutLines[0]!, new RegExp(`^\\S+ ${id} "Only one" Welcome \\{"orderId":42\\}$`));
  assert.equal(await exitCode(running), 5);
  assert.ok(
    running.stderrLines.some((l) => l.includes('error WAIT_TIMEOUT: listen: 1 of 2 notifications after 3 s')),
    running.stderrLines.join('\n'),
  );
  const doc = await statusOf(id, 'DELIVERED');
  assert.equal(doc.status, 'DELIVERED');
});

test('SIGTERM stops it with exit 0', async () => {
  const running = await listening('listen-stop');
  running.child.kill('SIGTERM');
  assert.equal(await exitCode(running), 0, running.stderrLines.join('\n'));
});
