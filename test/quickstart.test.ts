import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, startStack, type Stack } from '../local-stack/stack.ts';
import { cliEnv } from '../cli/test/run-cli.ts';
import { waitFor } from './harness/wait.ts';

/**
 * The README's "Send your first notification" block, run as a reader pastes it, against a
 * real stack: only the values of its KEY=, API= and WS= lines are changed, to this stack's.
 * Any command of the block that breaks fails this test.
 */
const BLOCK_TIMEOUT_MS = 60_000;

let stack: Stack;
let tmp: string;

before(async () => {
  stack = await startStack();
  tmp = mkdtempSync(join(tmpdir(), 'pushflow-quickstart-'));
});

after(async () => {
  await stack?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The ```sh block on the line after `<!-- quickstart -->`. */
function quickstartBlock(readme: string): string {
  const match = /^<!-- quickstart -->\n```sh\n([\s\S]*?)^```$/m.exec(readme);
  assert.ok(match, 'README.md has a ```sh block right after <!-- quickstart -->');
  return match[1]!;
}

/** Replaces the value of the one `NAME=` line of the block. */
function setVariable(block: string, name: string, value: string): string {
  const line = new RegExp(`^${name}=.*$`, 'm');
  assert.equal(block.match(new RegExp(line, 'gm'))?.length, 1, `the quickstart block sets ${name}= on one line`);
  return block.replace(line, `${name}=${value}`);
}

/**
 * Runs the block with bash from the repository's root, where `npx pushflow` finds this
 * repository's CLI. bash and whatever it left in the background are one process group,
 * killed whole if the block outlives its time.
 */
function runBlock(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: root,
      env: cliEnv({ TMPDIR: tmp }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`the quickstart block still ran after ${BLOCK_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`));
    }, BLOCK_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      killGroup();
      resolve({ code, stdout, stderr });
    });
  });
}

test("README's quickstart block runs as written: alice's client prints and acks the notification, its status is ACKNOWLEDGED", async () => {
  let block = quickstartBlock(readFileSync(join(root, 'README.md'), 'utf8'));
  block = setVariable(block, 'KEY', stack.apiKey);
  block = setVariable(block, 'API', stack.gatewayUrl);
  block = setVariable(block, 'WS', stack.deliveryUrls[0]!);
  const r = await runBlock(block);
  const shown = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 0, shown);

  const id = /^([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12})$/m.exec(r.stdout)?.[1];
  assert.ok(id, `the block echoes the notification id\n${shown}`);
  assert.match(r.stdout, /^listening as alice on /m, shown);
  assert.match(r.stdout, new RegExp(`^\\S+Z ${id} "Hi" Welcome \\{"orderId":42\\}$`, 'm'), shown);

  const statusLine = r.stdout.split('\n').find((l) => l.startsWith('{"notificationId"'));
  assert.ok(statusLine, `the block prints the status document\n${shown}`);
  const doc = JSON.parse(statusLine) as { notificationId: string; recipientId: string; status: string; history: { status: string }[] };
  assert.equal(doc.notificationId, id);
  assert.equal(doc.recipientId, 'alice');
  const statuses = doc.history.map((h) => h.status);
  if (doc.status === 'DELIVERED') {
    // The ack was sent but not yet recorded when the block asked: it must land all the same.
    assert.deepEqual(statuses, ['ACCEPTED', 'DISPATCHED', 'DELIVERED']);
    await waitFor('the ack of the quickstart notification', async () => {
      const res = await fetch(`${stack.gatewayUrl}/notifications/${id}/status`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
      return ((await res.json()) as { status: string }).status === 'ACKNOWLEDGED' ? true : undefined;
    });
  } else {
    assert.equal(doc.status, 'ACKNOWLEDGED', shown);
    assert.deepEqual(statuses, ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED']);
  }
});
