import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';
import { ConfigError, loadConfig, signConnectToken } from '@pushflow/shared';
import { checkedDeliveryConfig, DeliveryConfigSchema } from '../src/config.ts';
import { SECRET, connectClient, openClient, presenceIs, withTimeout, type TestNode, withTestNode } from './helpers.ts';

/**
 * Connect tokens from every source a node accepts (docs/api.md, "Signing connect tokens yourself"): its
 * secret and a rotated-out one, an identity provider's PEM key and its JWKS, on a real node.
 */
const OLD_SECRET = 'an-older-connect-secret-that-is-long-enough-0000';
const exp = () => Math.floor(Date.now() / 1000) + 60;
const sign = (sub: string, key: CryptoKey | Uint8Array, header: { alg: string; kid?: string }) =>
  new SignJWT({ sub, exp: exp() }).setProtectedHeader(header).sign(key);

describe('delivery: connect tokens from several keys', () => {
  let t: TestNode;
  let jwks: Server;
  const env: Record<string, string> = {};
  let pem: { privateKey: CryptoKey; pem: string };
  let idp: { privateKey: CryptoKey };
  let stranger: { privateKey: CryptoKey };

  before(async () => {
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    pem = { privateKey: ed.privateKey, pem: await exportSPKI(ed.publicKey) };
    const es = await generateKeyPair('ES256', { extractable: true });
    idp = { privateKey: es.privateKey };
    stranger = { privateKey: (await generateKeyPair('RS256')).privateKey };
    const body = JSON.stringify({ keys: [{ ...(await exportJWK(es.publicKey)), alg: 'ES256', kid: 'idp-1' }] });
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    Object.assign(env, {
      PUSHFLOW_CONNECT_SECRET_ID: 'current',
      PUSHFLOW_CONNECT_EXTRA_SECRETS: `previous:${OLD_SECRET}`,
      PUSHFLOW_CONNECT_PUBLIC_KEY: pem.pem,
      PUSHFLOW_CONNECT_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
    });
  });
  withTestNode(env, (node) => (t = node));
  after(() => jwks.close());

  it('accepts the current and the previous secret, with or without a kid, the PEM key and the JWKS', async () => {
    const tokens: [string, string][] = [
      ['current', await signConnectToken({ sub: 'k-current', exp: exp() }, SECRET, 'current')],
      ['previous', await signConnectToken({ sub: 'k-previous', exp: exp() }, OLD_SECRET, 'previous')],
      ['no-kid', await signConnectToken({ sub: 'k-no-kid', exp: exp() }, OLD_SECRET)],
      ['pem', await sign('k-pem', pem.privateKey, { alg: 'EdDSA' })],
      ['jwks', await sign('k-jwks', idp.privateKey, { alg: 'ES256', kid: 'idp-1' })],
    ];
    for (const [name, token] of tokens) {
      const client = await openClient(t.url(token));
      await presenceIs(t, `k-${name}`, 1);
      client.ws.close(1000);
    }
  });

  it('refuses a foreign key, algorithm confusion, a wrong kid and alg none with 4001', async () => {
    const noneHeader = Buffer.from('{"alg":"none"}').toString('base64url');
    const bad = [
      await sign('x-stranger', stranger.privateKey, { alg: 'RS256' }),
      // The PEM public key used as an HMAC secret: the classic confusion attack.
      await signConnectToken({ sub: 'x-confused', exp: exp() }, pem.pem),
      // The previous secret under the current secret's kid.
      await signConnectToken({ sub: 'x-kid', exp: exp() }, OLD_SECRET, 'current'),
      `${noneHeader}.${Buffer.from(JSON.stringify({ sub: 'x-none', exp: exp() })).toString('base64url')}.`,
    ];
    for (const token of bad) {
      const { code, reason } = await withTimeout(connectClient(t.url(token)).closed, 5000, 'refusal');
      assert.equal(code, 4001, token);
      assert.equal(reason, 'token invalid');
    }
    assert.equal(t.node.server.openConnections(), 0);
  });
});

describe('delivery: connect key settings', () => {
  const base = { PUSHFLOW_CONNECT_SECRET: 'x'.repeat(32) };
  const variableOf = (env: Record<string, string>) => {
    try {
      checkedDeliveryConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.variable;
      throw err;
    }
    return undefined;
  };

  it('stops on a bad key, naming its variable', async () => {
    const p384 = (await generateKeyPair('ES384', { extractable: true })).publicKey;
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    for (const [name, value] of [
      ['PUSHFLOW_CONNECT_EXTRA_SECRETS', 'no-kid-here-and-long-enough-to-be-a-secret-000'],
      ['PUSHFLOW_CONNECT_EXTRA_SECRETS', 'old:short'],
      ['PUSHFLOW_CONNECT_EXTRA_SECRETS', `bad kid:${'y'.repeat(32)}`],
      ['PUSHFLOW_CONNECT_SECRET_ID', 'has space'],
      ['PUSHFLOW_CONNECT_PUBLIC_KEY', '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----'],
      ['PUSHFLOW_CONNECT_PUBLIC_KEY', await exportSPKI(p384)],
      ['PUSHFLOW_CONNECT_PUBLIC_KEY', small],
      ['PUSHFLOW_CONNECT_JWKS_URL', 'file:///etc/passwd'],
    ] as const) {
      assert.equal(variableOf({ ...base, [name]: value }), name, `${name}=${value.slice(0, 40)}`);
    }
    // Several extra secrets, each with its kid, are fine.
    assert.equal(variableOf({ ...base, PUSHFLOW_CONNECT_EXTRA_SECRETS: `a:${'y'.repeat(32)},b.2:${'z'.repeat(40)}` }), undefined);
    assert.equal(loadConfig(DeliveryConfigSchema, base).PUSHFLOW_CONNECT_EXTRA_SECRETS, undefined);
  });
});
