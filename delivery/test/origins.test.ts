import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import WebSocket from 'ws';
import { loadConfig } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { DeliveryConfigSchema } from '../src/config.ts';
import { createOriginPolicy } from '../src/origins.ts';
import { SECRET, ledgerLength, presenceIs, startTestNode, tokenFor, withTimeout, type TestNode } from './helpers.ts';

test("an empty list allows no Origin and the Host header's own host, nothing else", () => {
  const allow = createOriginPolicy('');
  assert.equal(allow('', 'push.example.com'), true);
  assert.equal(allow('https://push.example.com', 'push.example.com'), true);
  assert.equal(allow('https://PUSH.example.com', 'push.example.com'), true);
  assert.equal(allow('http://127.0.0.1:8080', '127.0.0.1:8080'), true);
  assert.equal(allow('http://127.0.0.1:8081', '127.0.0.1:8080'), false);
  assert.equal(allow('https://evil.example', 'push.example.com'), false);
  assert.equal(allow('null', 'push.example.com'), false);
  assert.equal(allow('https://push.example.com', ''), false);
  assert.equal(allow('https://push.example.com/path', 'push.example.com'), false);
});

test('patterns: * stands for one label or a port, never a dot; * alone allows all', () => {
  const allow = createOriginPolicy(' http://localhost:* , https://*.example.com,https://app.example.org ');
  assert.equal(allow('http://localhost:5173', 'x'), true);
  assert.equal(allow('http://localhost:', 'x'), true);
  assert.equal(allow('http://localhost', 'x'), false);
  assert.equal(allow('http://localhost.evil.com:5173', 'x'), false);
  assert.equal(allow('http://localhost:80.evil.com', 'x'), false);
  assert.equal(allow('https://localhost:5173', 'x'), false);
  assert.equal(allow('https://app.example.com', 'x'), true);
  assert.equal(allow('https://a.b.example.com', 'x'), false);
  assert.equal(allow('https://evilexample.com', 'x'), false);
  assert.equal(allow('https://APP.example.org', 'x'), true);
  assert.equal(allow('https://app.example.org.evil.com', 'x'), false);
  assert.equal(allow('', 'x'), true);
  assert.equal(createOriginPolicy('*')('https://anything.at.all', 'x'), true);
  // The node's own pages (/demo) connect whatever the list says.
  assert.equal(allow('http://push.internal:8080', 'push.internal:8080'), true);
  assert.equal(allow('http://push.internal:8081', 'push.internal:8080'), false);
  assert.equal(createOriginPolicy('https://a.example, *')('null', 'x'), true);
});

test('PUSHFLOW_ALLOWED_ORIGINS that is not a list of origin patterns stops the service naming it', () => {
  const base = { PUSHFLOW_CONNECT_SECRET: SECRET };
  for (const good of ['', '*', 'http://localhost:*', 'https://a.example.com, https://*.b.example.com:8443']) {
    assert.doesNotThrow(() => loadConfig(DeliveryConfigSchema, { ...base, PUSHFLOW_ALLOWED_ORIGINS: good }), good);
  }
  for (const bad of ['localhost', 'https://a.example.com/', 'https://a b', 'https://a.example.com,,x']) {
    assert.throws(() => loadConfig(DeliveryConfigSchema, { ...base, PUSHFLOW_ALLOWED_ORIGINS: bad }), /PUSHFLOW_ALLOWED_ORIGINS/, bad);
  }
});

/** 101 when the upgrade succeeded, else the HTTP status the node answered with. */
function upgradeStatus(url: string, origin?: string): Promise<number> {
  const ws = new WebSocket(url, origin === undefined ? {} : { origin });
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      ws.once('open', () => {
        ws.close(1000);
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once('error', reject);
    }),
    2000,
    'upgrade answer',
  );
}

describe('delivery: origin allowlist at the upgrade', () => {
  let redis: Server;
  let listed: TestNode;
  let plain: TestNode;

  before(async () => {
    redis = await redisServer();
    listed = await startTestNode(redis.url, { PUSHFLOW_ALLOWED_ORIGINS: 'http://localhost:*,https://app.example.com' });
    plain = await startTestNode(redis.url);
  });
  after(async () => {
    await listed?.close();
    await plain?.close();
    await redis?.stop();
  });

  it('upgrades listed origins, including any port of a wildcard port', async () => {
    assert.equal(await upgradeStatus(listed.url(await tokenFor('o1')), 'https://app.example.com'), 101);
    assert.equal(await upgradeStatus(listed.url(await tokenFor('o1')), 'http://localhost:5173'), 101);
    assert.equal(await upgradeStatus(listed.url(await tokenFor('o1')), 'http://localhost:3000'), 101);
  });

  it("upgrades the page of the node's own host even when the list does not name it", async () => {
    assert.equal(await upgradeStatus(listed.url(await tokenFor('o1')), `http://127.0.0.1:${listed.node.port}`), 101);
  });

  it('upgrades a request without an Origin header (not a browser page)', async () => {
    assert.equal(await upgradeStatus(listed.url(await tokenFor('o2'))), 101);
    assert.equal(await upgradeStatus(plain.url(await tokenFor('o2'))), 101);
  });

  it('answers a refused origin 403 with no WebSocket, and nothing changes', async () => {
    const ledgerBefore = await ledgerLength(listed);
    const refusedBefore = listed.node.server.stats.originRefused;
    const openedBefore = listed.node.server.stats.opened;
    for (const origin of ['https://evil.example', 'http://localhost.evil.com:5173', 'null', 'https://app.example.com.evil.com']) {
      assert.equal(await upgradeStatus(listed.url(await tokenFor('victim')), origin), 403, origin);
    }
    assert.equal(listed.node.server.stats.originRefused - refusedBefore, 4);
    assert.equal(listed.node.server.stats.opened, openedBefore);
    await presenceIs(listed, 'victim', 0);
    assert.equal(await ledgerLength(listed), ledgerBefore);
  });

  it("by default allows the page of the node's own host and refuses others", async () => {
    const host = `127.0.0.1:${plain.node.port}`;
    assert.equal(await upgradeStatus(plain.url(await tokenFor('o3')), `http://${host}`), 101);
    assert.equal(await upgradeStatus(plain.url(await tokenFor('o3')), 'http://127.0.0.1:1'), 403);
    assert.equal(await upgradeStatus(plain.url(await tokenFor('o3')), 'https://evil.example'), 403);
    await presenceIs(plain, 'o3', 0);
  });
});
