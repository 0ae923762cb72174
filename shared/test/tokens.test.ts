import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { signConnectToken, verifyConnectToken } from '../src/tokens.ts';

const secret = 'a-test-secret-that-is-long-enough-000';
const now = 1_800_000_000_000;
const exp = now / 1000 + 60;

function forge(header: object, payload: object, key = secret): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

test('a signed token verifies and yields its claims', () => {
  const token = signConnectToken({ sub: 'alice', exp }, secret);
  assert.deepEqual(verifyConnectToken(token, secret, { now }), { ok: true, claims: { sub: 'alice', exp } });
});

test('a token signed the standard way (any JWT library) verifies', () => {
  const token = forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'bob', exp, iat: exp - 60 });
  assert.equal(verifyConnectToken(token, secret, { now }).ok, true);
});

test('wrong secret, tampered payload, garbage: TOKEN_INVALID', () => {
  const token = signConnectToken({ sub: 'alice', exp }, secret);
  const [h, , s] = token.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory', exp })).toString('base64url')}.${s}`;
  for (const t of [signConnectToken({ sub: 'alice', exp }, 'another-secret-that-is-long-enough!!'), tampered, 'abc', '', 'a.b.c', `${token}x`]) {
    assert.deepEqual(verifyConnectToken(t, secret, { now }), { ok: false, error: 'TOKEN_INVALID' }, t);
  }
});

test('only HS256: alg none and other algorithms are refused', () => {
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url')}.`;
  assert.equal(verifyConnectToken(none, secret, { now }).ok, false);
  assert.equal(verifyConnectToken(forge({ alg: 'HS512' }, { sub: 'x', exp }), secret, { now }).ok, false);
});

test('exp is required; an expired token is TOKEN_EXPIRED, within the skew it still passes', () => {
  assert.deepEqual(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x' }), secret, { now }), { ok: false, error: 'TOKEN_INVALID' });
  const expired = signConnectToken({ sub: 'x', exp: now / 1000 - 120 }, secret);
  assert.deepEqual(verifyConnectToken(expired, secret, { now }), { ok: false, error: 'TOKEN_EXPIRED' });
  const justExpired = signConnectToken({ sub: 'x', exp: now / 1000 - 5 }, secret);
  assert.equal(verifyConnectToken(justExpired, secret, { now, clockSkewSeconds: 30 }).ok, true);
});

test('nbf in the future and a wrong audience are refused', () => {
  assert.equal(verifyConnectToken(signConnectToken({ sub: 'x', exp, nbf: now / 1000 + 600 }, secret), secret, { now }).ok, false);
  const aud = signConnectToken({ sub: 'x', exp, aud: 'pushflow' }, secret);
  assert.equal(verifyConnectToken(aud, secret, { now, audience: 'pushflow' }).ok, true);
  assert.equal(verifyConnectToken(aud, secret, { now, audience: 'other' }).ok, false);
});
