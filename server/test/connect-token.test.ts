import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createConnectKeys } from '@pushflow/shared';
import { signConnectToken as sharedSign, unverifiedClaims, verifyConnectToken } from '@pushflow/shared/tokens';
import { signConnectToken } from '../src/index.ts';

/**
 * Tokens signed by the library with WebCrypto, checked against the repository's jose-based
 * signing and verification (what the gateway signs and the delivery nodes verify). The stack
 * test connects with one to a real delivery node.
 */
const secret = 'a connect secret of at least thirty-two bytes';

test('the same token, byte for byte, as the gateway signs for the same claims (with kid and aud)', async () => {
  const now = Date.UTC(2026, 11, 3, 16, 0, 0);
  const iat = now / 1000;
  const ours = await signConnectToken({ secret, recipientId: 'alice', ttlSeconds: 600, secretId: 'k1', audience: 'app', now });
  const theirs = await sharedSign({ sub: 'alice', iat, exp: iat + 600, aud: 'app' }, secret, 'k1');
  assert.equal(ours.token, theirs);
  assert.equal(ours.expiresAt, '2026-12-03T16:10:00.000Z');
  assert.equal(
    (await signConnectToken({ secret, recipientId: 'bob', now })).token,
    await sharedSign({ sub: 'bob', iat, exp: iat + 3600 }, secret),
  );
});

test('verifyConnectToken accepts it: the secret, its kid, the audience; refuses another secret', async () => {
  const { token } = await signConnectToken({ secret, recipientId: 'alice', ttlSeconds: 60, secretId: 'k1', audience: 'app' });
  const verified = await verifyConnectToken(token, await createConnectKeys({ secrets: [{ secret, kid: 'k1' }] }), { audience: 'app' });
  assert.ok(verified.ok, JSON.stringify(verified));
  assert.equal(verified.claims.sub, 'alice');
  assert.equal(verified.claims.exp - (verified.claims.iat ?? 0), 60);
  assert.deepEqual(await verifyConnectToken(token, await createConnectKeys({ secrets: [{ secret, kid: 'k2' }] })), {
    ok: false,
    error: 'TOKEN_INVALID',
  });
  assert.deepEqual(await verifyConnectToken(token, `${secret}!`), { ok: false, error: 'TOKEN_INVALID' });
  assert.deepEqual(await verifyConnectToken(token, secret, { audience: 'other' }), { ok: false, error: 'TOKEN_INVALID' });
  assert.deepEqual(unverifiedClaims(token)?.aud, 'app');
});

test('an expired token is refused as expired', async () => {
  const { token } = await signConnectToken({ secret, recipientId: 'alice', ttlSeconds: 1, now: Date.now() - 120_000 });
  assert.deepEqual(await verifyConnectToken(token, secret), { ok: false, error: 'TOKEN_EXPIRED' });
});

test('refuses what no node would accept: a short secret, no recipient, a lifetime that is not whole seconds', async () => {
  await assert.rejects(signConnectToken({ secret: 'short', recipientId: 'alice' }), /at least 32 bytes/);
  await assert.rejects(signConnectToken({ secret, recipientId: '' }), /recipientId/);
  await assert.rejects(signConnectToken({ secret, recipientId: 'alice', ttlSeconds: 0 }), /ttlSeconds/);
  await assert.rejects(signConnectToken({ secret, recipientId: 'alice', ttlSeconds: 1.5 }), /ttlSeconds/);
});
