import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRedis, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { rateLimitKey } from '../src/rate-limit.ts';
import { answerNext, API_KEY, auth, OTHER_KEY, startGateway, startGatewayWithoutRedis, type Gateway } from './peer.ts';

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;
const BURST = 3;
// One request a second refills the budget far slower than these tests spend it.
const LIMITED = { PUSHFLOW_RATE_LIMIT_PER_SECOND: '1', PUSHFLOW_RATE_LIMIT_BURST: String(BURST) };

describe('POST /notifications rate limit per API key', { timeout: 30_000 }, () => {
  let server: Server;
  let a: Gateway;
  let b: Gateway;
  let peer: RedisClient;
  let prefix: string;

  before(async () => {
    server = await redisServer();
    prefix = uniquePrefix();
    // Two replicas on one Redis and one prefix, as behind a load balancer.
    a = await startGateway(server.url, prefix, { env: LIMITED, gatewayId: 'gw-a' });
    b = await startGateway(server.url, prefix, { env: LIMITED, gatewayId: 'gw-b' });
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    peer?.disconnect();
    await server?.stop();
  });

  const request = (gw: Gateway, key = API_KEY, payload: object = { recipientId: 'u' }) =>
    gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(key), payload });

  /** A request that should pass: the peer plays the dispatcher. */
  async function accepted(gw: Gateway, key = API_KEY) {
    const [res] = await Promise.all([
      request(gw, key),
      answerNext(peer, gw.keys.commands(0), () => ({
        ok: true,
        result: { notificationId: '0190b2c4-1111-7abc-8def-0123456789ab', status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
      })),
    ]);
    assert.equal(res.statusCode, 202, res.body);
    return res;
  }

  async function rateKeys(): Promise<string[]> {
    return peer.keys(`${prefix}ratelimit:*`);
  }

  it('spends no budget on requests refused before it: wrong key, bad body', async () => {
    for (let i = 0; i < BURST + 2; i++) {
      assert.equal((await request(a, 'not-a-valid-key-at-all')).statusCode, 401);
      assert.equal((await request(a, API_KEY, { recipientId: 'has space' })).statusCode, 400);
      assert.equal((await request(b, API_KEY, { recipientId: 'u', data: { $where: '1' } })).statusCode, 400);
    }
    assert.deepEqual(await rateKeys(), [], 'refused requests never reached Redis');
  });

  it('shares one budget across gateways: the burst+1th POST is 429 with Retry-After, appending nothing', async () => {
    const first = await accepted(a);
    assert.equal(first.headers['ratelimit-limit'], String(BURST));
    assert.equal(first.headers['ratelimit-remaining'], String(BURST - 1));
    await accepted(b);
    const third = await accepted(a);
    assert.equal(third.headers['ratelimit-remaining'], '0');
    assert.ok(['2', '3'].includes(third.headers['ratelimit-reset'] as string), String(third.headers['ratelimit-reset']));

    const before = await peer.xlen(a.keys.commands(0));
    for (const gw of [b, a]) {
      const res = await request(gw);
      assert.equal(res.statusCode, 429, res.body);
      assert.match(res.headers['content-type'] as string, PROBLEM);
      const problem = res.json();
      assert.equal(problem.type, 'urn:pushflow:problem:rate-limited');
      assert.equal(problem.status, 429);
      assert.equal(problem.instance, '/notifications');
      assert.match(res.headers['retry-after'] as string, /^[1-9]\d*$/);
      assert.equal(res.headers['ratelimit-remaining'], '0');
      assert.equal(res.headers['ratelimit-reset'], res.headers['retry-after']);
    }
    assert.equal(await peer.xlen(a.keys.commands(0)), before, 'a limited request appends nothing');
  });

  it('keeps a separate budget per API key, under a key that does not hold the API key', async () => {
    const other = await accepted(b, OTHER_KEY);
    assert.equal(other.headers['ratelimit-remaining'], String(BURST - 1));
    const names = await rateKeys();
    assert.equal(names.length, 2);
    for (const name of names) {
      assert.match(name, new RegExp(`^${prefix}ratelimit:[0-9a-f]{64}$`));
      assert.ok(!name.includes(API_KEY) && !name.includes(OTHER_KEY));
      assert.ok((await peer.pttl(name)) > 0, 'budget keys expire by themselves');
    }
  });

  it('limits neither status reads nor connect tokens', async () => {
    // Spent for the next hour, whatever the time the tests took so far (TIME in microseconds).
    const [seconds] = await peer.time();
    await peer.set(rateLimitKey(prefix, sha256Hex(API_KEY)), String((Number(seconds) + 3600) * 1_000_000), 'PX', 60_000);
    assert.equal((await request(a)).statusCode, 429);
    const token = await a.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
    assert.equal(token.statusCode, 201);
    const [status] = await Promise.all([
      a.app.inject({ method: 'GET', url: '/notifications/0190b2c4-1111-7abc-8def-0123456789ab/status', headers: auth() }),
      answerNext(peer, a.keys.queries, () => ({ ok: false, error: { code: 'NOT_FOUND', message: 'no such notification' } })),
    ]);
    assert.equal(status.statusCode, 404);
  });

  it('is off at PUSHFLOW_RATE_LIMIT_PER_SECOND=0', async () => {
    const free = await startGateway(server.url, uniquePrefix(), {
      env: { PUSHFLOW_RATE_LIMIT_PER_SECOND: '0', PUSHFLOW_RATE_LIMIT_BURST: '1' },
      gatewayId: 'gw-free',
    });
    try {
      for (let i = 0; i < 3; i++) {
        const [res] = await Promise.all([
          request(free),
          answerNext(peer, free.keys.commands(0), () => ({
            ok: true,
            result: { notificationId: '0190b2c4-1111-7abc-8def-0123456789ab', status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
          })),
        ]);
        assert.equal(res.statusCode, 202);
        assert.equal(res.headers['ratelimit-limit'], undefined);
      }
    } finally {
      await free.close();
    }
  });
});

describe('rate limit when Redis is away', { timeout: 20_000 }, () => {
  it('answers 503 with Retry-After, not 500', async () => {
    const down = await startGatewayWithoutRedis(LIMITED);
    try {
      const res = await down.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.json().type, 'urn:pushflow:problem:dispatcher-unavailable');
    } finally {
      await down.close();
    }
  });
});
