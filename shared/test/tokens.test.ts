import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { createConnectKeys } from '../src/domain/connect-keys.ts';
import { MAX_CLOCK_SKEW_SECONDS, signConnectToken, verifyConnectToken } from '../src/domain/tokens.ts';

const secret = 'a-test-secret-that-is-long-enough-000';
const now = 1_800_000_000_000;
const exp = now / 1000 + 60;

function forge(header: object, payload: object, key = secret): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

test('a signed token verifies and yields its claims', async () => {
  const token = await signConnectToken({ sub: 'alice', exp }, secret);
  assert.deepEqual(await verifyConnectToken(token, secret, { now }), { ok: true, claims: { sub: 'alice', exp } });
});

test('a token signed the standard way (any JWT library) verifies', async () => {
  const token = forge({ alg: 'HS256', typ: 'JWT' }, { sub: 'bob', exp, iat: exp - 60 });
  assert.equal((await verifyConnectToken(token, secret, { now })).ok, true);
});

test('wrong secret, tampered payload, garbage: TOKEN_INVALID', async () => {
  const token = await signConnectToken({ sub: 'alice', exp }, secret);
  const [h, , s] = token.split('.');
  const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory', exp })).toString('base64url')}.${s}`;
  for (const t of [
    await signConnectToken({ sub: 'alice', exp }, 'another-secret-that-is-long-enough!!'),
    tampered,
    'abc',
    '',
    'a.b.c',
    `${token}x`,
  ]) {
    assert.deepEqual(await verifyConnectToken(t, secret, { now }), { ok: false, error: 'TOKEN_INVALID' }, t);
  }
});

test('only HS256: alg none and other algorithms are refused', async () => {
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url')}.`;
  assert.equal((await verifyConnectToken(none, secret, { now })).ok, false);
  assert.equal((await verifyConnectToken(forge({ alg: 'HS512' }, { sub: 'x', exp }), secret, { now })).ok, false);
});

test('exp is required; an expired token is TOKEN_EXPIRED, within the skew it still passes', async () => {
  assert.deepEqual(await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x' }), secret, { now }), { ok: false, error: 'TOKEN_INVALID' });
  const expired = await signConnectToken({ sub: 'x', exp: now / 1000 - 120 }, secret);
  assert.deepEqual(await verifyConnectToken(expired, secret, { now }), { ok: false, error: 'TOKEN_EXPIRED' });
  const justExpired = await signConnectToken({ sub: 'x', exp: now / 1000 - 5 }, secret);
  assert.equal((await verifyConnectToken(justExpired, secret, { now, clockSkewSeconds: 30 })).ok, true);
});

test('nbf in the future and a wrong audience are refused', async () => {
  assert.equal(
    (await verifyConnectToken(await signConnectToken({ sub: 'x', exp, nbf: now / 1000 + 600 }, secret), secret, { now })).ok,
    false,
  );
  const aud = await signConnectToken({ sub: 'x', exp, aud: 'pushflow' }, secret);
  assert.equal((await verifyConnectToken(aud, secret, { now, audience: 'pushflow' })).ok, true);
  assert.equal((await verifyConnectToken(aud, secret, { now, audience: 'other' })).ok, false);
});

test('alg none (unsigned or signed), HS512, RS256 and a missing alg are TOKEN_INVALID', async () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url');
  const invalid = { ok: false, error: 'TOKEN_INVALID' };
  for (const alg of ['none', 'None', 'NONE']) {
    const h = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
    assert.deepEqual(await verifyConnectToken(`${h}.${payload}.`, secret, { now }), invalid, alg);
    assert.deepEqual(
      await verifyConnectToken(forge({ alg, typ: 'JWT' }, { sub: 'x', exp }), secret, { now }),
      invalid,
      `${alg} with a MAC`,
    );
  }
  const hs512 = (() => {
    const h = Buffer.from(JSON.stringify({ alg: 'HS512' })).toString('base64url');
    return `${h}.${payload}.${createHmac('sha512', secret).update(`${h}.${payload}`).digest('base64url')}`;
  })();
  assert.deepEqual(await verifyConnectToken(hs512, secret, { now }), invalid);
  // Key confusion: an RS256 header over a MAC made with the secret as if it were a public key.
  assert.deepEqual(await verifyConnectToken(forge({ alg: 'RS256', typ: 'JWT' }, { sub: 'x', exp }), secret, { now }), invalid);
  assert.deepEqual(await verifyConnectToken(forge({ typ: 'JWT' }, { sub: 'x', exp }), secret, { now }), invalid);
});

