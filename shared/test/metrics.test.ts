import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import {
  checkProductionSecrets,
  common,
  ConfigError,
  createLedgerCounter,
  createMetricsRegistry,
  createRedis,
  loadConfig,
  metricsAccess,
  readGroups,
  registerStreamGauges,
  type LedgerEvent,
  type RedisClient,
  type Registry,
} from '../src/index.ts';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';

describe('metricsAccess: the PUSHFLOW_METRICS_TOKEN check', () => {
  const token = 'a-metrics-token-0123456789';

  test('without a token anyone may read', () => {
    for (const t of [undefined, '']) {
      const allowed = metricsAccess(t);
      assert.equal(allowed(undefined), true);
      assert.equal(allowed('Bearer anything'), true);
    }
  });

  test('with a token only `Bearer <token>` passes', () => {
    const allowed = metricsAccess(token);
    assert.equal(allowed(`Bearer ${token}`), true);
    assert.equal(allowed(`bearer ${token}`), true, 'the scheme is case-insensitive (RFC 9110)');
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${token}`,
      token,
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token.toUpperCase()}`,
      `Bearer ${token} extra`,
      'Bearer wrong-token-0123456789',
    ]) {
      assert.equal(allowed(header), false, JSON.stringify(header));
    }
  });
});

test('PUSHFLOW_METRICS_TOKEN: optional, 16 characters at least, no spaces, no development value in production', () => {
  const schema = Type.Object({ PUSHFLOW_METRICS_TOKEN: common.PUSHFLOW_METRICS_TOKEN });
  assert.equal(loadConfig(schema, {}).PUSHFLOW_METRICS_TOKEN, undefined);
  assert.equal(
    loadConfig(schema, { PUSHFLOW_METRICS_TOKEN: 'a-metrics-token-0123456789' }).PUSHFLOW_METRICS_TOKEN,
    'a-metrics-token-0123456789',
  );
  for (const bad of ['short', 'has a space in it 0123456789']) {
    assert.throws(
      () => loadConfig(schema, { PUSHFLOW_METRICS_TOKEN: bad }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'PUSHFLOW_METRICS_TOKEN' && !err.message.includes(bad),
    );
  }
  assert.throws(
    () => checkProductionSecrets({ PUSHFLOW_METRICS_TOKEN: 'dev-only-metrics-token-change-me' }),
    (err: unknown) => err instanceof ConfigError && err.variable === 'PUSHFLOW_METRICS_TOKEN',
  );
});

async function samples(registry: Registry, name: string) {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, name);
  return (await metric.get()).values;
}

test('the ledger counter counts a batch by type and failure reason', async () => {
  const registry = createMetricsRegistry('test');
  const ledger = createLedgerCounter(registry);
  const at = Date.now();
  const events: LedgerEvent[] = [
    { type: 'notification.dispatched', notificationId: 'a', at, nodeIds: ['n1'] },
    { type: 'notification.failed', notificationId: 'b', at, reason: 'RECIPIENT_OFFLINE' },
    { type: 'notification.failed', notificationId: 'c', at, reason: 'RECIPIENT_OFFLINE' },
    { type: 'notification.failed', notificationId: 'd', at, reason: 'NODE_LOST', nodeId: 'n1' },
    { type: 'notification.acknowledged', notificationId: 'a', at, nodeId: 'n1' },
  ];
  ledger.written(events);
  ledger.written(events.slice(0, 1));
  const values = (await samples(registry, 'pushflow_events_total')).map((v) => [v.labels, v.value]);
  assert.deepEqual(values, [
    [{ type: 'dispatched' }, 2],
    [{ type: 'failed', reason: 'RECIPIENT_OFFLINE' }, 2],
    [{ type: 'failed', reason: 'NODE_LOST' }, 1],
    [{ type: 'acknowledged' }, 1],
  ]);
  assert.match(await registry.metrics(), /^pushflow_events_total\{type="dispatched",service="test"\} 2$/m);
});

