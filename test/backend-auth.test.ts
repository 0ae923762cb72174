import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { groups, makeKeys } from '@pushflow/shared';
import { uniqueMongoUrl, uniquePrefix } from '../local-stack/isolation.ts';
import { freePort, mongoServer, redisServer, type Server } from '../local-stack/servers.ts';
import { root, startService, type ServiceName, type ServiceProcess } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * The services against a Redis that requires a password (requirepass), as compose runs it,
 * and PUSHFLOW_ENV=production refusing development secrets in the real processes.
 * MongoDB authentication is not exercised here: the local stand-in, FerretDB 1.24 with its
 * SQLite backend, has no authentication; compose's mongo:7 does (test/compose.test.ts).
 */
const password = randomBytes(16).toString('hex');
const wrongPassword = `wrong-${randomBytes(8).toString('hex')}`;
const connectSecret = randomBytes(32).toString('hex');
let redis: Server;
let mongo: Server;
let admin: Redis;
const running: ServiceProcess[] = [];
const files = mkdtempSync(join(tmpdir(), 'pushflow-auth-'));

before(async () => {
  redis = await redisServer({ password });
  mongo = await mongoServer();
  admin = new Redis(redis.url);
});

after(async () => {
  await Promise.all(running.map((s) => s.stop('SIGKILL')));
  admin?.disconnect();
  await Promise.all([redis?.stop(), mongo?.stop()]);
  rmSync(files, { recursive: true, force: true });
});

/** The URL with its password replaced. */
function withPassword(url: string, pass: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(pass);
  return u.toString();
}

