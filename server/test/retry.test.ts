import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { createPushFlow, PushFlowApiError, PushFlowError, type RetryOptions } from '../src/index.ts';

/**
 * The retry rules, timed and counted exactly against an HTTP server on loopback that answers
 * what each test scripts (503 then 202...): which answers are retried, how often, after how
 * long, with which Idempotency-Key. stack.test.ts has each error from a real gateway.
 */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  at: number;
}
type Answer = { status: number; body?: unknown; headers?: Record<string, string>; raw?: string };

let server: Server;
let url: string;
let seen: Seen[];
let script: Answer[];

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: performance.now() });
      const a = script.shift() ?? { status: 500 };
      const problem = a.status >= 400 && a.raw === undefined;
      res.writeHead(a.status, { 'content-type': problem ? 'application/problem+json' : 'application/json', ...a.headers });
      res.end(a.raw ?? (a.body === undefined ? '' : JSON.stringify(a.body)));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());
beforeEach(() => {
  seen = [];
  script = [];
});

const accepted = { notificationId: '0190b2c4-1111-7abc-8def-0123456789ab', status: 'ACCEPTED', acceptedAt: '2026-12-03T16:00:00.000Z' };
const problem = (slug: string, status: number) => ({ type: `urn:pushflow:problem:${slug}`, title: slug, status });
const client = (retry: RetryOptions = { retries: 2, minDelayMs: 20, maxDelayMs: 2000 }) =>
  createPushFlow({ url, apiKey: 'test-key', retry });

