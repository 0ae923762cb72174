import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createRedis, makeKeys } from '@pushflow/shared';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { freePort, redisServer, type Server } from '../../local-stack/servers.ts';
import { SECRET, openClient, tokenFor, withTimeout } from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function startService(env: Record<string, string>): {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn('./scripts/node.sh', ['delivery/src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let err = '';
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, lines, stderr: () => err, exited };
}

async function waitForLine(
  lines: Record<string, unknown>[],
  msg: string,
  ms: number,
  exited: Promise<unknown>,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    const found = lines.find((l) => l.msg === msg);
    if (found) return found;
    if (gone) throw new Error(`process exited before logging '${msg}'`);
    if (Date.now() > deadline) throw new Error(`no '${msg}' line after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('delivery: the service process', () => {
  let redis: Server;

  before(async () => {
    redis = await redisServer();
  });
  after(async () => {
    await redis?.stop();
  });

  it('logs ready, serves /healthz and WebSockets, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const prefix = uniquePrefix();
    const svc = startService({
      REDIS_URL: redis.url,
      PUSHFLOW_REDIS_PREFIX: prefix,
      PUSHFLOW_CONNECT_SECRET: SECRET,
      PUSHFLOW_NODE_ID: 'proc-node',
      DELIVERY_HOST: '127.0.0.1',
      DELIVERY_PORT: String(port),
    });
    try {
      const ready = await waitForLine(svc.lines, 'ready', 15_000, svc.exited);
      assert.equal(ready.port, port);
      assert.equal(ready.nodeId, 'proc-node');
      assert.equal(svc.lines.filter((l) => l.msg === 'ready').length, 1);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
      const readyz = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      assert.equal(readyz.status, 200);

      const token = await tokenFor('proc-user');
      const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${token}`);
      // Only sockets the node has taken are closed with 1001: wait for its presence count.
      const client = createRedis(redis.url, 'process-test');
      try {
        const key = makeKeys(prefix).presence('proc-user');
        await waitFor('socket taken', async () => ((await client.hget(key, 'proc-node')) === '1' ? true : undefined), 10_000);
      } finally {
        await client.quit();
      }
      svc.child.kill('SIGTERM');
      assert.equal((await withTimeout(c.closed, 5000, 'client close')).code, 1001);
      assert.equal(await withTimeout(svc.exited, 10_000, 'exit'), 0);
      // Tokens never reach the logs.
      assert.ok(!JSON.stringify(svc.lines).includes(token.split('.')[2]!));
    } finally {
      svc.child.kill('SIGKILL');
    }
  });

  it('stops with a message naming PUSHFLOW_CONNECT_SECRET when it is missing', async () => {
    const svc = startService({ REDIS_URL: redis.url, DELIVERY_PORT: String(await freePort()) });
    try {
      const code = await withTimeout(svc.exited, 15_000, 'exit');
      assert.notEqual(code, 0);
      assert.match(svc.stderr(), /PUSHFLOW_CONNECT_SECRET/);
    } finally {
      svc.child.kill('SIGKILL');
    }
  });
});
