import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger, createRedis, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { answerNext, API_KEY, auth, OTHER_KEY, startGateway, type Gateway } from './peer.ts';

const WRONG_KEY = 'wrong-but-plausible-key-0123456789';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLW9mLWEtdG9rZW4';
const ID = '0190b2c4-1111-7abc-8def-0123456789ab';

describe('what the gateway logs', { timeout: 20_000 }, () => {
  let server: Server;
  let gw: Gateway;
  let peer: RedisClient;
  const lines: string[] = [];

  before(async () => {
    server = await redisServer();
    const log = createLogger('gateway', 'debug', {
      write: (s: string) => {
        lines.push(s);
      },
    });
    gw = await startGateway(server.url, uniquePrefix(), { log });
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    await gw?.close();
    peer?.disconnect();
    await server?.stop();
  });

  const lengths = async () => [await peer.xlen(gw.keys.commands(0)), await peer.xlen(gw.keys.queries)];

  it('never writes an API key, whether good, wrong or sent with a bad body or a failing request', async () => {
    const ok = { ok: true, result: { notificationId: ID, status: 'ACCEPTED', acceptedAt: new Date().toISOString() } };
    const [good] = await Promise.all([
      gw.app.inject({
        method: 'POST',
        url: '/notifications',
        headers: { ...auth(), 'idempotency-key': 'k1' },
        payload: { recipientId: 'u' },
      }),
      answerNext(peer, gw.keys.commands(0), () => ok),
    ]);
    assert.equal(good.statusCode, 202);
    const [other] = await Promise.all([
      gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(OTHER_KEY), payload: { recipientId: 'u' } }),
      answerNext(peer, gw.keys.commands(0), () => ok),
    ]);
    assert.equal(other.statusCode, 202);
    // A reply that does not fit its schema: a 500, logged with its error.
    const [broken] = await Promise.all([
      gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } }),
      answerNext(peer, gw.keys.commands(0), () => ({ ok: true, result: { not: 'a reply' } })),
    ]);
    assert.equal(broken.statusCode, 500);
    const badBody = await gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: `{"recipientId":"${API_KEY}`,
    });
    assert.equal(badBody.statusCode, 400);
    const badField = await gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: auth(),
      payload: { recipientId: 'u', data: { $x: 1 } },
    });
    assert.equal(badField.statusCode, 400);
    const wrong = await gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(WRONG_KEY), payload: { recipientId: 'u' } });
    assert.equal(wrong.statusCode, 401);
    const token = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
    assert.equal(token.statusCode, 201);

    assert.ok(
      lines.some((l) => l.includes('"msg":"incoming request"')),
      'requests are logged',
    );
    assert.ok(
      lines.some((l) => l.includes('"level":50') && l.includes('does not match its schema')),
      'the 500 is logged with its error',
    );
    for (const line of lines) {
      for (const secret of [API_KEY, OTHER_KEY, WRONG_KEY, token.json().token]) assert.ok(!line.includes(secret), `secret in: ${line}`);
    }
  });

  it('redacts token= from logged URLs', async () => {
    const before = lines.length;
    const res = await gw.app.inject({ method: 'GET', url: `/ws?token=${TOKEN}` });
    assert.equal(res.statusCode, 404);
    const logged = lines.slice(before).filter((l) => l.includes('/ws?token='));
    assert.ok(logged.length > 0, lines.slice(before).join('\n'));
    for (const line of logged) {
      assert.ok(!line.includes(TOKEN), line);
      assert.ok(line.includes('/ws?token=[redacted]'), line);
    }
  });

  it('answers 401 to a wrong key on every route and appends nothing', async () => {
    const before = await lengths();
    for (const route of [
      { method: 'POST' as const, url: '/notifications', payload: { recipientId: 'u' } },
      { method: 'GET' as const, url: `/notifications/${ID}/status` },
      { method: 'POST' as const, url: '/connect-tokens', payload: { recipientId: 'u' } },
    ]) {
      for (const headers of [auth(WRONG_KEY), {}, { authorization: `Bearer ${API_KEY}x` }, { authorization: `Basic ${API_KEY}` }]) {
        const res = await gw.app.inject({ ...route, headers });
        assert.equal(res.statusCode, 401, `${route.method} ${route.url}`);
        assert.equal(res.json().type, 'urn:pushflow:problem:unauthorized');
        assert.ok(!res.body.includes(API_KEY));
      }
    }
    assert.deepEqual(await lengths(), before);
  });
});

