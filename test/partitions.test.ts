import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { eventCodec, groups, makeKeys, type Keys } from '@pushflow/shared';
import { apiOf } from './harness/api.ts';
import { heldPartitions } from './harness/partitions.ts';
import { freePort } from '../local-stack/servers.ts';
import { startService, startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * The whole path with the streams split into 8 partitions and two dispatchers sharing them
 * on one Redis: each dispatcher holds 4 partitions, one recipient's notifications arrive in
 * the order they were sent, a notification's events all sit in its own partition, and a
 * service started with another PUSHFLOW_PARTITIONS is refused.
 */
const P = 8;
let stack: Stack;
let redis: Redis;
let keys: Keys;
const api = apiOf(() => stack);

before(async () => {
  stack = await startStack({
    deliveryNodes: 2,
    env: { PUSHFLOW_PARTITIONS: String(P), PUSHFLOW_PARTITION_LEASE_MS: '3000', PUSHFLOW_PARTITION_RENEW_MS: '300' },
  });
  await stack.add('dispatcher', { PUSHFLOW_CONSUMER_ID: 'dispatcher-b' }, 'dispatcher-b');
  redis = new Redis(stack.redisUrl);
  keys = makeKeys(stack.prefix, P);
});

after(async () => {
  redis?.disconnect();
  const codes = await stack?.stop();
  assert.deepEqual(
    codes,
    stack.services.map(() => 0),
    'every service exits 0 on SIGTERM',
  );
});

async function connect(recipientId: string, node: number): Promise<{ ws: WebSocket; titles: string[]; ids: string[] }> {
  const { token } = await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 });
  const ws = new WebSocket(`${stack.deliveryUrls[node]}/ws?token=${encodeURIComponent(token)}`);
  const titles: string[] = [];
  const ids: string[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data));
    if (frame.type !== 'notification') return;
    titles.push(frame.title);
    ids.push(frame.notificationId);
  });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  await waitFor(`presence of ${recipientId}`, async () =>
    Number(await redis.hget(keys.presence(recipientId), stack.nodeIds[node]!)) > 0 ? true : undefined,
  );
  return { ws, titles, ids };
}

