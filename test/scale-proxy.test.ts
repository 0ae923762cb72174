import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createRedis, makeKeys, type RedisClient } from '@pushflow/shared';
import { assertAllSettled, burst } from './faults/support.ts';
import { collectPageErrors, launchBrowser, screenshot } from './harness/browser.ts';
import {
  ConfRewriteError,
  nginxSkipReason,
  requireNginx,
  rewriteForLoopback,
  scaleConfPath,
  startScaleProxy,
  type ScaleProxy,
} from './harness/nginx.ts';
import { startStack, type ServiceProcess, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * compose.yaml's scale profile proxy run for real: Debian's nginx on deploy/compose/nginx.conf
 * (only Docker's names, ports and resolver rewritten, harness/nginx.ts) in front of two
 * gateways and three delivery nodes. Everything goes through the proxy: the API on its
 * :3000, sockets and the demo page on its :8080. The services' own ports are read only to
 * tell which process answered (gateway /metrics, node presence in Redis).
 */
const skip = nginxSkipReason();

let stack: Stack;
let gateway2: ServiceProcess;
let proxy: ScaleProxy;
let redis: RedisClient;
/** POSTs /notifications sent before the burst: their documents share the database with it. */
let sentBefore = 0;
const sockets: Client[] = [];

const portOf = (url: string) => Number(new URL(url).port);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${proxy.gatewayUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.apiKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function send(recipientId: string, title: string): Promise<string> {
  sentBefore++;
  const res = await api('POST', '/notifications', { recipientId, title });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.notificationId;
}

async function waitForStatus(id: string, status: string): Promise<any> {
  return waitFor(`${id} to be ${status}`, async () => {
    const res = await api('GET', `/notifications/${id}/status`);
    return res.status === 200 && res.body.status === status ? res.body : undefined;
  });
}

/** A gateway's count of requests to a route with a status, from its own /metrics. */
async function requestCount(gateway: string, method: string, route: string, status: number): Promise<number> {
  const text = await (await fetch(`${gateway}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^pushflow_http_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)) {
    const labels = m[1]!;
    if (labels.includes(`method="${method}"`) && labels.includes(`route="${route}"`) && labels.includes(`status_code="${status}"`))
      total += Number(m[2]);
  }
  return total;
}

const gatewayUrls = () => [stack.gatewayUrl, `http://127.0.0.1:${gateway2.env.GATEWAY_PORT}`];

interface Client {
  recipientId: string;
  ws: WebSocket;
  /** The node holding it, by its presence in Redis. */
  nodeId: string;
  frames: any[];
}

/** Which node records presence for the recipient (undefined until one does). */
async function nodeHolding(recipientId: string): Promise<string | undefined> {
  const counts = await redis.hgetall(makeKeys(stack.prefix).presence(recipientId));
  const holding = Object.entries(counts)
    .filter(([, n]) => Number(n) > 0)
    .map(([node]) => node);
  assert.ok(holding.length <= 1, `${recipientId} is present on ${holding.join(', ')}`);
  return holding[0];
}

/** A socket through the proxy's :8080, once the node holding it recorded presence. */
async function connect(recipientId: string, headers: Record<string, string> = {}): Promise<Client> {
  const tokenRes = await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 });
  assert.equal(tokenRes.status, 201, JSON.stringify(tokenRes.body));
  const ws = new WebSocket(`${proxy.deliveryUrl.replace(/^http/, 'ws')}/ws?token=${encodeURIComponent(tokenRes.body.token)}`, { headers });
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const nodeId = await waitFor(`presence of ${recipientId}`, () => nodeHolding(recipientId));
  const client = { recipientId, ws, nodeId, frames };
  sockets.push(client);
  return client;
}

const tally = (clients: Client[]) => {
  const byNode: Record<string, number> = Object.fromEntries(stack.nodeIds.map((n) => [n, 0]));
  for (const c of clients) byNode[c.nodeId]!++;
  return byNode;
};

test('the rewrite refuses a conf with an upstream server or a listen it has no target for, or a target the conf lacks', () => {
  const conf = readFileSync(scaleConfPath, 'utf8');
  const upstreams = { 'gateway-1:3000': 1, 'gateway-2:3000': 2, 'delivery-1:8080': 3, 'delivery-2:8080': 4, 'delivery-3:8080': 5 };
  const listens = { '3000': 6, '8080': 7, '127.0.0.1:8099': 8 };
  const rewrite = (text: string, more: Partial<typeof upstreams> & Record<string, number> = {}) =>
    rewriteForLoopback(text, { upstreams: { ...upstreams, ...more }, listens, tempDir: '/tmp/x' });
  assert.doesNotThrow(() => rewrite(conf));
  assert.throws(
    () => rewrite(conf.replace('server delivery-3:8080 resolve;', '$&\n    server delivery-4:8080 resolve;')),
    ConfRewriteError,
  );
  assert.throws(() => rewrite(conf.replace('listen 8080;', '$&\n    listen 8443;')), ConfRewriteError);
  assert.throws(() => rewrite(conf, { 'gateway-3:3000': 9 }), ConfRewriteError);
  assert.throws(() => rewrite(conf.replace('resolver 127.0.0.11', 'resolver 10.0.0.2')), ConfRewriteError);
  // The servers' other parameters stay; only `resolve` goes.
  assert.match(
    rewrite(conf.replace('server gateway-2:3000 resolve;', 'server gateway-2:3000 resolve max_fails=3;')),
    /server 127\.0\.0\.1:2 max_fails=3;/,
  );
});

describe('the scale profile behind nginx (deploy/compose/nginx.conf)', { skip }, () => {
  before(async () => {
    // Before any service starts: a missing nginx (required in CI) fails at once, saying what to install.
    requireNginx();
    stack = await startStack({ deliveryNodes: 3 });
    gateway2 = await stack.add('gateway', {}, 'gateway-2');
    proxy = await startScaleProxy({
      gateways: [portOf(stack.gatewayUrl), Number(gateway2.env.GATEWAY_PORT)],
      deliveries: stack.deliveryUrls.map(portOf),
    });
    redis = createRedis(stack.redisUrl, 'test-scale-proxy');
  });

  after(async () => {
    for (const c of sockets) c.ws.terminate();
    await proxy?.stop();
    redis?.disconnect();
    await stack?.stop();
  });

  test("nginx runs the conf as it ships: only upstream addresses, listen ports and Docker's resolver differ", () => {
    const source = readFileSync(scaleConfPath, 'utf8')
      .split('\n')
      .filter((l) => !/^\s*resolver 127\.0\.0\.11\b/.test(l));
    const ran = proxy.conf.split('\n').filter((l) => !/^\s*[a-z_]+_temp_path /.test(l));
    assert.equal(ran.length, source.length);
    const changed = source.map((line, i) => [line, ran[i]!] as const).filter(([a, b]) => a !== b);
    for (const [was, now] of changed) {
      assert.match(was, /^\s*(server \S+ resolve|listen \S+);$/, `changed a line that is not Docker-specific: ${was}`);
      assert.match(now, /^\s*(server|listen) 127\.0\.0\.1:\d+;$/);
    }
    // Two gateways, three nodes, three listens.
    assert.equal(changed.length, 8);
  });

  test('POST /notifications and GET status through :3000 are answered by both gateways', async () => {
    const before = await Promise.all(
      gatewayUrls().flatMap((g) => [
        requestCount(g, 'POST', '/notifications', 202),
        requestCount(g, 'GET', '/notifications/:id/status', 200),
      ]),
    );
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await send(`offline-${i}`, `#${i}`));
    for (const id of ids) assert.equal((await api('GET', `/notifications/${id}/status`)).status, 200);
    const afterCounts = await Promise.all(
      gatewayUrls().flatMap((g) => [
        requestCount(g, 'POST', '/notifications', 202),
        requestCount(g, 'GET', '/notifications/:id/status', 200),
      ]),
    );
    const [posts1, gets1, posts2, gets2] = afterCounts.map((n, i) => n - before[i]!);
    assert.equal(posts1! + posts2!, 10);
    assert.equal(gets1! + gets2!, 10);
    // nginx's round robin: requests alternate, whichever client connection carries them.
    for (const [what, n] of [
      ['gateway-1 POSTs', posts1],
      ['gateway-2 POSTs', posts2],
      ['gateway-1 GETs', gets1],
      ['gateway-2 GETs', gets2],
    ] as const) {
      assert.ok(n! >= 3, `${what}: ${n} of 10`);
    }
  });

  test('sockets through :8080 spread over the three nodes, each new one to the node holding fewest (least_conn)', async () => {
    const first: Client[] = [];
    for (let i = 0; i < 9; i++) first.push(await connect(`spread-${i}`));
    assert.deepEqual(Object.values(tally(first)), [3, 3, 3], JSON.stringify(tally(first)));

    // Empty one node (not the one round robin would pick next): least_conn fills it first.
    const emptied = first[1]!.nodeId;
    for (const c of first.filter((c) => c.nodeId === emptied)) {
      c.ws.terminate();
      sockets.splice(sockets.indexOf(c), 1);
      // The node drops presence once the proxy closed its side: nginx freed its count before.
      await waitFor(`${c.recipientId} gone`, async () => ((await nodeHolding(c.recipientId)) === undefined ? true : undefined));
    }
    const refill: Client[] = [];
    for (let i = 0; i < 3; i++) refill.push(await connect(`refill-${i}`));
    assert.deepEqual(
      refill.map((c) => c.nodeId),
      [emptied, emptied, emptied],
    );
    assert.deepEqual(Object.values(tally(sockets)), [3, 3, 3]);
  });

  test('notifications pushed to sockets held through the proxy arrive; acks sent back through it land', async () => {
    assert.equal(sockets.length, 9);
    await Promise.all(
      sockets.map(async (c) => {
        const id = await send(c.recipientId, `to ${c.recipientId}`);
        const frame = await waitFor(`frame for ${c.recipientId}`, async () => c.frames.find((f) => f.notificationId === id));
        assert.equal(frame.title, `to ${c.recipientId}`);
        c.ws.send(JSON.stringify({ type: 'ack', notificationId: id }));
        const done = await waitForStatus(id, 'ACKNOWLEDGED');
        assert.deepEqual(
          done.history.map((h: any) => h.status),
          ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED'],
        );
        assert.equal(done.history.find((h: any) => h.status === 'DELIVERED').nodeId, c.nodeId);
      }),
    );
  });

  test("origins: the node trusts the proxy's own origin by the Host header nginx passes on, and no other", async () => {
    const own = await connect('origin-own', { origin: proxy.deliveryUrl });
    own.ws.terminate();
    sockets.splice(sockets.indexOf(own), 1);
    await assert.rejects(connect('origin-other', { origin: 'https://elsewhere.example' }), /upgrade answered 403/);
  });

  test('the /demo page served through :8080 opens a socket through it, receives and acks', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      const errors = collectPageErrors(page);
      await page.goto(`${proxy.deliveryUrl}/demo`);
      const { body } = await api('POST', '/connect-tokens', { recipientId: 'demo-via-proxy', ttlSeconds: 600 });
      await page.fill('#token', body.token);
      await page.click('#connect');
      await page.waitForSelector('#state[data-state="open"]');
      await waitFor('presence of demo-via-proxy', () => nodeHolding('demo-via-proxy'), 15_000);
      const id = await send('demo-via-proxy', 'through nginx');
      const item = page.locator(`li[data-notification-id="${id}"]`);
      await item.waitFor();
      await item.locator('button.ack').click();
      await waitForStatus(id, 'ACKNOWLEDGED');
      await screenshot(page, 'scale-proxy-demo');
      assert.deepEqual(errors, [], 'no script errors or CSP violations');
    } finally {
      await browser.close();
    }
  });

  test('gateway-2 killed -9 mid-burst: gateway-1 answers 202 for the rest, and nothing answered 202 is lost', async (t) => {
    const recipients = [...sockets.map((c) => c.recipientId), 'offline-a', 'offline-b'];
    const count = 1500;
    const viaProxy: Stack = { ...stack, gatewayUrl: proxy.gatewayUrl };
    const [gw1Before, gw2Before] = await Promise.all(gatewayUrls().map((g) => requestCount(g, 'POST', '/notifications', 202)));
    let gw2Accepted = 0;
    const result = await burst(viaProxy, {
      count,
      concurrency: 16,
      recipients,
      faultAt: 0.3,
      fault: async () => {
        gw2Accepted = (await requestCount(gatewayUrls()[1]!, 'POST', '/notifications', 202)) - gw2Before!;
        await gateway2.stop('SIGKILL');
      },
    });
    const statuses = Object.fromEntries(result.statuses);
    t.diagnostic(`statuses ${JSON.stringify(statuses)}; gateway-2 had accepted ${gw2Accepted} when killed`);
    assert.ok(gw2Accepted > 0, 'gateway-2 took part in the burst before it was killed');
    // Only requests gateway-2 held when it died go unanswered (nginx: 502); after that
    // nginx refuses to send to it (error: next upstream) and gateway-1 takes everything.
    const failed = count - (statuses[202] ?? 0);
    assert.deepEqual(
      Object.keys(statuses).filter((s) => s !== '202' && s !== '502'),
      [],
      JSON.stringify(statuses),
    );
    assert.ok(failed <= 16, `${failed} requests not answered 202: ${JSON.stringify(statuses)}`);
    const gw1Accepted = (await requestCount(stack.gatewayUrl, 'POST', '/notifications', 202)) - gw1Before!;
    assert.ok(gw1Accepted >= count * 0.7 - failed, `gateway-1 accepted ${gw1Accepted} of ${result.accepted.length}`);
    for (let i = 0; i < 20; i++) await send('offline-after', `after ${i}`);

    // Every 202 ends terminal exactly once (the database also holds this file's earlier sends).
    const settled = await assertAllSettled(viaProxy, { ...result, attempts: result.attempts + sentBefore });
    // Those to a socket held through the proxy reached it; the rest found nobody online.
    const received = new Set(sockets.flatMap((c) => c.frames.map((f) => f.notificationId as string)));
    const accepted = new Set(result.accepted);
    const delivered = [...received].filter((id) => accepted.has(id)).length;
    assert.equal(settled.byStatus.DELIVERED, delivered, JSON.stringify(settled.byStatus));
    const toOffline = Array.from({ length: count }, (_, i) => i).filter((i) => i % recipients.length >= sockets.length).length;
    const offlineFailed = settled.byStatus.FAILED ?? 0;
    assert.ok(
      offlineFailed <= toOffline && offlineFailed >= toOffline - failed,
      `${offlineFailed} FAILED, ${toOffline} sent to offline recipients`,
    );
    assert.equal(delivered + offlineFailed, result.accepted.length);
  });
});