async function status(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

/** No line a service printed holds either password. */
function assertNoPassword(lines: string[], service: string): void {
  for (const secret of [redis.password!, wrongPassword]) {
    const leaked = lines.find((l) => l.includes(secret));
    assert.equal(leaked, undefined, `${service} printed a Redis password: ${leaked}`);
  }
}

/** Runs a service to its exit; for services that must refuse to start. */
async function runToExit(
  service: ServiceName,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(`${root}/scripts/node.sh`, [`${service}/src/main.ts`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('Redis with a password', () => {
  test('the server refuses a client without the password', async () => {
    assert.ok(redis.password, 'the harness started Redis without a password');
    // A raw socket: a client library might authenticate, retry or hide the reply.
    const { hostname, port } = new URL(redis.url);
    const socket = connect(Number(port), hostname);
    try {
      socket.write('PING\r\n');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      assert.match(reply.toString(), /^-NOAUTH/);
    } finally {
      socket.destroy();
    }
    assert.equal(await admin.ping(), 'PONG');
  });

  test('the dispatcher works through an authenticated REDIS_URL', async () => {
    const prefix = uniquePrefix();
    const port = await freePort();
    const dispatcher = await startService('dispatcher', {
      REDIS_URL: redis.url,
      MONGO_URL: uniqueMongoUrl(mongo.url),
      PUSHFLOW_REDIS_PREFIX: prefix,
      DISPATCHER_PORT: String(port),
    });
    running.push(dispatcher);
    assert.equal(await status(`http://127.0.0.1:${port}/readyz`), 200);
    // It created its consumer group in this Redis, through the password.
    const info = (await admin.xinfo('GROUPS', makeKeys(prefix).commands(0))) as unknown[][];
    assert.ok(
      info.some((g) => g.includes(groups.dispatcher)),
      'no dispatcher group on the commands stream',
    );
    assertNoPassword(dispatcher.lines, 'dispatcher');
  });

  test('delivery in production reads its secrets from files and works', async () => {
    const prefix = uniquePrefix();
    const port = await freePort();
    const redisUrlFile = join(files, 'redis-url');
    const secretFile = join(files, 'connect-secret');
    writeFileSync(redisUrlFile, `${redis.url}\n`, { mode: 0o600 });
    writeFileSync(secretFile, `${connectSecret}\n`, { mode: 0o600 });
    const nodeId = `auth-${randomBytes(3).toString('hex')}`;
    const delivery = await startService('delivery', {
      PUSHFLOW_ENV: 'production',
      REDIS_URL: '',
      REDIS_URL_FILE: redisUrlFile,
      PUSHFLOW_CONNECT_SECRET: '',
      PUSHFLOW_CONNECT_SECRET_FILE: secretFile,
      PUSHFLOW_REDIS_PREFIX: prefix,
      DELIVERY_PORT: String(port),
      PUSHFLOW_NODE_ID: nodeId,
    });
    running.push(delivery);
    assert.equal(await status(`http://127.0.0.1:${port}/readyz`), 200);
    const info = (await admin.xinfo('GROUPS', makeKeys(prefix).deliveries(nodeId))) as unknown[][];
    assert.ok(
      info.some((g) => g.includes(groups.delivery)),
      "no delivery group on the node's partition stream",
    );
    assertNoPassword(delivery.lines, 'delivery');
    assert.ok(!delivery.lines.some((l) => l.includes(connectSecret)), 'delivery printed its connect secret');
  });

  test('a wrong password leaves the dispatcher not ready, saying so without the password', async () => {
    const port = await freePort();
    const dispatcher = await startService('dispatcher', {
      REDIS_URL: withPassword(redis.url, wrongPassword),
      MONGO_URL: uniqueMongoUrl(mongo.url),
      PUSHFLOW_REDIS_PREFIX: uniquePrefix(),
      DISPATCHER_PORT: String(port),
    });
    running.push(dispatcher);
    await waitFor('an authentication error in the log', async () => dispatcher.lines.find((l) => /WRONGPASS|NOAUTH/.test(l)), 15_000, 100);
    assert.equal(await status(`http://127.0.0.1:${port}/readyz`), 503);
    assert.equal(await status(`http://127.0.0.1:${port}/healthz`), 200, 'the process itself is alive');
    assertNoPassword(dispatcher.lines, 'dispatcher');
  });

  test('a wrong password stops delivery before it is ready, without printing the password', async () => {
    const result = await runToExit('delivery', {
      REDIS_URL: withPassword(redis.url, wrongPassword),
      PUSHFLOW_CONNECT_SECRET: connectSecret,
      PUSHFLOW_REDIS_PREFIX: uniquePrefix(),
      DELIVERY_PORT: String(await freePort()),
    });
    const lines = `${result.stdout}\n${result.stderr}`.split('\n');
    assert.notEqual(result.code, 0, 'delivery exited 0 although it could not reach Redis');
    assert.ok(!lines.some((l) => l.includes('"msg":"ready"')), 'delivery said ready without Redis');
    assert.ok(
      lines.some((l) => /WRONGPASS/.test(l)),
      `delivery did not say why it stopped:\n${lines.join('\n')}`,
    );
    assertNoPassword(lines, 'delivery');
  });
});

describe('PUSHFLOW_ENV=production in the real services', () => {
  const cases: { service: ServiceName; variable: string; secret: string; env: Record<string, string> }[] = [
    {
      service: 'gateway',
      variable: 'PUSHFLOW_API_KEYS',
      secret: 'dev-only-api-key-change-me',
      env: { PUSHFLOW_API_KEYS: `${randomBytes(16).toString('hex')},dev-only-api-key-change-me`, PUSHFLOW_CONNECT_SECRET: connectSecret },
    },
    {
      service: 'delivery',
      variable: 'PUSHFLOW_CONNECT_SECRET',
      secret: 'dev-only-connect-secret-change-me-0000000000',
      env: { PUSHFLOW_CONNECT_SECRET: 'dev-only-connect-secret-change-me-0000000000' },
    },
    {
      service: 'dispatcher',
      variable: 'MONGO_URL',
      secret: 'dev-only-mongo-password-change-me',
      env: { MONGO_URL: 'mongodb://pushflow:dev-only-mongo-password-change-me@127.0.0.1:1/pushflow?authSource=admin' },
    },
  ];
  for (const { service, variable, secret, env } of cases) {
    test(`${service} refuses a development ${variable}: exit 78, the variable named, the secret never printed`, async () => {
      const result = await runToExit(service, {
        PUSHFLOW_ENV: 'production',
        REDIS_URL: redis.url,
        PUSHFLOW_REDIS_PREFIX: uniquePrefix(),
        ...env,
      });
      assert.equal(result.code, 78, `${service} exit code; stderr: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^${service}: invalid configuration: ${variable}: `, 'm'));
      assert.ok(!result.stderr.includes(secret) && !result.stdout.includes(secret), `${service} printed the secret:\n${result.stderr}`);
      assert.ok(!result.stdout.includes('"msg":"ready"'));
    });
  }
});
