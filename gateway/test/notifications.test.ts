import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerNext, auth, gatewayWithPeer, OTHER_KEY } from './peer.ts';

const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;

describe('gateway notifications API', { timeout: 20_000 }, () => {
  const fx = gatewayWithPeer();

  const streamLengths = async () => [await fx.peer.xlen(fx.gw.keys.commands(0)), await fx.peer.xlen(fx.gw.keys.queries)];

  it('accepts a notification: 202 with the reply of the dispatcher, command on the stream', async () => {
    const acceptedAt = new Date().toISOString();
    const notificationId = '0190b2c4-1111-7abc-8def-0123456789ab';
    const [res, cmd] = await Promise.all([
      fx.gw.app.inject({
        method: 'POST',
        url: '/notifications',
        headers: auth(),
        payload: { recipientId: 'user-1', title: 'Hi', body: 'there', data: { n: 1, nested: { a: [1] } } },
      }),
      answerNext(fx.peer, fx.gw.keys.commands(0), () => ({ ok: true, result: { notificationId, status: 'ACCEPTED', acceptedAt } })),
    ]);
    assert.equal(res.statusCode, 202, res.body);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    assert.deepEqual(res.json(), { notificationId, status: 'ACCEPTED', acceptedAt });

    assert.equal(cmd.type, 'notification.send');
    assert.ok(cmd.type === 'notification.send');
    assert.deepEqual(cmd.notification, { recipientId: 'user-1', title: 'Hi', body: 'there', data: { n: 1, nested: { a: [1] } } });
    assert.equal(cmd.replyTo, fx.gw.keys.replies(`test-${process.pid}`));
    assert.ok(cmd.correlationId.length > 0);
    assert.ok(Math.abs(cmd.sentAt - Date.now()) < 5000);
  });

  it('accepts every configured key', async () => {
    for (const key of [OTHER_KEY]) {
      const [res] = await Promise.all([
        fx.gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(key), payload: { recipientId: 'u' } }),
        answerNext(fx.peer, fx.gw.keys.commands(0), () => ({
          ok: true,
          result: { notificationId: 'n-2', status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
        })),
      ]);
      assert.equal(res.statusCode, 202, res.body);
    }
  });

  it('answers 401 problem without a key or with a wrong one, appending nothing', async () => {
    const cases: Record<string, string>[] = [
      {},
      auth('not-a-valid-key-at-all'),
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
    ];
    for (const headers of cases) {
      for (const route of [
        { method: 'POST' as const, url: '/notifications', payload: { recipientId: 'u' } },
        { method: 'GET' as const, url: '/notifications/0190b2c4-1111-7abc-8def-0123456789ab/status' },
        { method: 'POST' as const, url: '/connect-tokens', payload: { recipientId: 'u' } },
      ]) {
        const res = await fx.gw.app.inject({ ...route, headers });
        assert.equal(res.statusCode, 401, `${route.url} ${JSON.stringify(headers)}`);
        assert.match(res.headers['content-type'] as string, PROBLEM);
        assert.equal(res.headers['www-authenticate'], 'Bearer');
        const body = res.json();
        assert.equal(body.type, 'urn:pushflow:problem:unauthorized');
        assert.equal(body.status, 401);
        assert.equal(body.instance, route.url);
      }
    }
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('answers 400 validation problems for bad bodies, appending nothing', async () => {
    const bad: [unknown, string][] = [
      [{ title: 'no recipient' }, '/body/recipientId'],
      [{ recipientId: 'has space' }, '/body/recipientId'],
      [{ recipientId: 'u', extra: 1 }, '/body/extra'],
      [{ recipientId: 'u', data: 'not an object' }, '/body/data'],
      [{ recipientId: 'u', data: [1, 2] }, '/body/data'],
      [{ recipientId: 42 }, '/body/recipientId'],
      [{ recipientId: 'x'.repeat(129) }, '/body/recipientId'],
    ];
    for (const [payload, path] of bad) {
      const res = await fx.gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: payload as object });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.match(res.headers['content-type'] as string, PROBLEM);
      const body = res.json();
      assert.equal(body.type, 'urn:pushflow:problem:validation-failed');
      assert.equal(body.title, 'Request validation failed');
      assert.equal(body.status, 400);
      assert.ok(Array.isArray(body.errors) && body.errors.length > 0, JSON.stringify(body));
      assert.equal(body.errors[0].path, path, JSON.stringify(body));
      assert.equal(typeof body.errors[0].message, 'string');
    }
    const malformed = await fx.gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: '{"recipientId":',
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().type, 'urn:pushflow:problem:validation-failed');
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('answers 413 for a body over 64 KiB and 415 for a body that is not JSON', async () => {
    const big = await fx.gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: auth(),
      payload: { recipientId: 'u', body: 'x'.repeat(70_000) },
    });
    assert.equal(big.statusCode, 413);
    assert.match(big.headers['content-type'] as string, PROBLEM);
    assert.equal(big.json().type, 'urn:pushflow:problem:payload-too-large');

    const text = await fx.gw.app.inject({
      method: 'POST',
      url: '/notifications',
      headers: { ...auth(), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().type, 'urn:pushflow:problem:unsupported-media-type');
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('answers 404 problem for an unknown route', async () => {
    const res = await fx.gw.app.inject({ method: 'GET', url: '/nope?x=1' });
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, PROBLEM);
    assert.deepEqual(res.json(), {
      type: 'urn:pushflow:problem:not-found',
      title: 'Not found',
      status: 404,
      detail: 'No route for GET /nope?x=1',
      instance: '/nope?x=1',
    });
  });

  it('returns the status the dispatcher found', async () => {
    const id = '0190b2c4-2222-7abc-8def-0123456789ab';
    const status = {
      notificationId: id,
      recipientId: 'user-1',
      status: 'DELIVERED',
      acceptedAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:01.000Z',
      history: [
        { status: 'ACCEPTED', at: '2025-01-01T00:00:00.000Z' },
        { status: 'DISPATCHED', at: '2025-01-01T00:00:00.500Z' },
        { status: 'DELIVERED', at: '2025-01-01T00:00:01.000Z', nodeId: 'node-a' },
      ],
    };
    const [res, query] = await Promise.all([
      fx.gw.app.inject({ method: 'GET', url: `/notifications/${id}/status`, headers: auth() }),
      answerNext(fx.peer, fx.gw.keys.queries, () => ({ ok: true, result: status })),
    ]);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), status);
    assert.ok(query.type === 'notification.status');
    assert.equal(query.notificationId, id);
    assert.equal(await fx.peer.xlen(fx.gw.keys.commands(0)), 0, 'a status query must not go to the commands stream');
  });

  it('answers 404 problem when the dispatcher does not know the id', async () => {
    const id = '0190b2c4-3333-7abc-8def-0123456789ab';
    const [res] = await Promise.all([
      fx.gw.app.inject({ method: 'GET', url: `/notifications/${id}/status`, headers: auth() }),
      answerNext(fx.peer, fx.gw.keys.queries, () => ({ ok: false, error: { code: 'NOT_FOUND', message: 'no such notification' } })),
    ]);
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, PROBLEM);
    assert.equal(res.json().type, 'urn:pushflow:problem:not-found');
    assert.equal(res.json().instance, `/notifications/${id}/status`);
  });

  it('answers 400 for a malformed status id without asking the dispatcher', async () => {
    const res = await fx.gw.app.inject({ method: 'GET', url: '/notifications/not-a-uuid/status', headers: auth() });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().type, 'urn:pushflow:problem:validation-failed');
    assert.equal(res.json().errors[0].path, '/params/id');
    assert.equal(await fx.peer.xlen(fx.gw.keys.queries), 0);
  });

  it('answers 500 problem, not garbage, when a reply does not match the schema', async () => {
    const [res] = await Promise.all([
      fx.gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u' } }),
      answerNext(fx.peer, fx.gw.keys.commands(0), () => ({ ok: true, result: { something: 'else' } })),
    ]);
    assert.equal(res.statusCode, 500);
    assert.deepEqual(Object.keys(res.json()).sort(), ['instance', 'status', 'title', 'type']);
    assert.equal(res.json().type, 'urn:pushflow:problem:internal');
  });

  it('serves health and readiness without a key', async () => {
    const health = await fx.gw.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await fx.gw.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready' });
  });
});
