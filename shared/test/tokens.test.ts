import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { MAX_CLOCK_SKEW_SECONDS, signConnectToken, verifyConnectToken } from '../src/domain/tokens.ts';

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
  for (const t of [
    signConnectToken({ sub: 'alice', exp }, 'another-secret-that-is-long-enough!!'),
    tampered,
    'abc',
    '',
    'a.b.c',
    `${token}x`,
  ]) {
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

test('alg none (unsigned or signed), HS512, RS256 and a missing alg are TOKEN_INVALID', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url');
  const invalid = { ok: false, error: 'TOKEN_INVALID' };
  for (const alg of ['none', 'None', 'NONE']) {
    const h = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
    assert.deepEqual(verifyConnectToken(`${h}.${payload}.`, secret, { now }), invalid, alg);
    assert.deepEqual(verifyConnectToken(forge({ alg, typ: 'JWT' }, { sub: 'x', exp }), secret, { now }), invalid, `${alg} with a MAC`);
  }
  const hs512 = (() => {
    const h = Buffer.from(JSON.stringify({ alg: 'HS512' })).toString('base64url');
    return `${h}.${payload}.${createHmac('sha512', secret).update(`${h}.${payload}`).digest('base64url')}`;
  })();
  assert.deepEqual(verifyConnectToken(hs512, secret, { now }), invalid);
  // Key confusion: an RS256 header over a MAC made with the secret as if it were a public key.
  assert.deepEqual(verifyConnectToken(forge({ alg: 'RS256', typ: 'JWT' }, { sub: 'x', exp }), secret, { now }), invalid);
  assert.deepEqual(verifyConnectToken(forge({ typ: 'JWT' }, { sub: 'x', exp }), secret, { now }), invalid);
});

test('exp must be a finite number', () => {
  for (const bad of [{ sub: 'x' }, { sub: 'x', exp: String(exp) }, { sub: 'x', exp: null }, { sub: 'x', exp: [exp] }]) {
    assert.deepEqual(
      verifyConnectToken(forge({ alg: 'HS256' }, bad), secret, { now }),
      { ok: false, error: 'TOKEN_INVALID' },
      JSON.stringify(bad),
    );
  }
  const h = Buffer.from('{"alg":"HS256"}').toString('base64url');
  const p = Buffer.from('{"sub":"x","exp":1e999}').toString('base64url'); // parses to Infinity
  const infinite = `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
  assert.deepEqual(verifyConnectToken(infinite, secret, { now }), { ok: false, error: 'TOKEN_INVALID' });
});

test('nbf: in the future beyond the skew is refused, within it passes, non-numeric is refused', () => {
  const nowS = now / 1000;
  assert.equal(
    verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: nowS + 31 }), secret, { now, clockSkewSeconds: 30 }).ok,
    false,
  );
  assert.equal(
    verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: nowS + 29 }), secret, { now, clockSkewSeconds: 30 }).ok,
    true,
  );
  assert.equal(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: String(nowS) }), secret, { now }).ok, false);
});

test('exp within the skew passes, past it is TOKEN_EXPIRED; the skew is capped at 300 s', () => {
  const nowS = now / 1000;
  const at = (ago: number) => signConnectToken({ sub: 'x', exp: nowS - ago }, secret);
  assert.equal(verifyConnectToken(at(10), secret, { now, clockSkewSeconds: 30 }).ok, true);
  assert.deepEqual(verifyConnectToken(at(30), secret, { now, clockSkewSeconds: 30 }), { ok: false, error: 'TOKEN_EXPIRED' });
  assert.deepEqual(verifyConnectToken(at(1), secret, { now, clockSkewSeconds: 0 }), { ok: false, error: 'TOKEN_EXPIRED' });
  assert.equal(verifyConnectToken(at(299), secret, { now, clockSkewSeconds: 86_400 }).ok, true);
  assert.deepEqual(verifyConnectToken(at(301), secret, { now, clockSkewSeconds: 86_400 }), { ok: false, error: 'TOKEN_EXPIRED' });
  assert.equal(MAX_CLOCK_SKEW_SECONDS, 300);
});

test('with an audience required: a match (string or in an array) passes; a mismatch or no aud is TOKEN_INVALID', () => {
  const invalid = { ok: false, error: 'TOKEN_INVALID' };
  const audience = 'pushflow-prod';
  assert.equal(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: audience }), secret, { now, audience }).ok, true);
  assert.equal(
    verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: ['other', audience] }), secret, { now, audience }).ok,
    true,
  );
  assert.deepEqual(
    verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: 'pushflow-staging' }), secret, { now, audience }),
    invalid,
  );
  assert.deepEqual(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp }), secret, { now, audience }), invalid);
  assert.deepEqual(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: [] }), secret, { now, audience }), invalid);
  // Without a required audience, aud is not looked at.
  assert.equal(verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: 'anything' }), secret, { now }).ok, true);
});