test('exp must be a finite number', async () => {
  for (const bad of [{ sub: 'x' }, { sub: 'x', exp: String(exp) }, { sub: 'x', exp: null }, { sub: 'x', exp: [exp] }]) {
    assert.deepEqual(
      await verifyConnectToken(forge({ alg: 'HS256' }, bad), secret, { now }),
      { ok: false, error: 'TOKEN_INVALID' },
      JSON.stringify(bad),
    );
  }
  const h = Buffer.from('{"alg":"HS256"}').toString('base64url');
  const p = Buffer.from('{"sub":"x","exp":1e999}').toString('base64url'); // parses to Infinity
  const infinite = `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
  assert.deepEqual(await verifyConnectToken(infinite, secret, { now }), { ok: false, error: 'TOKEN_INVALID' });
});

test('nbf: in the future beyond the skew is refused, within it passes, non-numeric is refused', async () => {
  const nowS = now / 1000;
  assert.equal(
    (await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: nowS + 31 }), secret, { now, clockSkewSeconds: 30 })).ok,
    false,
  );
  assert.equal(
    (await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: nowS + 29 }), secret, { now, clockSkewSeconds: 30 })).ok,
    true,
  );
  assert.equal((await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, nbf: String(nowS) }), secret, { now })).ok, false);
});

test('exp within the skew passes, past it is TOKEN_EXPIRED; the skew is capped at 300 s', async () => {
  const nowS = now / 1000;
  const at = (ago: number) => signConnectToken({ sub: 'x', exp: nowS - ago }, secret);
  assert.equal((await verifyConnectToken(await at(10), secret, { now, clockSkewSeconds: 30 })).ok, true);
  assert.deepEqual(await verifyConnectToken(await at(30), secret, { now, clockSkewSeconds: 30 }), { ok: false, error: 'TOKEN_EXPIRED' });
  assert.deepEqual(await verifyConnectToken(await at(1), secret, { now, clockSkewSeconds: 0 }), { ok: false, error: 'TOKEN_EXPIRED' });
  assert.equal((await verifyConnectToken(await at(299), secret, { now, clockSkewSeconds: 86_400 })).ok, true);
  assert.deepEqual(await verifyConnectToken(await at(301), secret, { now, clockSkewSeconds: 86_400 }), {
    ok: false,
    error: 'TOKEN_EXPIRED',
  });
  assert.equal(MAX_CLOCK_SKEW_SECONDS, 300);
});

test('with an audience required: a match (string or in an array) passes; a mismatch or no aud is TOKEN_INVALID', async () => {
  const invalid = { ok: false, error: 'TOKEN_INVALID' };
  const audience = 'pushflow-prod';
  assert.equal((await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: audience }), secret, { now, audience })).ok, true);
  assert.equal(
    (await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: ['other', audience] }), secret, { now, audience })).ok,
    true,
  );
  assert.deepEqual(
    await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: 'pushflow-staging' }), secret, { now, audience }),
    invalid,
  );
  assert.deepEqual(await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp }), secret, { now, audience }), invalid);
  assert.deepEqual(await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: [] }), secret, { now, audience }), invalid);
  // Without a required audience, aud is not looked at.
  assert.equal((await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp, aud: 'anything' }), secret, { now })).ok, true);
});

// Every algorithm a keyring accepts, each bound to its key: the hostile cases above, again.
const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

async function keyPair(alg: (typeof ALGORITHMS)[number]) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, pem: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), alg } };
}

const sign = (claims: object, key: CryptoKey | Uint8Array, header: { alg: string; kid?: string }) =>
  new SignJWT({ ...claims }).setProtectedHeader(header).sign(key);

test('RS256, ES256 and EdDSA tokens verify with their public keys from PEM, and only with them', async () => {
  const pairs = await Promise.all(ALGORITHMS.map(keyPair));
  const keys = await createConnectKeys({ secrets: [{ secret }], publicKeys: pairs.map(({ pem, alg }) => ({ pem, alg })) });
  for (const { alg, privateKey } of pairs) {
    const token = await sign({ sub: `via-${alg}`, exp }, privateKey, { alg });
    assert.deepEqual(await verifyConnectToken(token, keys, { now }), { ok: true, claims: { sub: `via-${alg}`, exp } }, alg);
    // Tampered, expired, without exp, with a wrong audience: refused as for HS256.
    const [h, , s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'mallory', exp })).toString('base64url')}.${s}`;
    assert.deepEqual(await verifyConnectToken(tampered, keys, { now }), { ok: false, error: 'TOKEN_INVALID' }, `${alg} tampered`);
    const expired = await sign({ sub: 'x', exp: now / 1000 - 120 }, privateKey, { alg });
    assert.deepEqual(await verifyConnectToken(expired, keys, { now }), { ok: false, error: 'TOKEN_EXPIRED' }, `${alg} expired`);
    const noExp = await sign({ sub: 'x' }, privateKey, { alg });
    assert.deepEqual(await verifyConnectToken(noExp, keys, { now }), { ok: false, error: 'TOKEN_INVALID' }, `${alg} without exp`);
    const aud = await sign({ sub: 'x', exp, aud: 'other' }, privateKey, { alg });
    assert.equal((await verifyConnectToken(aud, keys, { now, audience: 'pushflow' })).ok, false, `${alg} audience`);
  }
  // A key the keyring does not hold: refused, however well formed.
  const stranger = await keyPair('ES256');
  assert.equal((await verifyConnectToken(await sign({ sub: 'x', exp }, stranger.privateKey, { alg: 'ES256' }), keys, { now })).ok, false);
});

