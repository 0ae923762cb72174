import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedis, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { monitorRedis, parseMonitorLine } from './redis-monitor.ts';
import { waitFor } from './wait.ts';

let srv: Server;
let client: RedisClient;
before(async () => {
  srv = await redisServer();
  client = createRedis(srv.url, 'monitor-test');
});
after(async () => {
  client.disconnect();
  await srv.stop();
});

test('reads a MONITOR line with every escape Redis writes', () => {
  assert.deepEqual(parseMonitorLine('+1796322134.025066 [0 127.0.0.1:32820] "XADD" "s" "*" "f" "a \\"q\\" \\\\ \\n\\r\\t \\xc3\\xa9"'), {
    source: '127.0.0.1:32820',
    args: ['xadd', 's', '*', 'f', 'a "q" \\ \n\r\t é'],
  });
  assert.equal(parseMonitorLine('+OK'), undefined);
});

test('sees the commands of a busy server from the first one after MONITOR, in order', async () => {
  // Traffic already flowing when MONITOR starts: the case ioredis's monitor() drops.
  let running = true;
  const busy = (async () => {
    while (running) await client.set('busy', 'x');
  })();
  const monitor = await monitorRedis(srv.url);
  try {
    await client.set('k', 'v "1"');
    await client.get('k');
    const seen = await waitFor('the GET', () => (monitor.commands.some((c) => c.args[0] === 'get') ? monitor.commands : undefined));
    const mine = seen.filter((c) => c.args[1] === 'k').map((c) => c.args);
    assert.deepEqual(mine, [
      ['set', 'k', 'v "1"'],
      ['get', 'k'],
    ]);
    assert.ok(seen.every((c) => /^127\.0\.0\.1:\d+$/.test(c.source)));
  } finally {
    running = false;
    await busy;
    monitor.close();
  }
});
