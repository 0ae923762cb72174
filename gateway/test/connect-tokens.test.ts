import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createConnectKeys, verifyConnectToken } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { auth, SECRET, startGateway, type Gateway } from './peer.ts';

const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;

describe('POST /connect-tokens', { timeout: 20_000 }, () => {
  let server: Server;
  let gw: Gateway;

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix());
  });
  after(async () => {
    await gw?.close();
    await server?.stop();
  });

  it('signs a token for the recipient with the requested lifetime', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await gw.app.inject({
      method: 'POST',
      url: '/connect-tokens',
      headers: auth(),
      payload: { recipientId: 'user-7', ttlSeconds: 120 },
    });
    assert.equal(res.statusCode, 201, res.body);
    const { token, expiresAt } = res.json();
    const verified = await verifyConnectToken(token, SECRET);
    assert.ok(verified.ok, JSON.stringify(verified));
    assert.equal(verified.claims.sub, 'user-7');
    assert.ok(verified.claims.exp - before >= 120 && verified.claims.exp - before <= 121, `exp ${verified.claims.exp}`);
    assert.equal(verified.claims.exp - verified.claims.iat!, 120);
    assert.equal(new Date(expiresAt).getTime(), verified.claims.exp * 1000);
    assert.equal((await verifyConnectToken(token, 'another-secret-of-at-least-32-bytes!!!')).ok, false);
    assert.deepEqual(await verifyConnectToken(token, SECRET, { now: (verified.claims.exp + 60) * 1000 }), {
      ok: false,
      error: 'TOKEN_EXPIRED',
    });
  });

  it('defaults to one hour', async () => {
    const res = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
    assert.equal(res.statusCode, 201, res.body);
    const verified = await verifyConnectToken(res.json().token, SECRET);
    assert.ok(verified.ok);
    assert.equal(verified.claims.exp - verified.claims.iat!, 3600);
  });

  it('puts PUSHFLOW_TOKEN_AUDIENCE in aud when it is set, and no aud otherwise', async () => {
    const plain = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
    const plainClaims = JSON.parse(Buffer.from(plain.json().token.split('.')[1], 'base64url').toString());
    assert.equal('aud' in plainClaims, false);

    const withAud = await startGateway(server.url, uniquePrefix(), {
      env: { PUSHFLOW_TOKEN_AUDIENCE: 'pushflow-eu' },
      gatewayId: 'gw-aud',
    });
    try {
      const res = await withAud.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
      assert.equal(res.statusCode, 201, res.body);
      const { token } = res.json();
      const verified = await verifyConnectToken(token, SECRET, { audience: 'pushflow-eu' });
      assert.ok(verified.ok, JSON.stringify(verified));
      assert.equal(verified.claims.aud, 'pushflow-eu');
      assert.equal((await verifyConnectToken(token, SECRET, { audience: 'pushflow-us' })).ok, false);
    } finally {
      await withAud.close();
    }
  });

  it('puts PUSHFLOW_CONNECT_SECRET_ID in the header as kid, which a node with rotated secrets selects by', async () => {
    const plain = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
    assert.equal('kid' in headerOf(plain.json().token), false);
    const withKid = await startGateway(server.url, uniquePrefix(), { env: { PUSHFLOW_CONNECT_SECRET_ID: 'current' }, gatewayId: 'gw-kid' });
    try {
      const res = await withKid.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload: { recipientId: 'u' } });
      const { token } = res.json();
      assert.deepEqual(headerOf(token), { alg: 'HS256', typ: 'JWT', kid: 'current' });
      const other = 'another-secret-of-at-least-32-bytes!!!';
      assert.equal((await verifyConnectToken(token, await createConnectKeys({ secrets: [{ secret: SECRET, kid: 'current' }] }))).ok, true);
      // The kid binds it: under another secret of that id it does not verify.
      assert.equal(
        (
          await verifyConnectToken(
            token,
            await createConnectKeys({
              secrets: [
                { secret: other, kid: 'current' },
                { secret: SECRET, kid: 'old' },
              ],
            }),
          )
        ).ok,
        false,
      );
    } finally {
      await withKid.close();
    }
  });

  it('refuses a lifetime out of range, a bad recipient or extra fields', async () => {
    for (const payload of [
      { recipientId: 'u', ttlSeconds: 0 },
      { recipientId: 'u', ttlSeconds: 86_401 },
      { recipientId: 'u', ttlSeconds: 1.5 },
      { recipientId: 'u', ttlSeconds: '60' },
      { recipientId: 'a b' },
      { recipientId: 'u', admin: true },
    ]) {
      const res = await gw.app.inject({ method: 'POST', url: '/connect-tokens', headers: auth(), payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().type, 'urn:pushflow:problem:validation-failed');
    }
  });
});
