import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createLogger, createRedis, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { answerEntry, answerNext, API_KEY, auth, startGateway, startGatewayWithoutRedis, type Gateway } from './peer.ts';

/**
 * The gateway's port on uWebSockets.js (uws-front.ts): POST /notifications on its fast
 * path, everything else through the Fastify app. Every answer must be the one the app
 * gives the same request, and a refused send must queue nothing, whichever side answers.
 */

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request over a real connection; `chunked` sends the body without a length. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
  chunked = false,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined && chunked) {
      // Two writes, so the body arrives in more than one chunk.
      const whole = Buffer.from(body);
      req.write(whole.subarray(0, whole.length >> 1));
      req.end(whole.subarray(whole.length >> 1));
    } else req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

describe('the uWS front', { timeout: 60_000 }, () => {
  let server: Server;
  let gw: Gateway;
  let peer: RedisClient;
  let port: number;
  let injected = 0;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix(), {
      timeoutMs: 1000,
      log: createLogger('gateway', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) }),
      env: { GATEWAY_HOST: '127.0.0.1', PUSHFLOW_HTTP_BODY_LIMIT_BYTES: '2048', PUSHFLOW_MAX_BATCH_BODY_BYTES: '4096' },
    });
    port = await gw.listen(0);
    peer = createRedis(server.url, 'dispatcher-peer');
    // Counts what the front hands to the app, so a test can tell which side answered.
    const inject = gw.app.inject.bind(gw.app);
    gw.app.inject = ((...args: Parameters<typeof inject>) => {
      injected += 1;
      return inject(...args);
    }) as typeof gw.app.inject;
  });
  after(async () => {
    await gw?.close();
    peer?.disconnect();
    await server?.stop();
  });

  const queued = async () => {
    let n = 0;
    for (let p = 0; p < gw.keys.partitions; p++) n += await peer.xlen(gw.keys.commands(p));
    return n;
  };
  const accept = (notificationId: string) => () => ({
    ok: true,
    result: { notificationId, status: 'ACCEPTED', acceptedAt: '2026-12-04T10:00:00.000Z', extra: 'dropped by the schema' },
  });

  it('sends an ordinary notification on the fast path, answered as the app answers it', async () => {
    const before = injected;
    const body = JSON.stringify({ recipientId: 'user-1', title: 'Hi', data: { n: 1 } });
    const [res, cmd] = await Promise.all([
      send(port, 'POST', '/notifications', { ...auth(), ...json }, body),
      answerNext(peer, gw.keys.commands(0), accept('0190b2c4-1111-7abc-8def-0123456789ab')),
    ]);
    assert.equal(injected, before, 'the app was asked: the fast path did not take an ordinary send');
    assert.equal(res.status, 202, res.body);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    // Serialized by the route's schema: what the dispatcher adds beyond it does not go out.
    assert.equal(
      res.body,
      '{"notificationId":"0190b2c4-1111-7abc-8def-0123456789ab","status":"ACCEPTED","acceptedAt":"2026-12-04T10:00:00.000Z"}',
    );
    assert.equal(res.headers['ratelimit-limit'], '2000');
    assert.ok(Number(res.headers['ratelimit-remaining']) > 0);
    assert.ok(cmd.type === 'notification.send');
    assert.deepEqual(cmd.notification, { recipientId: 'user-1', title: 'Hi', data: { n: 1 } });

    // The same through the app: the same answer.
    const [viaApp] = await Promise.all([
      gw.app.inject({ method: 'POST', url: '/notifications', headers: { ...auth(), ...json }, payload: body }),
      answerNext(peer, gw.keys.commands(0), accept('0190b2c4-1111-7abc-8def-0123456789ab')),
    ]);
    assert.equal(viaApp.statusCode, 202);
    assert.equal(viaApp.headers['content-type'], res.headers['content-type']);
    assert.equal(viaApp.body, res.body);
  });

  it('scopes an Idempotency-Key as the app does', async () => {
    const body = JSON.stringify({ recipientId: 'user-2' });
    const headers = { ...auth(), ...json, 'idempotency-key': 'order-7' };
    const [, fast] = await Promise.all([
      send(port, 'POST', '/notifications', headers, body),
      answerNext(peer, gw.keys.commands(0), accept('0190b2c4-2222-7abc-8def-0123456789ab')),
    ]);
    const [, viaApp] = await Promise.all([
      gw.app.inject({ method: 'POST', url: '/notifications', headers, payload: body }),
      answerNext(peer, gw.keys.commands(0), accept('0190b2c4-2222-7abc-8def-0123456789ab')),
    ]);
    assert.ok(fast.type === 'notification.send' && viaApp.type === 'notification.send');
    assert.ok(fast.idempotencyKey);
    assert.equal(fast.idempotencyKey, viaApp.idempotencyKey);
    assert.equal(fast.requestHash, viaApp.requestHash);
  });

  it('answers a dispatcher that does not reply with the app’s 504, logged and counted', async () => {
    const body = JSON.stringify({ recipientId: 'nobody-answers' });
    const before = injected;
    const res = await send(port, 'POST', '/notifications', { ...auth(), ...json }, body);
    assert.equal(injected, before);
    const viaApp = await gw.app.inject({ method: 'POST', url: '/notifications', headers: { ...auth(), ...json }, payload: body });
    assert.equal(res.status, 504);
    assert.equal(viaApp.statusCode, 504);
    assert.equal(res.headers['content-type'], viaApp.headers['content-type']);
    assert.equal(res.headers['retry-after'], '1');
    assert.deepEqual(JSON.parse(res.body), viaApp.json());
    // Logged as the app logs the dispatcher's trouble, by both sides.
    const warned = lines.filter((l) => l.msg === 'dispatcher problem' && l.problem === 'dispatcher-timeout');
    assert.equal(warned.length, 2);
    await peer.del(...Array.from({ length: gw.keys.partitions }, (_, p) => gw.keys.commands(p)));

    const metrics = await send(port, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    // The fast path's sends are counted under the route's pattern, as the app counts its own.
    const count = (status: number) =>
      Number(
        new RegExp(
          `pushflow_http_request_duration_seconds_count\\{service="gateway",method="POST",route="/notifications",status_code="${status}"\\} (\\d+)`,
        ).exec(metrics.body)?.[1] ?? 0,
      );
    assert.equal(count(504), 2);
    assert.ok(count(202) >= 4);
  });

  const refusals: [string, Record<string, string>, string | undefined][] = [
    ['no API key', json, '{"recipientId":"u"}'],
    ['a wrong API key', { ...auth('not-a-key-of-this-gateway'), ...json }, '{"recipientId":"u"}'],
    ['a text body', { ...auth(), 'content-type': 'text/plain' }, 'hello'],
    ['no body', { ...auth(), ...json }, undefined],
    ['broken JSON', { ...auth(), ...json }, '{"recipientId":'],
    ['a __proto__ key', { ...auth(), ...json }, '{"recipientId":"u","data":{"__proto__":{"x":1}}}'],
    ['an escaped __proto__ key', { ...auth(), ...json }, '{"recipientId":"u","data":{"\\u005f_proto__":{"x":1}}}'],
    ['no recipient', { ...auth(), ...json }, '{"title":"t"}'],
    ['an unknown field', { ...auth(), ...json }, '{"recipientId":"u","colour":"red"}'],
    ['a number for a string', { ...auth(), ...json }, '{"recipientId":7}'],
    ['data nested too deep', { ...auth(), ...json }, `{"recipientId":"u","data":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`],
    ['an Idempotency-Key too long', { ...auth(), ...json, 'idempotency-key': 'k'.repeat(256) }, '{"recipientId":"u"}'],
    ['a body over the limit', { ...auth(), ...json }, JSON.stringify({ recipientId: 'u', body: 'x'.repeat(3000) })],
  ];

  for (const [what, headers, body] of refusals) {
    it(`refuses a send with ${what} as the app does, queueing nothing`, async () => {
      const waiting = await queued();
      const res = await send(port, 'POST', '/notifications', headers, body);
      const viaApp = await gw.app.inject({
        method: 'POST',
        url: '/notifications',
        headers,
        ...(body === undefined ? {} : { payload: body }),
      });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.body}`);
      assert.equal(res.status, viaApp.statusCode, res.body);
      assert.equal(res.headers['content-type'], viaApp.headers['content-type']);
      assert.equal(res.headers['www-authenticate'], viaApp.headers['www-authenticate']);
      assert.deepEqual(JSON.parse(res.body), viaApp.json());
      assert.equal(await queued(), waiting);
    });
  }

  it('refuses a chunked body over the limit, and a batch over its own, with 413', async () => {
    const waiting = await queued();
    const big = JSON.stringify({ recipientId: 'u', body: 'x'.repeat(3000) });
    const single = await send(port, 'POST', '/notifications', { ...auth(), ...json }, big, true);
    assert.equal(single.status, 413, single.body);
    assert.equal(JSON.parse(single.body).type, 'urn:pushflow:problem:payload-too-large');
    const batch = JSON.stringify({ notifications: Array.from({ length: 10 }, () => ({ recipientId: 'u', body: 'x'.repeat(500) })) });
    for (const chunked of [false, true]) {
      const res = await send(port, 'POST', '/notifications/batch', { ...auth(), ...json }, batch, chunked);
      assert.equal(res.status, 413, res.body);
    }
    assert.equal(await queued(), waiting);
  });

  it('answers a status read on its fast path as the app does: found, not found, refused', async () => {
    const id = '0190b2c4-5555-7abc-8def-0123456789ab';
    const path = `/notifications/${id}/status`;
    const found = {
      notificationId: id,
      recipientId: 'user-1',
      status: 'DELIVERED',
      acceptedAt: '2026-12-04T10:00:00.000Z',
      updatedAt: '2026-12-04T10:00:01.000Z',
      history: [
        { status: 'ACCEPTED', at: '2026-12-04T10:00:00.000Z' },
        { status: 'DELIVERED', at: '2026-12-04T10:00:01.000Z', nodeId: 'node-a' },
      ],
      internal: 'dropped by the schema',
    };
    const answers = [
      () => ({ ok: true, result: found }),
      () => ({ ok: false, error: { code: 'NOT_FOUND', message: 'no such notification' } }),
    ];
    for (const answer of answers) {
      const before = injected;
      const [res, query] = await Promise.all([send(port, 'GET', path, auth()), answerNext(peer, gw.keys.queries, answer)]);
      assert.equal(injected, before, 'the app was asked: the fast path did not take a status read');
      assert.ok(query.type === 'notification.status' && query.notificationId === id);
      const [viaApp] = await Promise.all([
        gw.app.inject({ method: 'GET', url: path, headers: auth() }),
        answerNext(peer, gw.keys.queries, answer),
      ]);
      assert.equal(res.status, viaApp.statusCode, res.body);
      assert.equal(res.headers['content-type'], viaApp.headers['content-type']);
      assert.deepEqual(JSON.parse(res.body), viaApp.json());
    }
    // Declined, and the app's answer: no key, a bad id, an id the router would decode.
    for (const [url, headers] of [
      [path, {}],
      ['/notifications/not-an-id/status', auth()],
      [`/notifications/${id.replace('5', '%35')}/status`, auth()],
    ] as [string, Record<string, string>][]) {
      const before = injected;
      const res = await send(port, 'GET', url, headers);
      assert.equal(injected, before + 1, url);
      assert.ok([400, 401].includes(res.status) || res.status === 504, `${url}: ${res.status} ${res.body}`);
    }
    await peer.del(gw.keys.queries);
  });

  it('serves every other route through the app: status, headers and body', async () => {
    const cases: [string, string, Record<string, string>?][] = [
      ['GET', '/healthz'],
      ['GET', '/openapi.json'],
      ['GET', '/'],
      ['GET', '/no/such/route?x=1'],
      ['GET', '/notifications/not-an-id/status', auth()],
      ['GET', '/dashboard'],
      ['GET', '/docs'],
      ['GET', '/docs/static/index.html'],
      ['DELETE', '/notifications'],
    ];
    for (const [method, path, headers = {}] of cases) {
      const res = await send(port, method, path, headers);
      const viaApp = await gw.app.inject({ method: method as 'GET', url: path, headers });
      assert.equal(res.status, viaApp.statusCode, `${method} ${path}`);
      for (const name of ['content-type', 'location', 'cache-control'])
        assert.equal(res.headers[name], viaApp.headers[name], `${name} of ${method} ${path}`);
      assert.equal(res.body, viaApp.body, `${method} ${path}`);
    }
    const head = await send(port, 'HEAD', '/healthz');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it("reads headers up to Node's 16 KiB, past uWS's own 4 KiB", async () => {
    const cookie = Array.from({ length: 8 }, (_, i) => `c${i}=${'v'.repeat(1000)}`).join('; ');
    const res = await send(port, 'GET', '/healthz', { cookie });
    assert.equal(res.status, 200, res.body);
  });

  it('answers pipelined requests, in order', async () => {
    const { connect } = await import('node:net');
    const socket = connect(port, '127.0.0.1');
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString();
        if ((got.match(/HTTP\/1\.1 /g) ?? []).length >= 3) resolve(got);
      });
      socket.on('error', reject);
      setTimeout(() => resolve(got), 3000);
      const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;
      socket.write(get('/healthz') + get('/no-such') + get('/healthz'));
    });
    socket.destroy();
    assert.deepEqual(
      [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]),
      ['200', '404', '200'],
    );
  });

  it('answers Expect: 100-continue, so a client that waits for it sends its body', async () => {
    const res = await new Promise<Sent>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: 'POST', path: '/notifications', headers: { ...json, expect: '100-continue' } },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      // Node's client writes nothing of the body until the server says to go on.
      req.on('continue', () => req.end('{"recipientId":"u"}'));
    });
    assert.equal(res.status, 401, res.body);
  });

  it('answers a send with Redis away as the app does: 503 at once, with and without the rate limit', async () => {
    for (const env of [{ PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' }, {}] as Record<string, string>[]) {
      const down = await startGatewayWithoutRedis({ ...env, GATEWAY_HOST: '127.0.0.1' });
      try {
        const downPort = await down.listen(0);
        const body = '{"recipientId":"u"}';
        const started = Date.now();
        const res = await send(downPort, 'POST', '/notifications', { ...auth(), ...json }, body);
        assert.ok(Date.now() - started < 1000, 'must not wait for the reply timeout');
        const viaApp = await down.app.inject({ method: 'POST', url: '/notifications', headers: { ...auth(), ...json }, payload: body });
        assert.equal(res.status, 503, res.body);
        assert.equal(viaApp.statusCode, 503);
        assert.equal(res.headers['retry-after'], '1');
        assert.equal(res.headers['content-type'], viaApp.headers['content-type']);
        assert.deepEqual(JSON.parse(res.body), viaApp.json());
      } finally {
        await down.close();
      }
    }
  });

  it('refuses a port another process holds instead of sharing it', async () => {
    const second = await startGateway(server.url, uniquePrefix(), { env: { GATEWAY_HOST: '127.0.0.1' } });
    try {
      await assert.rejects(second.listen(port), /could not listen/);
    } finally {
      await second.close();
    }
  });

  it('sends a batch through the app, one notification an item', async () => {
    const before = injected;
    const body = JSON.stringify({ notifications: [{ recipientId: 'a' }, { recipientId: 'b' }] });
    const ids = ['0190b2c4-3333-7abc-8def-0123456789ab', '0190b2c4-4444-7abc-8def-0123456789ab'];
    const [res, messages] = await Promise.all([
      send(port, 'POST', '/notifications/batch', { ...auth(API_KEY), ...json }, body, true),
      answerEntry(peer, gw.keys.commands(0), (_msg, i) => accept(ids[i]!)()),
    ]);
    assert.equal(injected, before + 1);
    assert.equal(res.status, 202, res.body);
    assert.deepEqual(
      JSON.parse(res.body).notifications.map((n: { notificationId: string }) => n.notificationId),
      ids,
    );
    assert.equal(messages.length, 2);
  });
});