test('algorithm confusion: an HS256 token MACed with a public key, or a header naming another algorithm, is refused', async () => {
  const rsa = await keyPair('RS256');
  const keys = await createConnectKeys({ secrets: [{ secret }], publicKeys: [{ pem: rsa.pem, alg: 'RS256' }] });
  // The classic attack: the public key's PEM used as the HMAC secret.
  assert.deepEqual(await verifyConnectToken(forge({ alg: 'HS256' }, { sub: 'x', exp }, rsa.pem), keys, { now }), {
    ok: false,
    error: 'TOKEN_INVALID',
  });
  // An RS256 signature presented as PS256 or ES256: those algorithms have no key here.
  const rs = await sign({ sub: 'x', exp }, rsa.privateKey, { alg: 'RS256' });
  for (const alg of ['PS256', 'ES256', 'EdDSA', 'none']) {
    const [, p, s] = rs.split('.');
    const relabelled = `${Buffer.from(JSON.stringify({ alg })).toString('base64url')}.${p}.${s}`;
    assert.equal((await verifyConnectToken(relabelled, keys, { now })).ok, false, alg);
  }
  // alg none with no signature at all, against a keyring with every kind of key.
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url')}.`;
  assert.equal((await verifyConnectToken(none, keys, { now })).ok, false);
});

test('several HS256 secrets: a kid selects one, without a kid each is tried, an unknown kid is refused', async () => {
  const old = 'the-old-secret-that-is-long-enough-00000';
  const keys = await createConnectKeys({
    secrets: [
      { secret, kid: 'new' },
      { secret: old, kid: 'old' },
    ],
  });
  for (const [key, kid] of [
    [secret, 'new'],
    [old, 'old'],
  ] as const) {
    assert.equal((await verifyConnectToken(await signConnectToken({ sub: 'x', exp }, key, kid), keys, { now })).ok, true, kid);
    assert.equal((await verifyConnectToken(await signConnectToken({ sub: 'x', exp }, key), keys, { now })).ok, true, `${kid} without kid`);
  }
  // A kid binds the token to that secret: the other one's MAC is not accepted under it.
  assert.equal((await verifyConnectToken(await signConnectToken({ sub: 'x', exp }, old, 'new'), keys, { now })).ok, false);
  assert.equal((await verifyConnectToken(await signConnectToken({ sub: 'x', exp }, secret, 'gone'), keys, { now })).ok, false);
});

test('a JWKS URL: keys are fetched, picked by kid, and a new kid is fetched after the cooldown', async () => {
  const first = { ...(await keyPair('ES256')), kid: 'k1' };
  const second = { ...(await keyPair('EdDSA')), kid: 'k2' };
  let served = [{ ...first.jwk, kid: 'k1' }];
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const keys = await createConnectKeys({ secrets: [{ secret }], jwksUrl: url, jwksCooldownMs: 200 });
    const t1 = await sign({ sub: 'idp-user', exp }, first.privateKey, { alg: 'ES256', kid: 'k1' });
    assert.equal((await verifyConnectToken(t1, keys, { now })).ok, true);
    assert.equal((await verifyConnectToken(t1, keys, { now })).ok, true);
    assert.equal(fetches, 1, 'the JWKS is cached');
    // The provider rotates: a token with the new kid verifies once the set is fetched again.
    served = [
      { ...first.jwk, kid: 'k1' },
      { ...second.jwk, kid: 'k2' },
    ];
    await new Promise((r) => setTimeout(r, 250));
    const t2 = await sign({ sub: 'idp-user', exp }, second.privateKey, { alg: 'EdDSA', kid: 'k2' });
    assert.equal((await verifyConnectToken(t2, keys, { now })).ok, true);
    assert.equal(fetches, 2);
    // The key of one algorithm is never used for another, even when the kid matches.
    const [, p, s] = t2.split('.');
    assert.equal(
      (await verifyConnectToken(`${Buffer.from('{"alg":"ES256","kid":"k2"}').toString('base64url')}.${p}.${s}`, keys, { now })).ok,
      false,
    );
  } finally {
    server.close();
  }
});

test('an unreachable JWKS refuses the token instead of failing open', async () => {
  const pair = await keyPair('RS256');
  const keys = await createConnectKeys({ secrets: [{ secret }], jwksUrl: 'http://127.0.0.1:9/jwks.json' });
  assert.deepEqual(await verifyConnectToken(await sign({ sub: 'x', exp }, pair.privateKey, { alg: 'RS256' }), keys, { now }), {
    ok: false,
    error: 'TOKEN_INVALID',
  });
});
