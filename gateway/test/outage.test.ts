import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { tcpProxy } from '../../test/harness/proxy.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { auth, startGateway, startGatewayWithoutRedis, type Gateway } from './peer.ts';

describe('gateway when the dispatcher or Redis is away', { timeout: 20_000 }, () => {
  let server: Server;
  let gw: Gateway;

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix(), { timeoutMs: 200 });
  });
  after(async () => {
    await gw?.close();
    await server?.stop();
  });

  it('answers 504 problem with Retry-After when no dispatcher replies in time', async () => {
    const started = Date.now();
    const res = await gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } });
    const took = Date.now() - started;
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(res.json().type, 'urn:pushflow:problem:dispatcher-timeout');
    assert.ok(took >= 190 && took < 2000, `took ${took} ms`);
    assert.equal(await gw.redis.xlen(gw.keys.commands(0)), 1, 'the command was appended before waiting');

    const status = await gw.app.inject({
      method: 'GET',
      url: '/notifications/0190b2c4-1111-7abc-8def-0123456789ab/status',
      headers: auth(),
    });
    assert.equal(status.statusCode, 504);
    assert.equal(status.json().type, 'urn:pushflow:problem:dispatcher-timeout');
  });

  it('answers within the timeout when Redis takes requests and never answers them', async () => {
    const proxy = await tcpProxy(server.url);
    const frozen = await startGateway(proxy.url, uniquePrefix(), { timeoutMs: 300, env: { PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' } });
    const limited = await startGateway(proxy.url, uniquePrefix(), { timeoutMs: 300 });
    try {
      proxy.hold();
      for (const [gw, status, type] of [
        [frozen, 504, 'dispatcher-timeout'],
        [limited, 503, 'dispatcher-unavailable'],
      ] as const) {
        const started = Date.now();
        const res = await gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } });
        const took = Date.now() - started;
        // Without a rate limit the XADD is what hangs: the reply timeout answers. With one,
        // the limiter's script hangs first, and the command timeout ends it.
        assert.equal(res.statusCode, status, res.body);
        assert.equal(res.json().type, `urn:pushflow:problem:${type}`);
        assert.ok(took < 2000, `took ${took} ms: a stuck Redis command must not hold the request past the timeout`);
      }
    } finally {
      // Cut first: the swallowed XADD left the connection's replies out of step for good.
      await proxy.close();
      await frozen.close();
      await limited.close();
    }
  });

  it('answers 503 with Retry-After at once when Redis is unreachable, and readyz says not ready', async () => {
    // The rate limiter would answer first; rate-limit.test.ts covers it.
    const down = await startGatewayWithoutRedis({ PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' });
    const { app } = down;
    try {
      const started = Date.now();
      const res = await app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '1');
      assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
      assert.equal(res.json().type, 'urn:pushflow:problem:dispatcher-unavailable');
      assert.ok(Date.now() - started < 1000, 'must not wait for the reply timeout');

      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.headers['retry-after'], '1');
      assert.equal(ready.json().type, 'urn:pushflow:problem:not-ready');

      const health = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
    } finally {
      await down.close();
    }
  });

  it('stop() rejects requests in flight and deletes the reply stream', async () => {
    const other = await startGateway(server.url, uniquePrefix(), { timeoutMs: 5000 });
    const replies = other.keys.replies(`test-${process.pid}`);
    await other.redis.xadd(replies, '*', 'data', '{}'); // a malformed entry: ignored, but makes the stream exist
    const inFlight = other.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } });
    await waitFor('the command appended', async () => ((await other.redis.xlen(other.keys.commands(0))) === 1 ? true : undefined), 2000);
    const started = Date.now();
    await other.rpc.stop();
    const res = await inFlight;
    assert.equal(res.statusCode, 503);
    assert.ok(Date.now() - started < 1000, 'stop must not wait for the block or the timeout');
    assert.equal(await other.redis.exists(replies), 0);
    await other.close();
  });
});
