import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signConnectToken } from '@pushflow/shared';
import { hardFrameCap } from '../src/socket-handlers.ts';
import { SECRET, connectClient, openClient, tokenFor, withTimeout, type TestNode, withTestNode } from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

describe('delivery: connecting', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_MAX_FRAME_BYTES: '1024' }, (node) => (t = node));

  it('registers a valid connection in presence and removes it on close', async () => {
    const key = t.keys.presence('alice');
    const a = await openClient(t.url(await tokenFor('alice')));
    await waitFor('presence 1', async () => ((await t.redis.hget(key, t.node.nodeId)) === '1' ? true : undefined), 2000);
    const b = await openClient(t.url(await tokenFor('alice')));
    await waitFor('presence 2', async () => ((await t.redis.hget(key, t.node.nodeId)) === '2' ? true : undefined), 2000);
    a.ws.close(1000);
    await waitFor('presence back to 1', async () => ((await t.redis.hget(key, t.node.nodeId)) === '1' ? true : undefined), 2000);
    b.ws.close(1000);
    await waitFor('field gone', async () => ((await t.redis.hexists(key, t.node.nodeId)) === 0 ? true : undefined), 2000);
    assert.equal(await t.redis.exists(key), 0);
    // Each change is published with its new count, for the dispatchers' route tables.
    const changes = (await t.redis.xrange(t.keys.presenceChanges, '-', '+')).map(([, f]) => f).filter((f) => f[3] === 'alice');
    assert.deepEqual(
      changes,
      ['1', '2', '1', '0'].map((count) => ['node', t.node.nodeId, 'recipient', 'alice', 'count', count]),
    );
  });

  it("takes an upgrade whose headers are over uWS's own 4 KiB, as Node's HTTP would (16 KiB)", async () => {
    // A browser sends the cookies of the domain with the upgrade: 8 KiB of them is not unusual.
    const cookie = Array.from({ length: 8 }, (_, i) => `c${i}=${'v'.repeat(1000)}`).join('; ');
    const client = await openClient(t.url(await tokenFor('cookie-monster')), { headers: { cookie } });
    client.ws.close();
  });

  it('closes a token with a bad signature with 4001', async () => {
    const forged = await signConnectToken({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 60 }, 'x'.repeat(32));
    const c = connectClient(t.url(forged));
    const { code, reason } = await withTimeout(c.closed, 2000, 'close');
    assert.equal(code, 4001);
    assert.equal(reason, 'token invalid');
    assert.equal(await t.redis.exists(t.keys.presence('mallory')), 0);
  });

  it('closes a missing token with 4001 "token missing", a garbage one with 4001 "token invalid"', async () => {
    const base = `ws://127.0.0.1:${t.node.port}/ws`;
    for (const [url, reason] of [
      [base, 'token missing'],
      [`${base}?token=`, 'token missing'],
      [`${base}?other=1`, 'token missing'],
      [t.url('not.a.jwt'), 'token invalid'],
      [t.url(' '), 'token invalid'],
    ] as const) {
      const closed = await withTimeout(connectClient(url).closed, 2000, 'close');
      assert.deepEqual(closed, { code: 4001, reason }, url);
    }
  });

  it('closes a token whose subject is not a valid recipient id with 4001', async () => {
    const c = connectClient(t.url(await signConnectToken({ sub: 'a b*', exp: Math.floor(Date.now() / 1000) + 60 }, SECRET)));
    assert.equal((await withTimeout(c.closed, 2000, 'close')).code, 4001);
  });

  it('closes an expired token with 4003', async () => {
    const c = connectClient(t.url(await tokenFor('bob', -120)));
    const { code, reason } = await withTimeout(c.closed, 2000, 'close');
    assert.equal(code, 4003);
    assert.equal(reason, 'token expired');
    assert.equal(await t.redis.exists(t.keys.presence('bob')), 0);
  });

  it('closes a client frame over PUSHFLOW_MAX_FRAME_BYTES with 1009', async () => {
    const c = await openClient(t.url(await tokenFor('carol')));
    c.ws.send(JSON.stringify({ type: 'ack', notificationId: 'x', pad: 'p'.repeat(1024) }));
    const { code } = await withTimeout(c.closed, 2000, 'close');
    assert.equal(code, 1009);
    await waitFor('presence gone', async () => ((await t.redis.exists(t.keys.presence('carol'))) === 0 ? true : undefined), 2000);
  });

  it('still drops a client sending past the hard cap', async () => {
    const c = await openClient(t.url(await tokenFor('carol')));
    c.ws.send('p'.repeat(hardFrameCap(1024) + 1));
    const { code } = await withTimeout(c.closed, 2000, 'close');
    assert.ok(code === 1009 || code === 1006, `closed with ${code}`);
  });

  it('accepts a frame at the limit, ignores invalid text frames and counts them', async () => {
    const c = await openClient(t.url(await tokenFor('dave')));
    const before = t.node.server.stats.invalidFrames;
    c.ws.send('{"type":"ack"'.padEnd(1024, ' ')); // exactly the limit, not JSON
    c.ws.send('not json');
    c.ws.send(JSON.stringify({ type: 'subscribe', topic: 'all' }));
    c.ws.send(JSON.stringify({ type: 'ack', notificationId: 42 }));
    await waitFor('invalid frames counted', () => (t.node.server.stats.invalidFrames - before === 4 ? true : undefined), 2000);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.ws.close(1000);
    await c.closed;
  });

  it("keeps this node's heartbeat in the nodes set", async () => {
    const first = await t.redis.zscore(t.keys.nodes, t.node.nodeId);
    assert.ok(first !== null, 'heartbeat present');
    assert.ok(Math.abs(Date.now() - Number(first)) < 5000);
    const later = await waitFor(
      'heartbeat advances',
      async () => {
        const s = await t.redis.zscore(t.keys.nodes, t.node.nodeId);
        return s !== null && Number(s) > Number(first) ? Number(s) : undefined;
      },
      2000,
    );
    assert.ok(later > Number(first));
  });

  it('reports its open connections with each heartbeat (node-connections, for the dashboard)', async () => {
    const count = () => t.redis.hget(t.keys.nodeConnections, t.node.nodeId);
    await waitFor('no connections reported', async () => ((await count()) === '0' ? true : undefined), 2000);
    const a = await openClient(t.url(await tokenFor('counted-1')));
    const b = await openClient(t.url(await tokenFor('counted-2')));
    await waitFor('two connections reported', async () => ((await count()) === '2' ? true : undefined), 2000);
    a.ws.close(1000);
    b.ws.close(1000);
    await waitFor('back to none', async () => ((await count()) === '0' ? true : undefined), 2000);
  });

  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`http://127.0.0.1:${t.node.port}/healthz`, { signal: AbortSignal.timeout(2000) });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${t.node.port}/readyz`, { signal: AbortSignal.timeout(2000) });
    assert.equal(ready.status, 200);
    const missing = await fetch(`http://127.0.0.1:${t.node.port}/nope`, { signal: AbortSignal.timeout(2000) });
    assert.equal(missing.status, 404);
  });
});

