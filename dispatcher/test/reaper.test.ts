import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  createLedgerCounter,
  createMetricsRegistry,
  createRedis,
  encodeEntry,
  ensureGroup,
  eventCodec,
  groups,
  makeKeys,
  readGroup,
  type DeliveryRequest,
  type Keys,
  type LedgerEvent,
  type RedisClient,
} from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { lockKey, reapDeadNodes } from '../src/chores/reaper.ts';

const log = pino({ level: 'silent' });
const NODE_LOST_MS = 15_000;
let srv: Server, redis: RedisClient, other: RedisClient;

before(async () => {
  srv = await redisServer();
  redis = createRedis(srv.url, 'reaper-test');
  other = createRedis(srv.url, 'reaper-test-2');
});

after(async () => {
  redis.disconnect();
  other.disconnect();
  await srv.stop();
});

let seq = 0;
async function dispatch(keys: Keys, nodeId: string, notificationId = `n-${++seq}`): Promise<string> {
  const request: DeliveryRequest = { notificationId, recipientId: 'alice', title: 't', acceptedAt: new Date().toISOString() };
  await redis.xadd(keys.deliveries(nodeId), '*', ...encodeEntry(request));
  return notificationId;
}

async function failures(keys: Keys): Promise<LedgerEvent[]> {
  return (await redis.xrange(keys.events(0), '-', '+'))
    .flatMap(([, f]) => eventCodec.items(f))
    .filter((e) => e.type === 'notification.failed');
}

/** A node with a stale heartbeat, a group, entries acked, pending and never read, and presence. */
async function deadNode(keys: Keys, nodeId: string) {
  await redis.zadd(keys.nodes, Date.now() - 60_000, nodeId);
  await ensureGroup(redis, keys.deliveries(nodeId), groups.delivery);
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await dispatch(keys, nodeId));
  const handed = await readGroup(redis, { stream: keys.deliveries(nodeId), group: groups.delivery, consumer: nodeId, count: 3, id: '>' });
  await redis.xack(keys.deliveries(nodeId), groups.delivery, handed[0]!.id); // the first was delivered before the crash
  await redis.hset(keys.presence('alice'), nodeId, 1);
  await redis.hset(keys.presence('bob'), nodeId, 2);
  return { acked: ids[0]!, unsettled: ids.slice(1) };
}

test('a dead node: pending and never-read entries settle as NODE_LOST once; stream, presence and heartbeat go; live nodes stay', async () => {
  const keys = makeKeys(uniquePrefix());
  const { unsettled } = await deadNode(keys, 'dead-1');
  await redis.zadd(keys.nodes, Date.now(), 'live-1');
  await redis.hset(keys.presence('alice'), 'live-1', 1);
  await dispatch(keys, 'live-1');

  const registry = createMetricsRegistry('dispatcher');
  const ledger = createLedgerCounter(registry);
  const reaped = await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log, ledger, batchSize: 2 });
  assert.deepEqual(
    reaped.map((r) => [r.nodeId, [...r.notificationIds].sort()]),
    [['dead-1', [...unsettled].sort()]],
  );
  assert.match(
    await registry.metrics(),
    new RegExp(`^pushflow_events_total\\{type="failed",reason="NODE_LOST",service="dispatcher"\\} ${unsettled.length}$`, 'm'),
    'counted over every pipeline (batchSize 2)',
  );

  const failed = await failures(keys);
  assert.deepEqual(failed.map((e) => e.notificationId).sort(), [...unsettled].sort());
  for (const e of failed)
    assert.deepEqual([e.type, 'reason' in e && e.reason, 'nodeId' in e && e.nodeId], ['notification.failed', 'NODE_LOST', 'dead-1']);

  assert.equal(await redis.exists(keys.deliveries('dead-1')), 0, 'partition stream deleted');
  assert.deepEqual(await redis.hgetall(keys.presence('alice')), { 'live-1': '1' });
  assert.equal(await redis.exists(keys.presence('bob')), 0);
  assert.deepEqual(await redis.zrange(keys.nodes, 0, -1), ['live-1']);
  assert.equal(await redis.xlen(keys.deliveries('live-1')), 1, 'a live node keeps its partition');
  assert.equal(await redis.exists(lockKey(keys, 'dead-1')), 0, 'lock released');

  assert.deepEqual(await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log, ledger }), []);
  assert.equal((await failures(keys)).length, unsettled.length, 'a second pass appends nothing');
  assert.match(
    await registry.metrics(),
    new RegExp(`reason="NODE_LOST",service="dispatcher"\\} ${unsettled.length}$`, 'm'),
    'and counts nothing',
  );
});