describe('stream lag and pending gauges', () => {
  let server: Server;
  let redis: RedisClient;
  before(async () => {
    server = await redisServer();
    redis = createRedis(server.url, 'metrics-test');
    await redis.ping();
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** A stream with 5 entries: 3 read by group g, 1 of those acked; group h read nothing. */
  async function streamWithGroups(prefix: string): Promise<string> {
    const stream = `${prefix}work`;
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
    await redis.xgroup('CREATE', stream, 'h', '0');
    for (let i = 0; i < 5; i++) await redis.xadd(stream, '*', 'v', String(i));
    const read = (await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 3, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    await redis.xack(stream, 'g', read[0]![1][0]![0]);
    return stream;
  }

  test('read from XINFO GROUPS at each scrape, by stream (without the prefix) and group', async () => {
    const prefix = uniquePrefix();
    const stream = await streamWithGroups(prefix);
    const registry = createMetricsRegistry('test');
    registerStreamGauges(registry, { redis, prefix, streams: [stream, `${prefix}never-created`] });
    const byGroup = async (name: string) =>
      Object.fromEntries((await samples(registry, name)).map((v) => [`${v.labels.stream}/${v.labels.group}`, v.value]));
    assert.deepEqual(await byGroup('pushflow_stream_lag'), { 'work/g': 2, 'work/h': 5 });
    assert.deepEqual(await byGroup('pushflow_stream_pending'), { 'work/g': 2, 'work/h': 0 });

    await redis.xadd(stream, '*', 'v', 'more');
    assert.deepEqual(await byGroup('pushflow_stream_lag'), { 'work/g': 3, 'work/h': 6 }, 'a later scrape reads again');
  });

  test('lag Redis cannot tell (an entry deleted inside the unread range) is left out, pending stays', async () => {
    const prefix = uniquePrefix();
    const stream = await streamWithGroups(prefix);
    const [last] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
    const [first] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
    await redis.xdel(stream, first![0]);
    await redis.xdel(stream, last![0]);
    const infos = await readGroups(redis, [stream], prefix);
    assert.ok(
      infos?.some((i) => i.lag === null),
      JSON.stringify(infos),
    );
    const registry = createMetricsRegistry('test');
    registerStreamGauges(registry, { redis, prefix, streams: [stream] });
    const lag = await samples(registry, 'pushflow_stream_lag');
    assert.equal(lag.length, infos!.filter((i) => i.lag !== null).length);
    assert.equal((await samples(registry, 'pushflow_stream_pending')).length, 2);
  });

  test('a Redis that does not answer in time leaves the gauges out instead of holding the scrape', async () => {
    const prefix = uniquePrefix();
    const stream = await streamWithGroups(prefix);
    const registry = createMetricsRegistry('test');
    registerStreamGauges(registry, { redis, prefix, streams: [stream], timeoutMs: 100 });
    const admin = createRedis(server.url, 'metrics-test-admin');
    try {
      // Every client's commands wait until the pause ends.
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL');
      const text = await registry.metrics();
      assert.doesNotMatch(text, /^pushflow_stream_(lag|pending)\{/m);
      assert.match(text, /# TYPE pushflow_stream_lag gauge/);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    }
    assert.equal((await samples(registry, 'pushflow_stream_lag')).length, 2, 'back once Redis answers');
  });

  test('a client that is not connected is not asked: its commands would queue through the outage', async () => {
    const offline = createRedis('redis://127.0.0.1:1', 'metrics-test-offline');
    offline.on('error', () => {});
    try {
      const registry = createMetricsRegistry('test');
      registerStreamGauges(registry, { redis: offline, prefix: '', streams: ['s'], timeoutMs: 60_000 });
      assert.equal((await samples(registry, 'pushflow_stream_lag')).length, 0);
      assert.equal(
        (offline as unknown as { commandQueue: { length: number } }).commandQueue.length +
          (offline as unknown as { offlineQueue: { length: number } }).offlineQueue.length,
        0,
      );
    } finally {
      offline.disconnect();
    }
  });
});
