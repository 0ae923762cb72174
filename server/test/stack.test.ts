import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createConnectKeys, makeKeys } from '@pushflow/shared';
import { verifyConnectToken } from '@pushflow/shared/tokens';
import { freePort, mongoServer, type Server } from '../../local-stack/servers.ts';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { tcpProxy, type TcpProxy } from '../../test/harness/proxy.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { createPushFlow, PushFlowApiError, PushFlowConnectionError, problemTypes, signConnectToken, type PushFlow } from '../src/index.ts';

/**
 * @pushflow/server from Node against the three services as processes, on real Redis and a
 * MongoDB-protocol server: sending, status, connect tokens (signed here and accepted by a
 * delivery node), and the errors the API answers with, each from the gateway itself: a
 * dispatcher stopped (504), a gateway cut off from Redis (503), a rate limit (429)... (not
 * `internal`, a bug, nor the catch-all `bad-request`; every problem type becomes its code the
 * same way, as retry.test.ts shows). The
 * stack has two API keys, the second one for the rate-limit test, a connect secret id and
 * an audience, so that tokens signed here must carry both to be accepted.
 */
const KEYS = ['server-lib-test-key-0001', 'server-lib-test-key-0002'] as const;
const SECRET_ID = 'k1';
const AUDIENCE = 'server-lib-test';
let stack: Stack;
/** Started here, not by the stack, to know which it is: FerretDB refuses what mongod stores. */
let mongo: Server;
let redis: Redis;
let pushflow: PushFlow;
const sockets: WebSocket[] = [];
const proxies: TcpProxy[] = [];

before(async () => {
  mongo = await mongoServer();
  stack = await startStack({
    mongo,
    env: {
      PUSHFLOW_API_KEYS: KEYS.join(','),
      PUSHFLOW_RATE_LIMIT_PER_SECOND: '5',
      PUSHFLOW_RATE_LIMIT_BURST: '20',
      PUSHFLOW_REPLY_TIMEOUT_MS: '1000',
      PUSHFLOW_CONNECT_SECRET_ID: SECRET_ID,
      PUSHFLOW_TOKEN_AUDIENCE: AUDIENCE,
    },
  });
  redis = new Redis(stack.redisUrl);
  pushflow = createPushFlow({ url: stack.gatewayUrl, apiKey: KEYS[0] });
});
after(async () => {
  for (const s of sockets) s.terminate();
  for (const p of proxies) await p.close();
  redis?.disconnect();
  await stack?.stop();
  await mongo?.stop();
});

const local = () =>
  createPushFlow({
    url: stack.gatewayUrl,
    apiKey: KEYS[0],
    connectSecret: stack.connectSecret,
    connectSecretId: SECRET_ID,
    audience: AUDIENCE,
  });