test('a partition without its group: every entry is settled, one event per notification', async () => {
  const keys = makeKeys(uniquePrefix());
  await redis.zadd(keys.nodes, Date.now() - 60_000, 'dead-2');
  const a = await dispatch(keys, 'dead-2');
  const b = await dispatch(keys, 'dead-2');
  await dispatch(keys, 'dead-2', a); // the same notification routed twice (a retried command)
  await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log });
  assert.deepEqual((await failures(keys)).map((e) => e.notificationId).sort(), [a, b].sort());
  assert.equal(await redis.zscore(keys.nodes, 'dead-2'), null);
});

test('a dead node without a partition loses presence and heartbeat; a node restarting with its id resumes', async () => {
  const keys = makeKeys(uniquePrefix());
  await redis.zadd(keys.nodes, Date.now() - 60_000, 'dead-3');
  await redis.hset(keys.presence('carol'), 'dead-3', 1);
  const [reaped] = await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log });
  assert.deepEqual(reaped, { nodeId: 'dead-3', notificationIds: [] });
  assert.equal(await redis.exists(keys.presence('carol')), 0);
  assert.equal(await redis.zscore(keys.nodes, 'dead-3'), null);

  // What delivery/src/node.ts does on start: group, heartbeat, consume.
  await ensureGroup(redis, keys.deliveries('dead-3'), groups.delivery);
  await redis.zadd(keys.nodes, Date.now(), 'dead-3');
  const id = await dispatch(keys, 'dead-3');
  const read = await readGroup(redis, {
    stream: keys.deliveries('dead-3'),
    group: groups.delivery,
    consumer: 'dead-3',
    count: 10,
    id: '>',
  });
  assert.equal(read.length, 1);
  assert.match(read[0]!.fields.join(' '), new RegExp(id));
  assert.deepEqual(await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log }), [], 'alive again');
});

test('two reapers at once append one set of events', async () => {
  const keys = makeKeys(uniquePrefix());
  const { unsettled } = await deadNode(keys, 'dead-4');
  const results = await Promise.all([
    reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log }),
    reapDeadNodes({ redis: other, keys, nodeLostMs: NODE_LOST_MS, log }),
    reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log }),
  ]);
  assert.equal(results.flat().length, 1, 'one reaper reaped the node');
  assert.equal((await failures(keys)).length, unsettled.length);
  assert.equal(await redis.zscore(keys.nodes, 'dead-4'), null);
});

test('a node is left alone while another reaper holds it, and when its heartbeat returns', async () => {
  const keys = makeKeys(uniquePrefix());
  await deadNode(keys, 'dead-5');
  await redis.set(lockKey(keys, 'dead-5'), 'someone-else', 'PX', 5000);
  assert.deepEqual(await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log }), []);
  await redis.del(lockKey(keys, 'dead-5'));

  // The node beats again between being judged dead and the lock being taken.
  const racing = hook(redis, 'set', () => other.zadd(keys.nodes, Date.now(), 'dead-5'));
  assert.deepEqual(await reapDeadNodes({ redis: racing, keys, nodeLostMs: NODE_LOST_MS, log }), []);
  assert.equal((await failures(keys)).length, 0);
  assert.equal(await redis.xlen(keys.deliveries('dead-5')), 4);
  assert.equal(await redis.hget(keys.presence('alice'), 'dead-5'), '1');
  assert.notEqual(await redis.zscore(keys.nodes, 'dead-5'), null);
});

test('an entry that arrives during the reap is not lost: the stream stays and the next pass settles it', async () => {
  const keys = makeKeys(uniquePrefix());
  const { unsettled } = await deadNode(keys, 'dead-6');
  let late: string | undefined;
  const racing = hook(redis, 'eval', async (script) => {
    if (late === undefined && String(script).includes('XREVRANGE')) late = await dispatch(keys, 'dead-6');
  });
  const [first] = await reapDeadNodes({ redis: racing, keys, nodeLostMs: NODE_LOST_MS, log });
  assert.deepEqual([...first!.notificationIds].sort(), [...unsettled].sort());
  assert.ok(late);
  const left = await redis.xrange(keys.deliveries('dead-6'), '-', '+');
  assert.equal(left.filter(([, f]) => f.join(' ').includes(late!)).length, 1, 'the late entry is still there');
  assert.notEqual(await redis.zscore(keys.nodes, 'dead-6'), null, 'kept in nodes for the next pass');

  const [second] = await reapDeadNodes({ redis, keys, nodeLostMs: NODE_LOST_MS, log });
  assert.deepEqual(second!.notificationIds, [late]);
  assert.deepEqual((await failures(keys)).map((e) => e.notificationId).sort(), [...unsettled, late].sort());
  assert.equal(await redis.exists(keys.deliveries('dead-6')), 0);
  assert.equal(await redis.zscore(keys.nodes, 'dead-6'), null);
});

/** The real client, with `before` run ahead of one of its commands: a concurrent actor at an exact point. */
function hook(client: RedisClient, method: 'set' | 'eval', before: (...args: unknown[]) => Promise<unknown>): RedisClient {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== method) return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        await before(...args);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
