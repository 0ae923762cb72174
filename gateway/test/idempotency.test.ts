import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SendCommand } from '@pushflow/shared';
import { canonicalJson, requestHash } from '../src/idempotency.ts';
import { answerNext, auth, gatewayWithPeer, OTHER_KEY } from './peer.ts';

const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;
const HEX64 = /^[0-9a-f]{64}$/;

describe('Idempotency-Key on POST /notifications', { timeout: 20_000 }, () => {
  const fx = gatewayWithPeer();

  const ok = () => ({
    ok: true,
    result: { notificationId: '0190b2c4-1111-7abc-8def-0123456789ab', status: 'ACCEPTED', acceptedAt: new Date().toISOString() },
  });

  /** Sends through the gateway, plays the dispatcher, returns the command it got. */
  async function send(payload: object, headers: Record<string, string>, reply: () => Record<string, unknown> = ok) {
    const [res, cmd] = await Promise.all([
      fx.gw.app.inject({ method: 'POST', url: '/notifications', headers, payload }),
      answerNext(fx.peer, fx.gw.keys.commands(0), reply),
    ]);
    return { res, cmd: cmd as SendCommand };
  }

  it('forwards the key scoped to the API key, and a hash of the body that ignores key order', async () => {
    const body = { recipientId: 'u', title: 'Hi', data: { b: [1, { y: 2, x: 1 }], a: null } };
    const reordered = { data: { a: null, b: [1, { x: 1, y: 2 }] }, title: 'Hi', recipientId: 'u' };
    const first = await send(body, { ...auth(), 'idempotency-key': 'order-42' });
    const again = await send(reordered, { ...auth(), 'idempotency-key': 'order-42' });
    const otherApiKey = await send(body, { ...auth(OTHER_KEY), 'idempotency-key': 'order-42' });
    const changed = await send({ ...body, title: 'Hi!' }, { ...auth(), 'idempotency-key': 'order-42' });
    for (const { res } of [first, again, otherApiKey, changed]) assert.equal(res.statusCode, 202, res.body);

    assert.match(first.cmd.idempotencyKey!, HEX64);
    assert.doesNotMatch(first.cmd.idempotencyKey!, /order-42/, 'the raw key does not travel');
    assert.match(first.cmd.requestHash!, HEX64);
    assert.equal(again.cmd.idempotencyKey, first.cmd.idempotencyKey);
    assert.equal(again.cmd.requestHash, first.cmd.requestHash, 'key order does not change the hash');
    assert.notEqual(otherApiKey.cmd.idempotencyKey, first.cmd.idempotencyKey, 'two API keys never share a key');
    assert.equal(otherApiKey.cmd.requestHash, first.cmd.requestHash);
    assert.notEqual(changed.cmd.requestHash, first.cmd.requestHash);
  });

  it('sends neither field without the header', async () => {
    const { res, cmd } = await send({ recipientId: 'u' }, auth());
    assert.equal(res.statusCode, 202);
    assert.equal('idempotencyKey' in cmd, false);
    assert.equal('requestHash' in cmd, false);
  });

  it('accepts 1 to 255 printable ASCII characters and refuses anything else with 400, appending nothing', async () => {
    for (const key of ['x', '~'.repeat(255), 'a key with spaces and !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}']) {
      const { res } = await send({ recipientId: 'u' }, { ...auth(), 'idempotency-key': key });
      assert.equal(res.statusCode, 202, key);
    }
    for (const key of ['', 'k'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const res = await fx.gw.app.inject({
        method: 'POST',
        url: '/notifications',
        headers: { ...auth(), 'idempotency-key': key },
        payload: { recipientId: 'u' },
      });
      assert.equal(res.statusCode, 400, JSON.stringify(key));
      assert.match(res.headers['content-type'] as string, PROBLEM);
      const problem = res.json();
      assert.equal(problem.type, 'urn:pushflow:problem:validation-failed');
      assert.equal(problem.errors[0].path, '/headers/idempotency-key', JSON.stringify(problem));
    }
    assert.equal(await fx.peer.xlen(fx.gw.keys.commands(0)), 0);
  });

  it('maps IDEMPOTENCY_KEY_REUSED to a 422 problem', async () => {
    const { res } = await send({ recipientId: 'u', title: 'other' }, { ...auth(), 'idempotency-key': 'reused' }, () => ({
      ok: false,
      error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
    }));
    assert.equal(res.statusCode, 422);
    assert.match(res.headers['content-type'] as string, PROBLEM);
    const problem = res.json();
    assert.equal(problem.type, 'urn:pushflow:problem:idempotency-key-reused');
    assert.equal(problem.status, 422);
    assert.equal(problem.instance, '/notifications');
    assert.match(problem.detail, /different body/);
  });
});

describe('canonical JSON of a request body', () => {
  it('sorts keys at every depth, keeps array order, drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 'é"' }], c: null } }), '{"a":{"c":null,"d":[3,{"y":"é\\"","z":1}]},"b":1}');
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.notEqual(requestHash({ data: [1, 2] }), requestHash({ data: [2, 1] }));
    assert.equal(requestHash({ x: 1, y: 2 }), requestHash({ y: 2, x: 1 }));
  });
});