/** Opens a socket with the token; resolves once the node counts it (presence), or with the close code it got. */
async function connect(recipientId: string, token: string): Promise<{ ws: WebSocket; frames: any[] } | { closed: number }> {
  const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${token}`);
  sockets.push(ws);
  const frames: any[] = [];
  ws.on('message', (m) => frames.push(JSON.parse(String(m))));
  const outcome = await new Promise<'open' | number>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('close', (code) => resolve(code));
    ws.once('error', () => {});
  });
  // A bad token is refused after the upgrade, with a close code.
  const closed = await new Promise<number | undefined>((resolve) => {
    ws.once('close', (code) => resolve(code));
    setTimeout(() => resolve(undefined), 300);
  });
  if (outcome !== 'open') return { closed: outcome };
  if (closed !== undefined) return { closed };
  const key = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(`presence of ${recipientId}`, async () => (Number(await redis.hget(key, stack.nodeIds[0]!)) >= 1 ? true : undefined));
  return { ws, frames };
}

async function apiError(call: Promise<unknown>): Promise<PushFlowApiError> {
  const err = await call.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PushFlowApiError, String(err));
  return err;
}

const sorted = (o: object) => Object.keys(o).sort();

test('send, sendBatch and status: the answers have the shapes the types say', { timeout: 60_000 }, async () => {
  const { token } = await local().connectToken('alice', { ttlSeconds: 300 });
  const socket = await connect('alice', token);
  assert.ok('frames' in socket, `the node refused a token signed here: ${JSON.stringify(socket)}`);

  const one = await pushflow.send({ recipientId: 'alice', title: 'Hi', body: 'b', data: { orderId: 42 } });
  assert.deepEqual(sorted(one), ['acceptedAt', 'notificationId', 'status']);
  assert.equal(one.status, 'ACCEPTED');
  const delivered = await waitFor('DELIVERED', async () => {
    const s = await pushflow.status(one.notificationId);
    return s.status === 'DELIVERED' ? s : undefined;
  });
  assert.deepEqual(sorted(delivered), ['acceptedAt', 'history', 'notificationId', 'recipientId', 'status', 'updatedAt']);
  assert.deepEqual(
    delivered.history.map((h) => h.status),
    ['ACCEPTED', 'DISPATCHED', 'DELIVERED'],
  );
  assert.equal(delivered.history[2]!.nodeId, stack.nodeIds[0]);
  await waitFor('the frame', () => socket.frames.find((f) => f.notificationId === one.notificationId));

  const batch = await pushflow.sendBatch([{ recipientId: 'alice', title: '1' }, { recipientId: 'nobody-here' }]);
  assert.equal(batch.length, 2);
  const offline = await waitFor('FAILED', async () => {
    const s = await pushflow.status(batch[1]!.notificationId);
    return s.status === 'FAILED' ? s : undefined;
  });
  assert.equal(offline.reason, 'RECIPIENT_OFFLINE');
  await waitFor('the batch frame', () => socket.frames.find((f) => f.notificationId === batch[0]!.notificationId));
});

test('connect tokens: from the gateway or signed here, both verified by verifyConnectToken and a real node', {
  timeout: 60_000,
}, async () => {
  const keys = await createConnectKeys({ secrets: [{ secret: stack.connectSecret, kid: SECRET_ID }] });
  const fromGateway = await pushflow.connectToken('bob', { ttlSeconds: 120 });
  const signedHere = await local().connectToken('bob', { ttlSeconds: 120 });
  for (const { token, expiresAt } of [fromGateway, signedHere]) {
    const verified = await verifyConnectToken(token, keys, { audience: AUDIENCE });
    assert.ok(verified.ok, JSON.stringify(verified));
    assert.equal(verified.claims.sub, 'bob');
    assert.equal(verified.claims.aud, AUDIENCE);
    assert.equal(new Date(verified.claims.exp * 1000).toISOString(), expiresAt);
    assert.ok('ws' in (await connect('bob', token)));
  }
  // The node holds a token signed here to its settings: without the audience, or with another secret, 4001.
  const noAudience = await signConnectToken({ secret: stack.connectSecret, secretId: SECRET_ID, recipientId: 'bob' });
  assert.deepEqual(await connect('bob', noAudience.token), { closed: 4001 });
  const otherSecret = await signConnectToken({ secret: `${stack.connectSecret}-other`, audience: AUDIENCE, recipientId: 'bob' });
  assert.deepEqual(await connect('bob', otherSecret.token), { closed: 4001 });
});

test('4xx, each with its problem type, never retried', { timeout: 60_000 }, async () => {
  const invalid = await apiError(pushflow.send({ recipientId: 'has space' }));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.type, problemTypes.validationFailed);
  assert.equal(invalid.code, 'validation-failed');
  assert.equal(invalid.attempts, 1);
  assert.equal(invalid.problem?.errors?.[0]?.path, '/body/recipientId');

  const batchInvalid = await apiError(pushflow.sendBatch([{ recipientId: 'ok' }, { recipientId: 'ok', title: 7 as unknown as string }]));
  assert.equal(batchInvalid.problem?.errors?.[0]?.path, '/body/notifications/1/title');

  const badKey = await apiError(createPushFlow({ url: stack.gatewayUrl, apiKey: 'not-a-key-of-this-stack' }).status(crypto.randomUUID()));
  assert.equal(badKey.status, 401);
  assert.equal(badKey.type, problemTypes.unauthorized);

  const unknown = await apiError(pushflow.status('0190b2c4-1111-7abc-8def-0123456789ab'));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.type, problemTypes.notFound);
  assert.equal((await apiError(pushflow.getWebhook('0190b2c4-1111-7abc-8def-0123456789ab'))).type, problemTypes.notFound);

  const tooLarge = await apiError(pushflow.send({ recipientId: 'alice', body: 'x'.repeat(70_000) }));
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.type, problemTypes.payloadTooLarge);

  // The request function, as the CLI would use it for what the client has no method for.
  const textBody = await apiError(
    pushflow.request({ method: 'POST', path: '/notifications', body: { recipientId: 'alice' }, headers: { 'content-type': 'text/plain' } }),
  );
  assert.equal(textBody.status, 415);
  assert.equal(textBody.type, problemTypes.unsupportedMediaType);

  const idempotencyKey = crypto.randomUUID();
  const first = await pushflow.send({ recipientId: 'carol', title: 'once' }, { idempotencyKey });
  assert.equal((await pushflow.send({ recipientId: 'carol', title: 'once' }, { idempotencyKey })).notificationId, first.notificationId);
  const reused = await apiError(pushflow.send({ recipientId: 'carol', title: 'another' }, { idempotencyKey }));
  assert.equal(reused.status, 422);
  assert.equal(reused.type, problemTypes.idempotencyKeyReused);

  // Arrays in arrays: FerretDB 1.x cannot store them, so the dispatcher refuses the notification for good.
  const nested = pushflow.send({ recipientId: 'carol', data: { grid: [[1, 2]] } });
  if (/ferretdb/i.test(mongo.source)) {
    const unstorable = await apiError(nested);
    assert.equal(unstorable.status, 422);
    assert.equal(unstorable.type, problemTypes.notificationRefused);
  } else assert.equal((await nested).status, 'ACCEPTED');

  // This stack's dispatcher sends webhooks to public addresses only.
  const refused = await apiError(pushflow.createWebhook({ url: 'http://127.0.0.1:9/hook' }));
  assert.equal(refused.status, 422);
  assert.equal(refused.type, problemTypes.webhookUrlRefused);
  assert.deepEqual(await pushflow.listWebhooks(), []);
});

test('429 rate-limited with Retry-After, not retried', { timeout: 30_000 }, async () => {
  const second = createPushFlow({ url: stack.gatewayUrl, apiKey: KEYS[1] });
  await second.sendBatch(Array.from({ length: 20 }, (_, i) => ({ recipientId: `r${i}` })));
  const limited = await apiError(second.send({ recipientId: 'r0' }));
  assert.equal(limited.status, 429);
  assert.equal(limited.type, problemTypes.rateLimited);
  assert.ok(limited.retryAfterSeconds !== undefined && limited.retryAfterSeconds >= 1, String(limited.retryAfterSeconds));
  assert.equal(limited.attempts, 1);
});

test('504 when no dispatcher answers: retried, then thrown; a retry across the restart sends once', { timeout: 90_000 }, async () => {
  const { token } = await local().connectToken('dave', { ttlSeconds: 300 });
  const socket = await connect('dave', token);
  assert.ok('frames' in socket);
  await stack.service('dispatcher').stop();

  const impatient = createPushFlow({ url: stack.gatewayUrl, apiKey: KEYS[0], retry: { retries: 1, minDelayMs: 50 } });
  const timedOut = await apiError(impatient.send({ recipientId: 'dave', title: 'lost?' }));
  assert.equal(timedOut.status, 504);
  assert.equal(timedOut.type, problemTypes.dispatcherTimeout);
  assert.equal(timedOut.attempts, 2);
  assert.equal(timedOut.retryAfterSeconds, 1);

  // Patient enough to outlast the restart: every attempt carries the same key, so the
  // commands queued while no dispatcher ran make one notification, not one each.
  const patient = createPushFlow({ url: stack.gatewayUrl, apiKey: KEYS[0], retry: { retries: 30, minDelayMs: 200, maxDelayMs: 1000 } });
  const sending = patient.send({ recipientId: 'dave', title: 'exactly once' });
  await new Promise((r) => setTimeout(r, 2500));
  await stack.restart('dispatcher');
  const sent = await sending;
  await waitFor('the frame', () => socket.frames.find((f) => f.notificationId === sent.notificationId));
  // The commands of the first client (no restart to outlast) and of this one are all
  // handled now; dave got one "exactly once" frame.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(
    socket.frames.filter((f) => f.title === 'exactly once').map((f) => f.notificationId),
    [sent.notificationId],
  );
});

test('503 when the gateway cannot reach Redis: retried, then thrown; retried through to success when Redis is back', {
  timeout: 90_000,
}, async () => {
  const proxy = await tcpProxy(stack.redisUrl);
  proxies.push(proxy);
  const gw = await stack.add('gateway', { REDIS_URL: proxy.url, PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' }, 'gateway-via-proxy');
  const url = `http://127.0.0.1:${gw.env.GATEWAY_PORT}`;
  await proxy.cut();

  const client = createPushFlow({ url, apiKey: KEYS[0], retry: { retries: 2, minDelayMs: 50, maxDelayMs: 200 } });
  const unavailable = await apiError(client.send({ recipientId: 'erin' }));
  assert.equal(unavailable.status, 503);
  assert.equal(unavailable.type, problemTypes.dispatcherUnavailable);
  assert.equal(unavailable.attempts, 3);
  assert.equal(unavailable.retryAfterSeconds, 1);

  const patient = createPushFlow({ url, apiKey: KEYS[0], retry: { retries: 30, minDelayMs: 200, maxDelayMs: 1000 } });
  const sending = patient.send({ recipientId: 'erin', title: 'after the outage' });
  await new Promise((r) => setTimeout(r, 1000));
  await proxy.restore();
  const sent = await sending;
  assert.equal((await pushflow.status(sent.notificationId)).recipientId, 'erin');
  await gw.stop();
});

