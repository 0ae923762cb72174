import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { signConnectToken } from '@pushflow/shared';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { freePort, redisServer, type Server } from '../../local-stack/servers.ts';
import { startService, type ServiceProcess } from '../../local-stack/stack.ts';
import { SECRET, connectClient, openClient, withTimeout } from './helpers.ts';

/**
 * Connect tokens travel in the query string, so any log line carrying the URL would leak
 * them. The node runs as a process at LOG_LEVEL=trace and everything it prints is searched.
 */
describe('delivery: tokens never reach the logs', () => {
  let redis: Server;
  let svc: ServiceProcess;
  let port: number;
  const audience = 'pushflow-logging-test';
  const exp = () => Math.floor(Date.now() / 1000) + 600;

  before(async () => {
    redis = await redisServer();
    port = await freePort();
    svc = await startService('delivery', {
      REDIS_URL: redis.url,
      PUSHFLOW_REDIS_PREFIX: uniquePrefix(),
      PUSHFLOW_CONNECT_SECRET: SECRET,
      PUSHFLOW_NODE_ID: 'logging-node',
      DELIVERY_HOST: '127.0.0.1',
      DELIVERY_PORT: String(port),
      LOG_LEVEL: 'trace',
      PUSHFLOW_TOKEN_AUDIENCE: audience,
      PUSHFLOW_ALLOWED_ORIGINS: 'https://app.example.com',
      PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND: '5',
    });
  });
  after(async () => {
    await svc?.stop();
    await redis?.stop();
  });

  it('logs connects with good and bad tokens, refusals and closes without any part of a token', async () => {
    const url = (token: string) => `ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`;
    const noneHeader = Buffer.from('{"alg":"none"}').toString('base64url');
    const tokens = {
      good: await signConnectToken({ sub: 'log-good', exp: exp(), aud: audience }, SECRET),
      flooder: await signConnectToken({ sub: 'log-flood', exp: exp(), aud: audience }, SECRET),
      forged: await signConnectToken({ sub: 'log-forged', exp: exp(), aud: audience }, 'f'.repeat(40)),
      expired: await signConnectToken({ sub: 'log-expired', exp: exp() - 7200, aud: audience }, SECRET),
      wrongAudience: await signConnectToken({ sub: 'log-aud', exp: exp(), aud: 'someone-else' }, SECRET),
      none: `${noneHeader}.${Buffer.from(JSON.stringify({ sub: 'log-none', exp: exp() })).toString('base64url')}.`,
      garbage: 'garbage-token-ZXCVBNMASDFGHJKL',
      refusedOrigin: await signConnectToken({ sub: 'log-origin', exp: exp(), aud: audience }, SECRET),
    };
    const linesBefore = svc.lines.length;

    const good = await openClient(url(tokens.good), { origin: 'https://app.example.com' });
    good.ws.send(JSON.stringify({ type: 'ack', notificationId: 'not-sent' }));
    const expected: [keyof typeof tokens, number][] = [
      ['forged', 4001],
      ['expired', 4003],
      ['wrongAudience', 4001],
      ['none', 4001],
      ['garbage', 4001],
    ];
    for (const [name, code] of expected) {
      assert.equal((await withTimeout(connectClient(url(tokens[name])).closed, 2000, name)).code, code, name);
    }
    const flooder = await openClient(url(tokens.flooder));
    for (let i = 0; i < 50; i++) flooder.ws.send('x');
    assert.equal((await withTimeout(flooder.closed, 2000, 'flooder')).code, 4008);
    const refused = new WebSocket(url(tokens.refusedOrigin), { origin: 'https://evil.example' });
    const status = await withTimeout(
      new Promise<number>((resolve) => {
        refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        refused.once('open', () => resolve(101));
        refused.once('error', () => resolve(-1));
      }),
      2000,
      'refused origin',
    );
    refused.terminate();
    assert.equal(status, 403);
    good.ws.close(1000);
    await good.closed;

    // Give the last lines time to be written, then look for the lines the test expects.
    const logged = await withTimeout(
      (async () => {
        for (;;) {
          const lines = svc.lines.slice(linesBefore);
          const has = (msg: string) => lines.filter((l) => l.includes(`"msg":"${msg}"`)).length;
          if (has('connection refused') >= 5 && has('disconnected') >= 1 && has('upgrade refused: origin not allowed') === 1) return lines;
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      5000,
      'expected log lines',
    );
    const originLine = JSON.parse(logged.find((l) => l.includes('origin not allowed'))!) as Record<string, unknown>;
    assert.equal(originLine.level, 30, 'a refused origin is logged at info');
    assert.equal(originLine.origin, 'https://evil.example');
    assert.ok(
      logged.some((l) => l.includes('"level":20')),
      'debug lines were written too',
    );

    const all = svc.lines.join('\n');
    for (const [name, token] of Object.entries(tokens)) {
      const parts = token.split('.').filter((p) => p.length >= 8 && p !== noneHeader);
      for (const part of [token, encodeURIComponent(token), ...parts]) {
        assert.ok(!all.includes(part), `the ${name} token (or part of it) is in the log`);
      }
    }
  });
});
