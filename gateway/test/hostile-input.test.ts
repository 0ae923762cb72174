import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedis, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { answerNext, auth, gatewayWithPeer, startGateway, type Gateway } from './peer.ts';

const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;
const ID = '0190b2c4-1111-7abc-8def-0123456789ab';

function nested(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

function assertValidationFailed(
  res: { statusCode: number; headers: Record<string, unknown>; body: string; json(): any },
  path: string,
  what: string,
) {
  assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
  assert.match(res.headers['content-type'] as string, PROBLEM);
  const problem = res.json();
  assert.equal(problem.type, 'urn:pushflow:problem:validation-failed', what);
  assert.equal(problem.errors?.[0]?.path, path, `${what}: ${res.body}`);
}

describe('hostile input to the default gateway', { timeout: 30_000 }, () => {
  const fx = gatewayWithPeer();
  const lengths = async () => [await fx.peer.xlen(fx.gw.keys.commands(0)), await fx.peer.xlen(fx.gw.keys.queries)];
  const post = (payload: unknown) =>
    fx.gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: payload as object });

  it('refuses wrong types, over-long fields and key separators with 400 naming the field, appending nothing', async () => {
    const cases: [unknown, string][] = [
      [{ recipientId: 'x'.repeat(129) }, '/body/recipientId'],
      [{ recipientId: 'user:1' }, '/body/recipientId'],
      [{ recipientId: 'pushflow:presence:u' }, '/body/recipientId'],
      [{ recipientId: '$where' }, '/body/recipientId'],
      [{ recipientId: 'a\nb' }, '/body/recipientId'],
      [{ recipientId: '' }, '/body/recipientId'],
      [{ recipientId: { $ne: null } }, '/body/recipientId'],
      [{ recipientId: ['u'] }, '/body/recipientId'],
      [{ recipientId: 7 }, '/body/recipientId'],
      [{ recipientId: 'u', title: 'x'.repeat(257) }, '/body/title'],
      [{ recipientId: 'u', title: { $gt: '' } }, '/body/title'],
      [{ recipientId: 'u', body: 'x'.repeat(4097) }, '/body/body'],
      [{ recipientId: 'u', body: 5 }, '/body/body'],
      [{ recipientId: 'u', body: ['x'] }, '/body/body'],
    ];
    for (const [payload, path] of cases) assertValidationFailed(await post(payload), path, JSON.stringify(payload).slice(0, 80));
    assert.deepEqual(await lengths(), [0, 0]);
  });

  it('refuses operator, path and prototype keys in data at every depth, and data too deep or too big', async () => {
    const cases: [unknown, string][] = [
      [{ $where: 'sleep(1000)' }, '/body/data/$where'],
      [{ 'a.b': 1 }, '/body/data/a.b'],
      [{ ok: { $set: { admin: true } } }, '/body/data/ok/$set'],
      [{ ok: [1, { 'x.y': 1 }] }, '/body/data/ok/1/x.y'],
      [{ ok: { deeper: [{ $gt: 1 }] } }, '/body/data/ok/deeper/0/$gt'],
      [{ constructor: { x: 1 } }, '/body/data/constructor'],
      [{ ok: { prototype: 1 } }, '/body/data/ok/prototype'],
      [nested(9), '/body/data/a/a/a/a/a/a/a/a'],
      [{ s: 'x'.repeat(8200) }, '/body/data'],
    ];
    for (const [data, path] of cases)
      assertValidationFailed(await post({ recipientId: 'u', data }), path, JSON.stringify(data).slice(0, 80));
    assert.deepEqual(await lengths(), [0, 0]);
  });

  it('refuses __proto__ and constructor.prototype anywhere in the body with 400, not 500', async () => {
    for (const [raw, path] of [
      ['{"recipientId":"u","__proto__":{"admin":true}}', '/body/__proto__'],
      ['{"recipientId":"u","data":{"a":{"b":[{"__proto__":{"x":1}}]}}}', '/body/data/a/b/0/__proto__'],
      ['{"recipientId":"u","data":{"\\u005f_proto__":{"x":1}}}', '/body/data/__proto__'],
      ['{"recipientId":"u","data":{"constructor":{"prototype":{"x":1}}}}', '/body/data/constructor/prototype'],
    ] as const) {
      const res = await fx.gw.app.inject({
        method: 'POST',
        url: '/notifications',
        headers: { ...auth(), 'content-type': 'application/json' },
        payload: raw,
      });
      assertValidationFailed(res, path, raw);
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.deepEqual(await lengths(), [0, 0]);
  });

  it('answers 400, not 500, to data nested tens of thousands deep', async () => {
    const depth = 30_000;
    const raw = `{"recipientId":"u","data":{"d":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const res = await fx.gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: { ...auth(), 'content-type': 'application/json', 'idempotency-key': 'deep' },
      payload: raw,
    });
    assertValidationFailed(res, '/body/data/d/0/0/0/0/0/0/0', 'deep nesting');
    assert.deepEqual(await lengths(), [0, 0]);
  });

  it('answers 400 to weird status ids without asking the dispatcher', async () => {
    for (const id of [
      'x'.repeat(5000),
      'a:b',
      '$where',
      '%24where',
      encodeURIComponent('{"$ne":null}'),
      `urn:uuid:${ID}`,
      `${ID}%3A`,
      `${ID}x`,
      `${ID.toUpperCase()}0`,
      '..%2F..%2Fadmin',
      '%00',
      `${ID}%20`,
      'pushflow:commands',
    ]) {
      const res = await fx.gw.app.inject({ method: 'GET', url: `/notifications/${id}/status`, headers: auth() });
      assertValidationFailed(res, '/params/id', id.slice(0, 60));
    }
    assert.deepEqual(await lengths(), [0, 0]);
  });

  it('still takes a notification that keeps to every rule', async () => {
    const data = { ok: { list: [1, 'two', { three: 3 }], 'with $ inside': true, 'a:b': null } };
    const [res, cmd] = await Promise.all([
      post({ recipientId: 'user_1.a@b-c', title: 't'.repeat(256), body: 'b'.repeat(4096), data }),
      answerNext(fx.peer, fx.gw.keys.commands(0), () => ({
        ok: true,
        result: { notificationId: ID, status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
      })),
    ]);
    assert.equal(res.statusCode, 202, res.body);
    assert.ok(cmd.type === 'notification.send');
    assert.deepEqual(cmd.notification.data, data);
  });
});

describe('a gateway with its own limits', { timeout: 30_000 }, () => {
  let server: Server;
  let gw: Gateway;
  let peer: RedisClient;
  const env = {
    PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: '8',
    PUSHFLOW_MAX_TITLE_LENGTH: '5',
    PUSHFLOW_MAX_BODY_LENGTH: '10',
    PUSHFLOW_MAX_DATA_BYTES: '60',
    PUSHFLOW_MAX_DATA_DEPTH: '2',
    PUSHFLOW_HTTP_BODY_LIMIT_BYTES: '1024',
  };

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix(), { env });
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    await gw?.close();
    peer?.disconnect();
    await server?.stop();
  });

  const post = (payload: unknown) => gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: payload as object });

  it('takes a notification exactly at every limit', async () => {
    const [res] = await Promise.all([
      post({ recipientId: 'x'.repeat(8), title: 't'.repeat(5), body: 'b'.repeat(10), data: { a: { b: 'x'.repeat(40) } } }),
      answerNext(peer, gw.keys.commands(0), () => ({
        ok: true,
        result: { notificationId: ID, status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
      })),
    ]);
    assert.equal(res.statusCode, 202, res.body);
  });

  it('refuses one past each limit with 400 (413 past the body limit), appending nothing', async () => {
    const cases: [unknown, string][] = [
      [{ recipientId: 'x'.repeat(9) }, '/body/recipientId'],
      [{ recipientId: 'u', title: 't'.repeat(6) }, '/body/title'],
      [{ recipientId: 'u', body: 'b'.repeat(11) }, '/body/body'],
      [{ recipientId: 'u', data: { a: { b: { c: 1 } } } }, '/body/data/a/b'],
      [{ recipientId: 'u', data: { a: 'x'.repeat(60) } }, '/body/data'],
    ];
    for (const [payload, path] of cases) assertValidationFailed(await post(payload), path, JSON.stringify(payload));
    const big = await post({ recipientId: 'u', data: { a: 'x'.repeat(1100) } });
    assert.equal(big.statusCode, 413);
    assert.match(big.headers['content-type'] as string, PROBLEM);
    assert.equal(big.json().type, 'urn:pushflow:problem:payload-too-large');
    const token = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'x'.repeat(9) } });
    assertValidationFailed(token, '/body/recipientId', 'connect token recipient');
    assert.equal(await peer.xlen(gw.keys.commands(0)), 0);
  });

  it('documents the configured limits in /openapi.json', async () => {
    const doc = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const send = doc.paths['/notifications'].post;
    const props = send.requestBody.content['application/json'].schema.properties;
    assert.equal(props.recipientId.maxLength, 8);
    assert.equal(props.title.maxLength, 5);
    assert.equal(props.body.maxLength, 10);
    assert.match(props.data.description, /At most 60 bytes as JSON and 2 levels/);
    assert.match(send.responses['413'].description, /1024 bytes/);
    const tokens = doc.paths['/connect-tokens'].post.requestBody.content['application/json'].schema;
    assert.equal(tokens.properties.recipientId.maxLength, 8);
  });
});