describe('delivery: connecting with PUSHFLOW_TOKEN_AUDIENCE set', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_TOKEN_AUDIENCE: 'pf-prod', PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS: '5' }, (node) => (t = node));
  const exp = () => Math.floor(Date.now() / 1000) + 60;

  it('accepts a token for this audience and closes others with 4001', async () => {
    const ok = await openClient(t.url(await signConnectToken({ sub: 'aud-ok', exp: exp(), aud: 'pf-prod' }, SECRET)));
    for (const token of [
      await signConnectToken({ sub: 'aud-bad', exp: exp(), aud: 'pf-staging' }, SECRET),
      await signConnectToken({ sub: 'aud-bad', exp: exp() }, SECRET),
    ]) {
      assert.equal((await withTimeout(connectClient(t.url(token)).closed, 2000, 'close')).code, 4001);
    }
    assert.equal(await t.redis.exists(t.keys.presence('aud-bad')), 0);
    assert.equal(ok.ws.readyState, ok.ws.OPEN);
    ok.ws.close(1000);
  });

  it('takes PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS into account at connect', async () => {
    const now = Math.floor(Date.now() / 1000);
    const within = await openClient(t.url(await signConnectToken({ sub: 'skew', exp: now - 2, aud: 'pf-prod' }, SECRET)));
    within.ws.close(1000);
    const past = connectClient(t.url(await signConnectToken({ sub: 'skew', exp: now - 30, aud: 'pf-prod' }, SECRET)));
    assert.equal((await withTimeout(past.closed, 2000, 'close')).code, 4003);
  });
});

describe('delivery: token limits (PUSHFLOW_MAX_RECIPIENT_ID_LENGTH, PUSHFLOW_MAX_TOKEN_TTL_SECONDS)', () => {
  let t: TestNode;
  withTestNode(
    { PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: '8', PUSHFLOW_MAX_TOKEN_TTL_SECONDS: '600', PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS: '5' },
    (node) => (t = node),
  );
  const now = () => Math.floor(Date.now() / 1000);

  it('refuses a `sub` longer than the configured recipient id limit with 4001, and takes one at the limit', async () => {
    const at = await openClient(t.url(await signConnectToken({ sub: 'x'.repeat(8), exp: now() + 60 }, SECRET)));
    for (const sub of ['x'.repeat(9), 'y'.repeat(200)]) {
      const closed = await withTimeout(
        connectClient(t.url(await signConnectToken({ sub, exp: now() + 60 }, SECRET))).closed,
        2000,
        'close',
      );
      assert.deepEqual(closed, { code: 4001, reason: 'token invalid: sub too long' }, sub);
      assert.equal(await t.redis.exists(t.keys.presence(sub)), 0, 'no presence for a refused socket');
    }
    assert.equal(at.ws.readyState, at.ws.OPEN);
    at.ws.close(1000);
  });

  it('refuses a self-signed token whose exp lies further ahead than PUSHFLOW_MAX_TOKEN_TTL_SECONDS plus the skew', async () => {
    const within = await openClient(t.url(await signConnectToken({ sub: 'ttl-ok', exp: now() + 600 }, SECRET)));
    for (const exp of [now() + 620, now() + 100 * 365 * 86_400, 1e308]) {
      const closed = await withTimeout(connectClient(t.url(await signConnectToken({ sub: 'ttl-far', exp }, SECRET))).closed, 2000, 'close');
      assert.deepEqual(closed, { code: 4001, reason: 'token invalid: exp too far ahead' }, String(exp));
    }
    assert.equal(await t.redis.exists(t.keys.presence('ttl-far')), 0);
    assert.equal(within.ws.readyState, within.ws.OPEN);
    within.ws.close(1000);
  });
});