test('503 and 504 are retried under one Idempotency-Key, made up when none was given', async () => {
  script = [
    { status: 503, body: problem('dispatcher-unavailable', 503) },
    { status: 504, body: problem('dispatcher-timeout', 504) },
    { status: 202, body: accepted },
  ];
  assert.deepEqual(await client().send({ recipientId: 'alice', title: 'Hi' }), accepted);
  assert.equal(seen.length, 3);
  const keys = seen.map((s) => s.headers['idempotency-key']);
  assert.match(String(keys[0]), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(new Set(keys).size, 1);
  assert.equal(seen[0]!.headers.authorization, 'Bearer test-key');

  script = [
    { status: 503, body: problem('dispatcher-unavailable', 503) },
    { status: 202, body: { notifications: [accepted] } },
  ];
  assert.deepEqual(await client().sendBatch([{ recipientId: 'alice' }], { idempotencyKey: 'mine-1' }), [accepted]);
  assert.deepEqual(
    seen.slice(3).map((s) => [s.url, s.headers['idempotency-key']]),
    [
      ['/notifications/batch', 'mine-1'],
      ['/notifications/batch', 'mine-1'],
    ],
  );
  // Two calls, two keys: a key is per notification meant, not per client.
  script = [{ status: 202, body: accepted }];
  await client().send({ recipientId: 'alice' });
  assert.notEqual(seen.at(-1)!.headers['idempotency-key'], keys[0]);
});

test('a bounded number of times: the last answer is thrown, with the attempts and Retry-After', async () => {
  script = Array.from({ length: 5 }, () => ({ status: 504, body: problem('dispatcher-timeout', 504), headers: { 'retry-after': '0' } }));
  const err = await client()
    .send({ recipientId: 'alice' })
    .catch((e) => e);
  assert.ok(err instanceof PushFlowApiError);
  assert.equal(err.code, 'dispatcher-timeout');
  assert.equal(err.attempts, 3);
  assert.equal(err.retryAfterSeconds, 0);
  assert.equal(seen.length, 3);
  assert.match(err.message, /POST \/notifications answered 504.*after 3 attempts/);
});

test('Retry-After sets the least wait, maxDelayMs the most', async () => {
  script = [
    { status: 503, body: problem('dispatcher-unavailable', 503), headers: { 'retry-after': '1' } },
    { status: 202, body: accepted },
  ];
  await client().send({ recipientId: 'alice' });
  const waited = seen[1]!.at - seen[0]!.at;
  assert.ok(waited >= 950 && waited < 1500, `waited ${waited} ms`);

  script = [
    { status: 503, body: problem('dispatcher-unavailable', 503), headers: { 'retry-after': '30' } },
    { status: 202, body: accepted },
  ];
  await client({ retries: 1, minDelayMs: 10, maxDelayMs: 100 }).send({ recipientId: 'alice' });
  const capped = seen[3]!.at - seen[2]!.at;
  assert.ok(capped < 500, `waited ${capped} ms`);
});

test('never a 4xx, nor a request that is not safe to repeat, nor anything with retries: 0', async () => {
  for (const [status, slug] of [
    [400, 'validation-failed'],
    [401, 'unauthorized'],
    [422, 'idempotency-key-reused'],
    [429, 'rate-limited'],
  ] as const) {
    seen = [];
    script = [
      { status, body: problem(slug, status), headers: { 'retry-after': '1' } },
      { status: 202, body: accepted },
    ];
    const err = await client()
      .send({ recipientId: 'alice' })
      .catch((e) => e);
    assert.equal(err.code, slug);
    assert.equal(err.status, status);
    assert.equal(seen.length, 1, `${status} was retried`);
  }
  seen = [];
  script = [
    { status: 504, body: problem('dispatcher-timeout', 504) },
    { status: 201, body: {} },
  ];
  assert.equal(
    (
      await client()
        .createWebhook({ url: 'https://example.com/h' })
        .catch((e) => e)
    ).code,
    'dispatcher-timeout',
  );
  script = [
    { status: 504, body: problem('dispatcher-timeout', 504) },
    { status: 200, body: {} },
  ];
  assert.equal(
    (
      await client()
        .rotateWebhookSecret('x')
        .catch((e) => e)
    ).code,
    'dispatcher-timeout',
  );
  script = [{ status: 503, body: problem('dispatcher-unavailable', 503) }];
  assert.equal(
    (
      await client({ retries: 0 })
        .send({ recipientId: 'alice' })
        .catch((e) => e)
    ).attempts,
    1,
  );
  assert.equal(seen.length, 3);
});

test('GET is retried without a key; the caller aborting ends the wait at once', async () => {
  script = [
    { status: 503, body: problem('dispatcher-unavailable', 503) },
    { status: 200, body: { webhooks: [] } },
  ];
  assert.deepEqual(await client().listWebhooks(), []);
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.headers['idempotency-key'], undefined);

  script = [{ status: 503, body: problem('dispatcher-unavailable', 503), headers: { 'retry-after': '5' } }];
  const controller = new AbortController();
  const started = performance.now();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  await assert.rejects(
    client({ retries: 2, minDelayMs: 10, maxDelayMs: 5000 }).status('x', { signal: controller.signal }),
    /shutting down/,
  );
  assert.ok(performance.now() - started < 1000);
});

test("an answer that is not PushFlow's: http-<status> without a type, bad-response for a 2xx that is not JSON", async () => {
  script = [{ status: 502, raw: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }];
  const err = await client()
    .send({ recipientId: 'alice' })
    .catch((e) => e);
  assert.ok(err instanceof PushFlowApiError);
  assert.equal(err.code, 'http-502');
  assert.equal(err.type, undefined);
  assert.equal(err.problem, undefined);

  script = [{ status: 200, raw: '<html>hello</html>', headers: { 'content-type': 'text/html' } }];
  const bad = await client()
    .status('x')
    .catch((e) => e);
  assert.ok(bad instanceof PushFlowError && !(bad instanceof PushFlowApiError));
  assert.equal(bad.code, 'bad-response');
});

test('paths are encoded; deleteWebhook takes the 204 without a body', async () => {
  script = [{ status: 204 }, { status: 200, body: { attempts: [] } }];
  await client().deleteWebhook('a/b');
  assert.deepEqual(await client().webhookAttempts('id', { limit: 5 }), []);
  assert.deepEqual(
    seen.map((s) => `${s.method} ${s.url}`),
    ['DELETE /webhooks/a%2Fb', 'GET /webhooks/id/attempts?limit=5'],
  );
});
