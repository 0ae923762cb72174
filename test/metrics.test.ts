import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { makeKeys } from '@pushflow/shared';
import { startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * /metrics on the three services, read the way Prometheus reads them: the counters move
 * by exactly what the test did through the public API and WebSocket clients.
 */
const METRICS_TOKEN = 'metrics-token-for-the-test-0123456789';
const API_KEY = 'metrics-test-api-key-0123456789';
const LIMITED_KEY = 'metrics-test-limited-key-0123456789';
const BURST = 20;

let stack: Stack;
let redis: Redis;
const clients: WebSocket[] = [];

before(async () => {
  stack = await startStack({
    env: {
      PUSHFLOW_METRICS_TOKEN: METRICS_TOKEN,
      PUSHFLOW_API_KEYS: `${API_KEY},${LIMITED_KEY}`,
      // A refill far slower than the burst test spends its budget.
      PUSHFLOW_RATE_LIMIT_PER_SECOND: '1',
      PUSHFLOW_RATE_LIMIT_BURST: String(BURST),
    },
  });
  redis = new Redis(stack.redisUrl);
});

after(async () => {
  for (const ws of clients) ws.close();
  redis?.disconnect();
  await stack?.stop();
});

const endpoints = () => ({
  gateway: `${stack.gatewayUrl}/metrics`,
  dispatcher: `http://127.0.0.1:${stack.service('dispatcher').env.DISPATCHER_PORT}/metrics`,
  delivery: `${stack.deliveryUrls[0]!.replace(/^ws/, 'http')}/metrics`,
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The exposition text format: `name{a="x",b="y"} value`, comments skipped. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[2]?.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g) ?? []) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

class Scrape {
  readonly text: string;
  readonly samples: Sample[];
  constructor(text: string, samples: Sample[]) {
    this.text = text;
    this.samples = samples;
  }
  /** The sum over samples of `name` carrying these labels (and any others). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, s) => sum + s.value, 0);
  }
  matching(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }
}

async function scrape(url: string, token = METRICS_TOKEN): Promise<Scrape> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, url);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return new Scrape(text, parse(text));
}

async function scrapeAll() {
  const urls = endpoints();
  const [gateway, dispatcher, delivery] = await Promise.all([scrape(urls.gateway), scrape(urls.dispatcher), scrape(urls.delivery)]);
  return { gateway, dispatcher, delivery };
}

async function api(method: string, path: string, body?: unknown, key = API_KEY): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.gatewayUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function send(recipientId: string, key = API_KEY): Promise<{ status: number; body: any }> {
  return api('POST', '/notifications', { recipientId, title: 'hi' }, key);
}

/** A client that keeps every frame it gets. */
async function connect(recipientId: string): Promise<{ ws: WebSocket; frames: any[] }> {
  const { status, body } = await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 });
  assert.equal(status, 201);
  const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(body.token)}`);
  clients.push(ws);
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const presence = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(`presence of ${recipientId}`, async () => (Number(await redis.hget(presence, stack.nodeIds[0]!)) > 0 ? true : undefined));
  return { ws, frames };
}

async function statusOf(id: string): Promise<string> {
  const res = await api('GET', `/notifications/${id}/status`);
  assert.equal(res.status, 200);
  return res.body.status;
}

describe('metrics', { timeout: 90_000 }, () => {
  test('/metrics asks for the token when PUSHFLOW_METRICS_TOKEN is set', async () => {
    for (const [service, url] of Object.entries(endpoints())) {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-token-0123456789abcdef' },
        { authorization: `Basic ${METRICS_TOKEN}` },
      ] as Record<string, string>[]) {
        const res = await fetch(url, { headers });
        assert.equal(res.status, 401, `${service} with ${JSON.stringify(headers)}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer', service);
        await res.arrayBuffer();
      }
    }
  });

  test('notifications sent, delivered, failed and acked move every counter by what happened', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const before = await scrapeAll();

    const toAlice = await Promise.all([send('alice'), send('alice'), send('alice')]);
    const toBob = await send('bob');
    const offline = await Promise.all([send('nobody-home'), send('nobody-else')]);
    for (const r of [...toAlice, toBob, ...offline]) assert.equal(r.status, 202, JSON.stringify(r.body));

    await waitFor('frames', async () => (alice.frames.length === 3 && bob.frames.length === 1 ? true : undefined));
    const acked = toAlice[0]!.body.notificationId;
    alice.ws.send(JSON.stringify({ type: 'ack', notificationId: acked }));

    await waitFor('statuses', async () => {
      const statuses = await Promise.all([
        statusOf(acked),
        ...[...toAlice.slice(1), toBob].map((r) => statusOf(r.body.notificationId)),
        ...offline.map((r) => statusOf(r.body.notificationId)),
      ]);
      return statuses.join() === ['ACKNOWLEDGED', 'DELIVERED', 'DELIVERED', 'DELIVERED', 'FAILED', 'FAILED'].join() ? true : undefined;
    });
    // Each ledger entry is counted once its write succeeded, which may follow the status
    // by a moment: wait for the last of them, then read everything.
    const after = await waitFor('the ack counted', async () => {
      const s = await scrapeAll();
      return s.delivery.value('pushflow_events_total', { type: 'acknowledged' }) -
        before.delivery.value('pushflow_events_total', { type: 'acknowledged' }) ===
        1
        ? s
        : undefined;
    });
    const delta = (service: keyof typeof after, name: string, labels: Record<string, string> = {}) =>
      after[service].value(name, labels) - before[service].value(name, labels);

    // Dispatcher: accepted and routed.
    assert.equal(delta('dispatcher', 'pushflow_events_total', { type: 'accepted' }), 6);
    assert.equal(delta('dispatcher', 'pushflow_events_total', { type: 'dispatched' }), 4);
    assert.equal(delta('dispatcher', 'pushflow_events_total', { type: 'failed', reason: 'RECIPIENT_OFFLINE' }), 2);
    assert.equal(delta('dispatcher', 'pushflow_events_total', { type: 'delivered' }), 0, 'the dispatcher writes no outcomes');
    // Delivery: outcomes and acks.
    assert.equal(delta('delivery', 'pushflow_events_total', { type: 'delivered' }), 4);
    assert.equal(delta('delivery', 'pushflow_events_total', { type: 'failed' }), 0);
    assert.equal(delta('delivery', 'pushflow_events_total', { type: 'acknowledged' }), 1);
    // One accept-to-deliver sample per delivered notification.
    assert.equal(
      delta('delivery', 'pushflow_accept_to_deliver_seconds_count'),
      delta('delivery', 'pushflow_events_total', { type: 'delivered' }),
    );
    assert.ok(after.delivery.matching('pushflow_accept_to_deliver_seconds_bucket', { le: '0.001' }).length === 1, 'buckets start at 1 ms');
    assert.ok(after.delivery.matching('pushflow_accept_to_deliver_seconds_bucket', { le: '10' }).length === 1, 'and reach 10 s');
    assert.equal(after.delivery.value('pushflow_open_connections'), 2);

    // Batch sizes add up to the entries each group read: a command entry holds the requests
    // that reached the gateway in one turn of its event loop (1 to 6 entries for these 6); a
    // delivery entry the requests of one dispatcher batch that routed here (1 to 4).
    const commandEntries = delta('dispatcher', 'pushflow_consumer_batch_size_sum', { stream: 'commands', group: 'dispatcher' });
    assert.ok(commandEntries >= 1 && commandEntries <= 6, `command entries read: ${commandEntries}`);
    const deliveryEntries = delta('delivery', 'pushflow_consumer_batch_size_sum', { stream: 'deliveries:delivery-1', group: 'delivery' });
    assert.ok(deliveryEntries >= 1 && deliveryEntries <= 4, `delivery entries read: ${deliveryEntries}`);

    // Gateway: one duration sample per request, by route pattern and status.
    assert.equal(
      delta('gateway', 'pushflow_http_request_duration_seconds_count', { method: 'POST', route: '/notifications', status_code: '202' }),
      6,
    );
    assert.ok(
      delta('gateway', 'pushflow_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/notifications/:id/status',
        status_code: '200',
      }) >= 6,
    );

    // Never a label per notification or recipient: their number has no bound.
    for (const [service, s] of Object.entries(after)) {
      for (const id of [...toAlice, toBob, ...offline].map((r) => r.body.notificationId))
        assert.ok(!s.text.includes(id), `${service} names ${id}`);
      for (const who of ['alice', 'bob', 'nobody-home']) assert.ok(!s.text.includes(who), `${service} names ${who}`);
    }
  });

  test('lag and pending per consumer group settle at zero once everything is handled', async () => {
    const groups = {
      dispatcher: [
        ['commands', 'dispatcher'],
        ['queries', 'dispatcher'],
        ['events', 'projector'],
      ],
      delivery: [['deliveries:delivery-1', 'delivery']],
    } as const;
    await waitFor('lag and pending at zero', async () => {
      const s = await scrapeAll();
      for (const [service, list] of Object.entries(groups) as [keyof typeof groups, readonly (readonly [string, string])[]][]) {
        for (const [stream, group] of list) {
          for (const name of ['pushflow_stream_lag', 'pushflow_stream_pending']) {
            const found = s[service].matching(name, { stream, group });
            assert.equal(found.length, 1, `${service} reports ${name} for ${stream}/${group}`);
            if (found[0]!.value !== 0) return undefined;
          }
        }
      }
      return true;
    });
  });

  test('requests refused by the rate limit are counted', async () => {
    const before = await scrape(endpoints().gateway);
    const results = await Promise.all(Array.from({ length: BURST + 10 }, () => send('nobody-home', LIMITED_KEY)));
    const refused = results.filter((r) => r.status === 429).length;
    assert.ok(refused >= 5, `${refused} refused`);
    assert.equal(results.filter((r) => r.status === 202).length + refused, results.length);
    const after = await scrape(endpoints().gateway);
    assert.equal(after.value('pushflow_rate_limited_requests_total') - before.value('pushflow_rate_limited_requests_total'), refused);
    assert.equal(
      after.value('pushflow_http_request_duration_seconds_count', { route: '/notifications', status_code: '429' }) -
        before.value('pushflow_http_request_duration_seconds_count', { route: '/notifications', status_code: '429' }),
      refused,
    );
  });

  test('every service reports event-loop delay and process metrics, each series labelled with the service', async () => {
    const all = await scrapeAll();
    for (const [service, s] of Object.entries(all)) {
      for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds', 'process_resident_memory_bytes']) {
        assert.equal(s.matching(name, { service }).length, 1, `${service} reports ${name}`);
      }
      assert.ok(
        s.samples.every((x) => x.labels.service === service),
        `${service}: every series carries service="${service}"`,
      );
    }
  });
});
