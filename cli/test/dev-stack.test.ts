import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort } from '../../local-stack/servers.ts';
import { root } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import type { DevState } from '../src/dev-state.ts';
import { cliEnv, runCli, startCli } from './run-cli.ts';

/**
 * `make dev` itself (scripts/dev.ts, which starts Redis and MongoDB with redisServer and
 * mongoServer, then the services), on free service ports and a state file of its own, and
 * the real `pushflow` finding it with no settings but where that state file is.
 */
let dir: string;
let statePath: string;
let dev: ChildProcess;
let exited: Promise<number | null>;
const out: string[] = [];
const ports = { gateway: 0, delivery: 0, dispatcher: 0 };
/** The CLI's whole configuration: where the state file is. */
const only = { PUSHFLOW_DEV_STATE: '' };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pushflow-dev-'));
  statePath = join(dir, 'dev.json');
  only.PUSHFLOW_DEV_STATE = statePath;
  ports.gateway = await freePort();
  ports.delivery = await freePort();
  ports.dispatcher = await freePort();
  dev = spawn(`${root}scripts/node.sh`, ['scripts/dev.ts'], {
    cwd: root,
    env: cliEnv({
      PUSHFLOW_DEV_STATE: statePath,
      GATEWAY_PORT: String(ports.gateway),
      DELIVERY_PORT: String(ports.delivery),
      DISPATCHER_PORT: String(ports.dispatcher),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((resolve) => dev.once('exit', (code) => resolve(code)));
  for (const stream of [dev.stdout!, dev.stderr!]) createInterface({ input: stream }).on('line', (l) => out.push(l));
  await waitFor('the banner of make dev', () => (out.some((l) => l.includes('PushFlow is running')) ? true : undefined), 90_000, 100).catch(
    (err: Error) => {
      throw new Error(`${err.message}:\n${out.join('\n')}`);
    },
  );
  // The banner is printed in one write; give the last lines a moment to be read.
  await waitFor('the whole banner', () => (out.some((l) => l.includes('npx pushflow token')) ? true : undefined));
});

after(async () => {
  if (dev && dev.exitCode === null) {
    dev.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const readState = () => JSON.parse(readFileSync(statePath, 'utf8')) as DevState;

test('the banner names every URL, the dev key, the servers as export lines and where their data lives', () => {
  const text = out.join('\n');
  const state = readState();
  for (const wanted of [
    `http://localhost:${ports.gateway}/docs`,
    `http://localhost:${ports.gateway}/dashboard`,
    `http://localhost:${ports.delivery}/demo`,
    `ws://localhost:${ports.delivery}/ws?token=`,
    `API key     ${state.apiKey}`,
    `export REDIS_URL=${state.redisUrl}`,
    `export MONGO_URL=${state.mongoUrl}`,
    statePath,
  ]) {
    assert.ok(text.includes(wanted), `${wanted} in:\n${text}`);
  }
  assert.match(text, /data {8}MongoDB in \S+, deleted when make dev stops|MONGO_URL\); make dev leaves its data alone|in a container/);
  // Not a terminal: the services' lines stay JSON.
  assert.ok(
    out.some((l) => /^dispatcher +\{"level":30,/.test(l)),
    text,
  );
  // FerretDB's refusal of the TTL index is one banner line, not a log line.
  assert.equal(out.filter((l) => l.includes('refuses TTL indexes')).length, 0, text);
  if (/\(\S*ferretdb\)/i.test(text)) assert.match(text, /FerretDB does not expire documents by TTL/);
});

test('the state file names make dev and its stack', () => {
  const state = readState();
  assert.equal(state.pid, dev.pid);
  assert.equal(state.gatewayUrl, `http://127.0.0.1:${ports.gateway}`);
  assert.equal(state.apiKey, 'dev-only-api-key-change-me');
  assert.equal(state.prefix, 'pushflow:');
  assert.match(state.redisUrl, /^redis:\/\//);
  assert.match(state.mongoUrl, /^mongodb:\/\//);
});

test('pushflow send, status and watch find the stack from the state file alone; explicit settings win', async () => {
  const watch = startCli(['watch', '--json', '--recipient', 'dev-alice'], only);
  try {
    await waitFor('watch to start', () => (watch.stderrLines.some((l) => l.startsWith('watching pushflow:')) ? true : undefined), 15_000);
    const sent = await runCli(['send', 'dev-alice', '--title', 'Hi', '--json'], only);
    assert.equal(sent.code, 0, sent.stderr);
    assert.doesNotMatch(sent.stderr, /warning/, "make dev's key, not the development-key fallback");
    const { notificationId } = JSON.parse(sent.stdout);
    const status = await runCli(['status', notificationId, '--wait', 'FAILED', '--timeout', '15', '--json'], only);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).reason, 'RECIPIENT_OFFLINE');
    await waitFor('the events in watch', () =>
      watch.stdoutLines.map((l) => JSON.parse(l).type).includes('notification.failed') ? true : undefined,
    );

    const elsewhere = `http://127.0.0.1:${await freePort()}`;
    const explicit = await runCli(['status', notificationId], { ...only, PUSHFLOW_URL: elsewhere, PUSHFLOW_API_KEY: 'k' });
    assert.equal(explicit.code, 3, explicit.stderr);
    assert.match(explicit.stderr, new RegExp(`cannot reach PushFlow at ${elsewhere}`));
    assert.doesNotMatch(explicit.stderr, /make dev/, 'pointed somewhere: no advice about finding a stack');
    const redis = await runCli(['watch'], { ...only, REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    assert.equal(redis.code, 3, redis.stderr);
  } finally {
    watch.child.kill('SIGINT');
  }
  assert.equal(await watch.exited, 0, watch.stderrLines.join('\n'));
});

test("stopped with SIGINT, make dev removes its state file and its servers' data; the CLI then says how to point it at a stack", async () => {
  const dataDirs = out.flatMap((l) => /^ {2}data {8}\S+ in (\/\S+), deleted/.exec(l)?.[1] ?? []);
  dev.kill('SIGINT');
  assert.equal(await exited, 0, out.slice(-20).join('\n'));
  assert.equal(existsSync(statePath), false);
  for (const d of dataDirs) assert.equal(existsSync(d), false, d);
  // Nothing found: the CLI tries the default gateway, and when nothing answers there says which settings to give.
  if (await listening(3000)) return;
  const r = await runCli(['status', '01a20e56-4ecb-7a8c-abe7-9fc5bd404945'], only);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /no running `make dev` was found.*PUSHFLOW_URL and PUSHFLOW_API_KEY/);
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