test('two dispatchers each hold 4 of the 8 partitions', { timeout: 30_000 }, async () => {
  const [a, b] = [stack.service('dispatcher'), stack.service('dispatcher-b')];
  const held = await waitFor(
    '4 + 4',
    async () => {
      const [ha, hb] = await Promise.all([heldPartitions(a), heldPartitions(b)]);
      return ha.length === 4 && hb.length === 4 ? [...ha, ...hb] : undefined;
    },
    15_000,
    200,
  );
  assert.deepEqual(held.sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(await redis.get(keys.partitionCount), String(P));
});

test("sends across partitions: every recipient gets its notifications in order, each settles, each notification's events stay in one partition", {
  timeout: 120_000,
}, async () => {
  const online = Array.from({ length: 16 }, (_, i) => `p-user-${i}`);
  const offline = Array.from({ length: 4 }, (_, i) => `p-away-${i}`);
  const clients = new Map(await Promise.all(online.map(async (r, i) => [r, await connect(r, i % 2)] as const)));
  const PER_RECIPIENT = 15;
  const sent = new Map<string, string[]>();
  // Each recipient's sends one after another (their order is the one to keep), recipients at once.
  await Promise.all(
    [...online, ...offline].map(async (recipientId) => {
      const ids: string[] = [];
      for (let i = 0; i < PER_RECIPIENT; i++)
        ids.push((await api('POST', '/notifications', { recipientId, title: `#${i}` })).notificationId);
      sent.set(recipientId, ids);
    }),
  );

  for (const r of online) {
    const client = clients.get(r)!;
    await waitFor(`${r}'s frames`, async () => (client.titles.length >= PER_RECIPIENT ? true : undefined), 15_000);
    assert.deepEqual(
      client.titles,
      Array.from({ length: PER_RECIPIENT }, (_, i) => `#${i}`),
      `${r} got its notifications out of order`,
    );
    assert.deepEqual(client.ids, sent.get(r));
  }
  // Acks from half the recipients: acks go to the events partition of their notification.
  for (const r of online.slice(0, 8))
    for (const id of sent.get(r)!) clients.get(r)!.ws.send(JSON.stringify({ type: 'ack', notificationId: id }));

  const expected = new Map<string, string>();
  online.forEach((r, i) => {
    for (const id of sent.get(r)!) expected.set(id, i < 8 ? 'ACKNOWLEDGED' : 'DELIVERED');
  });
  for (const r of offline) for (const id of sent.get(r)!) expected.set(id, 'FAILED');
  for (const [id, status] of expected) {
    await waitFor(
      `${id} ${status}`,
      async () => ((await api('GET', `/notifications/${id}/status`)).status === status ? true : undefined),
      15_000,
      100,
    );
  }

  // Sends went to more than one commands partition (recipients hash over them).
  const commandLengths = await Promise.all(keys.allCommands.map((s) => redis.xlen(s)));
  assert.ok(commandLengths.filter((n) => n > 0).length >= 4, `commands per partition: ${commandLengths}`);
  // Every event of a notification in the partition its id hashes to, in ledger order.
  const seen = new Map<string, { stream: string; types: string[] }>();
  for (const stream of keys.allEvents) {
    for (const [, fields] of await redis.xrange(stream, '-', '+'))
      for (const event of eventCodec.items(fields)) {
        const at = seen.get(event.notificationId) ?? { stream, types: [] };
        assert.equal(at.stream, stream, `${event.notificationId} has events in two partitions`);
        at.types.push(event.type);
        seen.set(event.notificationId, at);
      }
  }
  const eventLengths = await Promise.all(keys.allEvents.map((s) => redis.xlen(s)));
  assert.ok(
    eventLengths.every((n) => n > 0),
    `events per partition: ${eventLengths}`,
  );
  for (const [id, status] of expected) {
    const at = seen.get(id)!;
    assert.equal(at.stream, keys.eventsOf(id));
    assert.equal(at.types[0], 'notification.accepted');
    if (status === 'ACKNOWLEDGED') assert.equal(at.types.at(-1), 'notification.acknowledged');
  }
  for (const c of clients.values()) c.ws.close();

  // Nothing left pending in any partition's groups.
  for (const [streams, group] of [
    [keys.allCommands, groups.dispatcher],
    [keys.allEvents, groups.projector],
  ] as const) {
    for (const stream of streams) {
      await waitFor(
        `${stream} drained`,
        async () => (Number(((await redis.xpending(stream, group)) as [number])[0]) === 0 ? true : undefined),
        10_000,
        100,
      );
    }
  }
});

test('the dashboard reads every partition', async () => {
  const { groups: found } = await api('GET', '/dashboard/api/streams');
  const streams = new Set(found.map((g: { stream: string }) => g.stream));
  for (let p = 0; p < P; p++) {
    assert.ok(streams.has(`commands:{c${p}}`) && streams.has(`events:{e${p}}`), JSON.stringify([...streams]));
  }
  const activity = await api('GET', '/dashboard/api/activity?minutes=5');
  assert.ok(activity.events >= 20 * 15 * 2, JSON.stringify(activity.counts));
});

test('a service started with another PUSHFLOW_PARTITIONS stops (exit 78) and says how to repartition', { timeout: 60_000 }, async () => {
  const base = {
    REDIS_URL: stack.redisUrl,
    MONGO_URL: stack.mongoUrl,
    PUSHFLOW_REDIS_PREFIX: stack.prefix,
    PUSHFLOW_API_KEYS: stack.apiKey,
    PUSHFLOW_CONNECT_SECRET: stack.connectSecret,
    PUSHFLOW_PARTITIONS: '4',
  };
  for (const service of ['gateway', 'dispatcher', 'delivery'] as const) {
    const env = {
      ...base,
      GATEWAY_PORT: String(await freePort()),
      DISPATCHER_PORT: String(await freePort()),
      DELIVERY_PORT: String(await freePort()),
      PUSHFLOW_NODE_ID: 'delivery-wrong',
      PUSHFLOW_CONSUMER_ID: 'dispatcher-wrong',
    };
    // The gateway and delivery stop before they are ready; the dispatcher says ready (its
    // health endpoint is up, not ready, while Redis is checked) and stops just after.
    const outcome = await startService(service, env).then(
      async (svc) => ({ code: await svc.exited, output: svc.lines.join('\n') }),
      (err: Error) => ({ code: undefined, output: err.message }),
    );
    assert.match(
      outcome.output,
      /PUSHFLOW_PARTITIONS is 4 but this deployment's streams are split into 8 partitions/,
      `${service}: ${outcome.output}`,
    );
    assert.match(outcome.output, /drain/);
    if (outcome.code !== undefined) assert.equal(outcome.code, 78, service);
  }
  assert.equal(await redis.get(keys.partitionCount), String(P), 'the record is unchanged');
  assert.equal(await redis.zscore(keys.dispatchers, 'dispatcher-wrong'), null, 'the refused dispatcher never took part');
});
