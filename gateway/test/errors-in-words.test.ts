import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auth, gatewayWithPeer } from './peer.ts';

const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;

/** The first ten minutes (issue 15): a person reading an error learns what to fix. */
describe('gateway errors say what is wrong in words', { timeout: 20_000 }, () => {
  const fx = gatewayWithPeer();
  const streamLengths = async () => [await fx.peer.xlen(fx.gw.keys.commands(0)), await fx.peer.xlen(fx.gw.keys.queries)];
  const postRaw = (url: string, raw: string) =>
    fx.gw.app.inject({ method: 'POST', url, headers: { ...auth(), 'content-type': 'application/json' }, payload: raw });

  function refused(res: { statusCode: number; headers: Record<string, unknown>; body: string; json(): any }) {
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.headers['content-type'] as string, PROBLEM);
    const problem = res.json();
    assert.equal(problem.type, 'urn:pushflow:problem:validation-failed', res.body);
    return problem as { detail: string; errors: { path: string; message: string }[] };
  }

  it('GET / redirects to the dashboard, HEAD / too, and / stays out of the OpenAPI document', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await fx.gw.app.inject({ method, url: '/' });
      assert.equal(res.statusCode, 302, `${method} /`);
      assert.equal(res.headers.location, '/dashboard', `${method} /`);
    }
    const doc = (await fx.gw.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.paths['/'], undefined);
  });

  it('names an unknown field, at the top and inside a batch', async () => {
    const one = refused(
      await fx.gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u', foo: 1 } }),
    );
    assert.equal(one.detail, 'body has an unknown field "foo"');
    assert.deepEqual(one.errors, [{ path: '/body/foo', message: 'is an unknown field' }]);

    const batch = refused(
      await fx.gw.app.inject({
        method: 'POST',
        url: '/notifications/batch',
        headers: auth(),
        payload: { notifications: [{ recipientId: 'u' }, { recipientId: 'v', 'a/b': 1 }] },
      }),
    );
    assert.equal(batch.detail, 'body/notifications/1 has an unknown field "a/b"');
    assert.deepEqual(batch.errors, [{ path: '/body/notifications/1/a~1b', message: 'is an unknown field' }]);
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('says a truncated or broken body is not valid JSON, and where, without a word about __proto__', async () => {
    for (const [raw, position] of [
      ['{"recipientId":', 15],
      ['{"recipientId":"u",}', 19],
      ['{"recipientId":"u"}}', 19],
    ] as const) {
      const problem = refused(await postRaw('/notifications', raw));
      assert.match(problem.detail, new RegExp(`^body is not valid JSON: .*position ${position}\\b`), raw);
      assert.equal(problem.errors.length, 1, raw);
      assert.equal(problem.errors[0]?.path, '/body', raw);
      assert.match(problem.errors[0]!.message, /^is not valid JSON: /, raw);
      assert.doesNotMatch(JSON.stringify(problem), /__proto__|prototype/, raw);
    }
    // V8 quotes the text around a stray token instead of a position: that, once.
    const stray = refused(await postRaw('/notifications', '{"recipientId":x}'));
    assert.equal(stray.detail, `body is not valid JSON: Unexpected token 'x' in "{"recipientId":x}"`);
    const batch = refused(await postRaw('/notifications/batch', '{"notifications":[{"recipientId":"u"'));
    assert.match(batch.detail, /^body is not valid JSON: .*position 36\b/);
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('names the __proto__ or constructor.prototype key a body really holds, and where', async () => {
    for (const [raw, path, detail] of [
      ['{"recipientId":"u","__proto__":{"admin":true}}', '/body/__proto__', 'body has a forbidden key "__proto__"'],
      [
        '{"recipientId":"u","data":{"a":{"b":[{"__proto__":{"x":1}}]}}}',
        '/body/data/a/b/0/__proto__',
        'body has a forbidden key "__proto__"',
      ],
      ['\ufeff{"recipientId":"u","data":{"\\u005f_proto__":{"x":1}}}', '/body/data/__proto__', 'body has a forbidden key "__proto__"'],
      [
        '{"recipientId":"u","data":{"constructor":{"prototype":{"x":1}}}}',
        '/body/data/constructor/prototype',
        'body has a forbidden key "prototype" inside "constructor"',
      ],
    ] as const) {
      const problem = refused(await postRaw('/notifications', raw));
      assert.equal(problem.detail, detail, raw);
      assert.deepEqual(
        problem.errors.map((e) => e.path),
        [path],
        raw,
      );
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('says an id that is not a UUID is not a notification id, instead of quoting the regex', async () => {
    for (const id of ['abc', '01a20e56-', '01a20e56-1b2c-7d3e-8f40', 'x'.repeat(5000)]) {
      const problem = refused(await fx.gw.app.inject({ method: 'GET', url: `/notifications/${id}/status`, headers: auth() }));
      assert.equal(problem.detail, 'params/id is not a notification id (a UUID)', id.slice(0, 40));
      assert.deepEqual(problem.errors, [{ path: '/params/id', message: 'is not a notification id (a UUID)' }]);
    }
    assert.deepEqual(await streamLengths(), [0, 0]);
  });

  it('still asks for the API key before looking at the id', async () => {
    const res = await fx.gw.app.inject({ method: 'GET', url: '/notifications/abc/status' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().type, 'urn:pushflow:problem:unauthorized');
  });
});