describe('request lines', { timeout: 20_000 }, () => {
  let server: Server;
  let peer: RedisClient;
  before(async () => {
    server = await redisServer();
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    peer?.disconnect();
    await server?.stop();
  });

  async function gatewayLoggingAt(level: string, env: Record<string, string> = {}) {
    const lines: string[] = [];
    const gw = await startGateway(server.url, uniquePrefix(), {
      env,
      log: createLogger('gateway', level, {
        write: (s: string) => {
          lines.push(s);
        },
      }),
    });
    return { gw, lines };
  }

  /** One accepted notification, one connect token, one 401. */
  async function someRequests(gw: Gateway) {
    const ok = { ok: true, result: { notificationId: ID, status: 'ACCEPTED', acceptedAt: new Date().toISOString() } };
    const [sent] = await Promise.all([
      gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } }),
      answerNext(peer, gw.keys.commands(0), () => ok),
    ]);
    assert.equal(sent.statusCode, 202);
    assert.equal(
      (await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } })).statusCode,
      201,
    );
    assert.equal(
      (await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(WRONG_KEY), payload: { recipientId: 'u' } })).statusCode,
      401,
    );
  }

  it('by default are written at debug only: at info a request that succeeds or is refused logs nothing, a notification neither', async () => {
    const { gw, lines } = await gatewayLoggingAt('info');
    try {
      await someRequests(gw);
      assert.deepEqual(lines, []);
    } finally {
      await gw.close();
    }
  });

  it('at debug: the notification accepted, with its id', async () => {
    const { gw, lines } = await gatewayLoggingAt('debug');
    try {
      await someRequests(gw);
      const accepted = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'notification accepted');
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0].level, 20);
      assert.equal(accepted[0].notificationId, ID);
    } finally {
      await gw.close();
    }
  });

  it('with PUSHFLOW_ACCESS_LOG=true: one info line per request, with method, URL, status and time, and no secret', async () => {
    const { gw, lines } = await gatewayLoggingAt('info', { PUSHFLOW_ACCESS_LOG: 'true' });
    try {
      await someRequests(gw);
      await gw.app.inject({ method: 'GET', url: `/ws?token=${TOKEN}` });
      const logged = lines.map((l) => JSON.parse(l));
      assert.deepEqual(
        logged.map((l) => [l.level, l.msg]),
        Array.from({ length: 4 }, () => [30, 'request completed']),
        lines.join('\n'),
      );
      assert.deepEqual(
        logged.map((l) => [l.req.method, l.req.url, l.res.statusCode]),
        [
          ['POST', '/notifications', 202],
          ['POST', '/connect-tokens', 201],
          ['POST', '/connect-tokens', 401],
          ['GET', '/ws?token=[redacted]', 404],
        ],
      );
      assert.ok(logged.every((l) => typeof l.responseTime === 'number'));
      for (const line of lines) for (const secret of [API_KEY, WRONG_KEY, TOKEN]) assert.ok(!line.includes(secret), line);
    } finally {
      await gw.close();
    }
  });

  it('are configured without a Fastify deprecation warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code} ${w.message}`);
    process.on('warning', onWarning);
    try {
      for (const env of [{}, { PUSHFLOW_ACCESS_LOG: 'true' }] as Record<string, string>[]) {
        const { gw } = await gatewayLoggingAt('info', env);
        await gw.close();
      }
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w.startsWith('FSTDEP')),
      [],
    );
  });
});