test('unreachable and timeout: PushFlowConnectionError, retried, with the attempts', { timeout: 30_000 }, async () => {
  const nobody = createPushFlow({ url: `http://127.0.0.1:${await freePort()}`, apiKey: KEYS[0], retry: { retries: 2, minDelayMs: 10 } });
  const unreachable = await nobody.status(crypto.randomUUID()).catch((e) => e);
  assert.ok(unreachable instanceof PushFlowConnectionError, String(unreachable));
  assert.equal(unreachable.code, 'unreachable');
  assert.equal(unreachable.attempts, 3);
  assert.match(unreachable.message, /ECONNREFUSED/);

  // A gateway whose answers never come back: the connection holds, nothing answers.
  const proxy = await tcpProxy(stack.gatewayUrl);
  proxies.push(proxy);
  proxy.hold();
  const slow = createPushFlow({ url: proxy.url, apiKey: KEYS[0], timeoutMs: 300, retry: { retries: 1, minDelayMs: 10 } });
  const started = Date.now();
  const timedOut = await slow.send({ recipientId: 'frank' }).catch((e) => e);
  assert.ok(timedOut instanceof PushFlowConnectionError, String(timedOut));
  assert.equal(timedOut.code, 'timeout');
  assert.equal(timedOut.attempts, 2);
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});
