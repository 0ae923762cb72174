import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createRedis, encodeEntry, eventCodec, makeKeys, readGroupWith, uuidv7, type Keys, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { createPresence, type Presence } from '../../delivery/src/presence.ts';
import { openClient, startTestNode, tokenFor } from '../../delivery/test/helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { monitorRedis } from '../../test/harness/redis-monitor.ts';
import { createRouteTable, type RouteTable } from '../src/sending/route-table.ts';

/**
 * The dispatcher's in-memory route table against a real Redis, fed by the delivery nodes'
 * own presence code (and, for the races, a real delivery node and real WebSockets).
 */
const NODE_TTL_MS = 1000;
const ALIVE = () => Date.now() + 3_600_000;
let srv: Server;
let admin: RedisClient;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  srv = await redisServer();
  admin = createRedis(srv.url, 'route-table-test');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
after(async () => {
  admin?.disconnect();
  await srv?.stop();
});

let tables = 0;
interface Started {
  table: RouteTable;
  /** The table's two connections, as the test created them. */
  redis: RedisClient;
  blocking: RedisClient;
  name: string;
  lines: Record<string, unknown>[];
}

async function startTable(keys: Keys, opts: { livenessMs?: number; blockMs?: number } = {}): Promise<Started> {
  const name = `rt${++tables}-${process.pid}`;
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  );
  const redis = createRedis(srv.url, `${name}-main`);
  const blocking = createRedis(srv.url, `${name}-blocking`);
  const table = createRouteTable({
    redis,
    blocking,
    keys,
    nodeTtlMs: NODE_TTL_MS,
    log,
    livenessMs: opts.livenessMs ?? 20,
    blockMs: opts.blockMs ?? 200,
  });
  cleanups.push(async () => {
    await table.stop();
    redis.disconnect();
  });
  await table.start();
  return { table, redis, blocking, name, lines };
}

function presenceOf(keys: Keys, nodeId: string): Presence {
  return createPresence({ redis: admin, keys, nodeId, log: pino({ level: 'silent' }) });
}

/** One recipient's route, and whether the table had to ask Redis for it. */
async function routeOf(table: RouteTable, recipientId: string, now = Date.now()): Promise<{ nodes: string[]; asked: boolean }> {
  const before = table.stats().fromRedis;
  const nodes = (await table.route([recipientId], now)).get(recipientId)!;
  return { nodes, asked: table.stats().fromRedis > before };
}

/** Resolves once the table routes the recipient to `nodes` from memory, without Redis. */
async function knows(table: RouteTable, recipientId: string, nodes: string[]): Promise<void> {
  await waitFor(
    `table routes ${recipientId} to [${nodes.join(', ')}] from memory`,
    async () => {
      const r = await routeOf(table, recipientId);
      return !r.asked && JSON.stringify(r.nodes) === JSON.stringify(nodes) ? true : undefined;
    },
    3000,
  );
}

/** Resolves once the table has no live route for the recipient (and Redis agrees). */
async function offline(table: RouteTable, recipientId: string): Promise<void> {
  await waitFor(`${recipientId} offline`, async () => ((await routeOf(table, recipientId)).nodes.length === 0 ? true : undefined), 3000);
}

async function killConnection(name: string): Promise<void> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `no connection named ${name}`);
  await admin.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
}

async function addressOf(name: string): Promise<string> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  assert.ok(line, `no connection named ${name}`);
  return /\baddr=(\S+)/.exec(line)![1]!;
}

test('resyncs at start from the presence hashes and the heartbeats, without replaying older changes', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.hset(keys.presence('ann'), 'n1', '1');
  await admin.hset(keys.presence('ben'), 'n1', '2', 'n2', '1');
  await admin.hset(keys.presence('cid'), 'n3', '1');
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2', Date.now() - 2 * NODE_TTL_MS, 'n3');
  // A change from before the start that the hashes no longer show: not replayed.
  await admin.xadd(keys.presenceChanges, '*', 'node', 'n1', 'recipient', 'zed', 'count', '1');

  const { table, lines } = await startTable(keys);
  assert.deepEqual(
    await table.route(['ann', 'ben', 'cid', 'dan', 'ann', 'zed'], Date.now()),
    new Map([
      ['ann', ['n1']],
      ['ben', ['n1', 'n2']],
      ['cid', []],
      ['dan', []],
      ['zed', []],
    ]),
  );
  // cid (on a dead node only), dan and zed were asked of Redis; ann and ben were not.
  assert.deepEqual(table.stats(), { synced: true, resyncs: 1, recipients: 3, fromRedis: 3 });
  const resynced = lines.find((l) => l.msg === 'route table resynced');
  assert.equal(resynced?.level, 30);
  assert.equal(resynced?.reason, 'start');
  assert.equal(resynced?.recipients, 3);
  assert.equal(resynced?.routes, 4);
});

test('follows connects, disconnects and node resets', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2');
  const n1 = presenceOf(keys, 'n1');
  const n2 = presenceOf(keys, 'n2');
  const { table } = await startTable(keys);

  await n1.connected('eve');
  await knows(table, 'eve', ['n1']);
  await n2.connected('eve');
  await n1.connected('eve');
  await n1.disconnected('eve');
  await knows(table, 'eve', ['n1', 'n2']);
  await n1.disconnected('eve');
  await knows(table, 'eve', ['n2']);
  await n2.connected('fay');
  await knows(table, 'fay', ['n2']);

  // n2 restarts under its id: its fields go, and its reset drops its routes.
  await n2.clearStale();
  await offline(table, 'eve');
  await offline(table, 'fay');
  assert.equal(table.stats().recipients, 0);
  assert.equal(table.stats().resyncs, 1, 'followed, never resynced');
});

test('does not route to a node whose heartbeat went stale (a node dying), and routes again when it beats', async () => {
  const keys = makeKeys(uniquePrefix());
  const n1 = presenceOf(keys, 'n1');
  const stopBeating = n1.startHeartbeat(50);
  cleanups.push(async () => stopBeating());
  const { table } = await startTable(keys);
  await n1.connected('gil');
  await knows(table, 'gil', ['n1']);
  // Judged by the heartbeat it holds, at the time asked.
  assert.deepEqual((await routeOf(table, 'gil', Date.now() + 2 * NODE_TTL_MS)).nodes, []);

  // The node dies: no more heartbeats, its presence fields stay behind.
  stopBeating();
  await offline(table, 'gil');
  assert.equal(await admin.hget(keys.presence('gil'), 'n1'), '1');

  await n1.heartbeat();
  await knows(table, 'gil', ['n1']);
});

test('resyncs in full when changes it had not read were trimmed away or the stream was deleted', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1');
  const n1 = presenceOf(keys, 'n1');
  const { table, lines } = await startTable(keys);
  await n1.connected('gus');
  await knows(table, 'gus', ['n1']);

  // Two changes the table never gets to read: gus leaves, hal arrives, and the stream is trimmed.
  await admin
    .multi()
    .hdel(keys.presence('gus'), 'n1')
    .xadd(keys.presenceChanges, '*', 'node', 'n1', 'recipient', 'gus', 'count', '0')
    .hset(keys.presence('hal'), 'n1', '1')
    .xadd(keys.presenceChanges, '*', 'node', 'n1', 'recipient', 'hal', 'count', '1')
    .xtrim(keys.presenceChanges, 'MAXLEN', 0)
    .exec();
  await waitFor('resync after the gap', () => (table.stats().resyncs === 2 ? true : undefined), 3000);
  await knows(table, 'hal', ['n1']);
  await offline(table, 'gus');
  assert.ok(
    lines.some((l) => l.msg === 'route table missed presence changes; resyncing' && l.missed === 2),
    JSON.stringify(lines),
  );
  assert.ok(lines.some((l) => l.msg === 'route table resynced' && l.reason === 'gap'));

  // The stream deleted (and written again): whatever was in it is lost to the table too.
  await admin.multi().del(keys.presenceChanges).hset(keys.presence('ida'), 'n1', '1').exec();
  await n1.connected('jay');
  await waitFor('resync after the stream was deleted', () => (table.stats().resyncs === 3 ? true : undefined), 3000);
  await knows(table, 'ida', ['n1']);
  await knows(table, 'jay', ['n1']);
  await n1.disconnected('jay');
  await offline(table, 'jay');
});

test('resyncs after a reconnect of either of its connections', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1');
  const { table, name, lines } = await startTable(keys);

  // Presence the stream never told of, as after a Redis restart.
  await admin.hset(keys.presence('kai'), 'n1', '1');
  await killConnection(`${name}-blocking`);
  await waitFor('resync after the blocking connection came back', () => (table.stats().resyncs === 2 ? true : undefined), 5000);
  await knows(table, 'kai', ['n1']);

  await admin.hset(keys.presence('lea'), 'n1', '1');
  await killConnection(`${name}-main`);
  await waitFor('resync after the main connection came back', () => (table.stats().resyncs === 3 ? true : undefined), 5000);
  await knows(table, 'lea', ['n1']);
  assert.deepEqual(
    lines.filter((l) => l.msg === 'route table resynced').map((l) => l.reason),
    ['start', 'reconnect', 'reconnect'],
  );
});

test('routes from Redis while it cannot resync, and from memory once it can', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1');
  await admin.hset(keys.presence('uma'), 'n1', '1');
  await admin.set(keys.presenceChanges, 'not a stream'); // every read of it fails
  const { table, lines } = await startTable(keys);
  assert.equal(table.stats().synced, false);
  assert.deepEqual(await routeOf(table, 'uma'), { nodes: ['n1'], asked: true }, 'the fallback reads Redis for everyone');
  assert.ok(lines.some((l) => l.msg === 'route table resync failed; routing from Redis, retrying' && l.level === 40));

  await admin.del(keys.presenceChanges);
  await knows(table, 'uma', ['n1']);
  assert.equal(table.stats().synced, true);
});

test('routes a client that connected just before the send, though the table has not seen it yet', async () => {
  const prefix = uniquePrefix();
  const keys = makeKeys(prefix);
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2');
  const { table } = await startTable(keys);
  // The hash is written; its change is still on its way (here: never sent).
  await admin.hincrby(keys.presence('max'), 'n1', 1);
  assert.deepEqual(await routeOf(table, 'max'), { nodes: ['n1'], asked: true });

  // A real node and socket: routed the moment its presence is in Redis.
  const t = await startTestNode(srv.url, { PUSHFLOW_REDIS_PREFIX: prefix });
  cleanups.push(() => t.close());
  const client = await openClient(t.url(await tokenFor('ned')));
  cleanups.push(async () => void client.ws.close());
  await waitFor(
    'presence in Redis',
    async () => ((await admin.hget(keys.presence('ned'), t.node.nodeId)) === '1' ? true : undefined),
    2000,
  );
  assert.deepEqual((await routeOf(table, 'ned')).nodes, [t.node.nodeId]);
  await knows(table, 'ned', [t.node.nodeId]);
});

test('a client that disconnects during a send gets an honest RECIPIENT_OFFLINE from the node it was routed to', async () => {
  const prefix = uniquePrefix();
  const keys = makeKeys(prefix);
  const { table } = await startTable(keys);
  const t = await startTestNode(srv.url, { PUSHFLOW_REDIS_PREFIX: prefix });
  cleanups.push(() => t.close());
  const client = await openClient(t.url(await tokenFor('ola')));
  await knows(table, 'ola', [t.node.nodeId]);

  // Routed while the socket was open; it closes before the node gets the request.
  const routes = await table.route(['ola'], Date.now());
  assert.deepEqual(routes.get('ola'), [t.node.nodeId]);
  client.ws.close(1000);
  await waitFor('socket gone', async () => ((await admin.hexists(keys.presence('ola'), t.node.nodeId)) === 0 ? true : undefined), 2000);
  const notificationId = uuidv7();
  await admin.xadd(
    keys.deliveries(t.node.nodeId),
    '*',
    ...encodeEntry({ notificationId, recipientId: 'ola', title: 'late', acceptedAt: new Date().toISOString() }),
  );

  const outcome = await waitFor(
    'the node answers',
    async () =>
      (await admin.xrange(keys.events(0), '-', '+'))
        .flatMap(([, fields]) => eventCodec.items(fields))
        .find((e) => e.notificationId === notificationId),
    3000,
  );
  assert.ok(outcome.type === 'notification.failed', JSON.stringify(outcome));
  assert.equal(outcome.reason, 'RECIPIENT_OFFLINE');
  assert.equal(outcome.nodeId, t.node.nodeId);
  // The next send is not routed there.
  await offline(table, 'ola');
});

test('a restarted dispatcher (a new table) starts correct from what happened while it was down', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2');
  const n1 = presenceOf(keys, 'n1');
  const n2 = presenceOf(keys, 'n2');
  const first = await startTable(keys);
  await n1.connected('pia');
  await n1.connected('quin');
  await n2.connected('quin');
  await knows(first.table, 'quin', ['n1', 'n2']);
  await first.table.stop();
  // Stopped, it still answers, from Redis.
  assert.equal(first.table.stats().synced, false);
  assert.deepEqual(await routeOf(first.table, 'pia'), { nodes: ['n1'], asked: true });

  await n1.disconnected('pia');
  await n2.connected('rae');
  await n1.clearStale(); // n1 restarted: its routes are gone

  const second = await startTable(keys);
  assert.deepEqual(
    await second.table.route(['pia', 'quin', 'rae'], Date.now()),
    new Map([
      ['pia', []],
      ['quin', ['n2']],
      ['rae', ['n2']],
    ]),
  );
  assert.deepEqual(second.table.stats(), { synced: true, resyncs: 1, recipients: 2, fromRedis: 1 });
  await n1.connected('pia');
  await knows(second.table, 'pia', ['n1']);
});

test('routes online recipients with one read of the presence changes per batch, none per notification', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1');
  const n1 = presenceOf(keys, 'n1');
  const recipients = Array.from({ length: 100 }, (_, i) => `r${i}`);
  for (const r of recipients) await n1.connected(r);
  // Nothing in the background during the measurement: no heartbeat read, a long blocking read.
  const { table, redis, name } = await startTable(keys, { livenessMs: 60_000, blockMs: 30_000 });
  await knows(table, 'r99', ['n1']);
  const addresses = new Set([await addressOf(`${name}-main`), await addressOf(`${name}-blocking`)]);

  const monitor = await monitorRedis(srv.url);
  cleanups.push(async () => monitor.close());
  /** Everything the table's connections sent before this marker on its main one. */
  const drained = async (marker: string) => {
    await redis.echo(marker);
    await waitFor('marker seen', () => (monitor.commands.some((c) => c.args[1] === marker) ? true : undefined), 2000);
    return monitor.commands
      .splice(0)
      .filter((c) => addresses.has(c.source) && c.args[1] !== marker)
      .map((c) => c.args);
  };
  await new Promise((r) => setTimeout(r, 100));
  await drained('settled');

  for (let i = 0; i < 50; i++) {
    const routes = await table.route(recipients, Date.now());
    assert.equal(routes.size, 100);
    assert.ok([...routes.values()].every((nodes) => nodes.length === 1 && nodes[0] === 'n1'));
  }
  // One catch-up read of the changes stream per batch of 100: a plain XRANGE from the table's
  // own entry, never the counters script (EVAL) while that entry is there.
  const online = await drained('online');
  assert.equal(online.filter((c) => c[0] === 'xrange').length, 50, 'one read per batch');
  assert.deepEqual(
    online.filter((c) => c[0] !== 'xrange'),
    [],
    'nothing per notification, and no script',
  );

  // The control: an unknown recipient is confirmed from Redis, in one pipeline.
  assert.deepEqual(
    await table.route(['r1', 'nobody'], Date.now()),
    new Map([
      ['r1', ['n1']],
      ['nobody', []],
    ]),
  );
  assert.deepEqual(
    (await drained('offline')).map((c) => c[0]!).filter((c) => !/^(eval|xinfo|exists|xrange)$/i.test(c)),
    ['zrangebyscore', 'hgetall'],
  );
});

test('a second device that connected a moment before the send is routed to, however far behind the follower is', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2');
  const n1 = presenceOf(keys, 'n1');
  const n2 = presenceOf(keys, 'n2');
  await n1.connected('sam');
  // The follower waits a whole minute between reads: only route()'s own catch-up can see n2.
  const { table } = await startTable(keys, { blockMs: 60_000 });
  await knows(table, 'sam', ['n1']);
  await new Promise((r) => setTimeout(r, 50));
  await n2.connected('sam');
  assert.deepEqual((await table.route(['sam'], Date.now())).get('sam'), ['n1', 'n2']);
});

test('a node whose first heartbeats the table has not read yet is routed to, from Redis', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1');
  const n1 = presenceOf(keys, 'n1');
  const n2 = presenceOf(keys, 'n2');
  // Heartbeats read once, at the resync: n2 starts after it.
  const { table } = await startTable(keys, { livenessMs: 60_000 });
  await n1.connected('tia');
  await knows(table, 'tia', ['n1']);
  await admin.zadd(keys.nodes, ALIVE(), 'n2');
  await n2.connected('tia');
  assert.deepEqual((await table.route(['tia'], Date.now())).get('tia'), ['n1', 'n2']);
});

test('a batch whose read brought the changes along is routed with them, with no read of its own', async () => {
  const keys = makeKeys(uniquePrefix());
  await admin.zadd(keys.nodes, ALIVE(), 'n1', ALIVE(), 'n2');
  await presenceOf(keys, 'n1').connected('sam');
  const { table, name } = await startTable(keys, { livenessMs: 60_000, blockMs: 30_000 });
  await knows(table, 'sam', ['n1']);
  const commands = `${uniquePrefix()}commands`;
  await admin.xgroup('CREATE', commands, 'g', '$', 'MKSTREAM');
  const reader = createRedis(srv.url, `${name}-reader`);
  cleanups.push(async () => void reader.disconnect());
  const main = await addressOf(`${name}-main`);
  const monitor = await monitorRedis(srv.url);
  cleanups.push(async () => monitor.close());

  // The sender's consumer, blocked on its commands with the table's read behind it; a second
  // device connects, then the send arrives.
  const along = table.alongReads();
  const command = along.alongside.command();
  assert.ok(command, 'a trusted table has a read to send along');
  const read = readGroupWith(reader, { stream: commands, group: 'g', consumer: 'c', count: 10, blockMs: 5000, id: '>' }, command);
  await new Promise((r) => setTimeout(r, 50));
  await presenceOf(keys, 'n2').connected('sam');
  await admin.xadd(commands, '*', 'send', 'sam');
  const { entries, along: result } = await read;
  assert.equal(entries.length, 1);
  along.alongside.take(result);
  const before = table.stats().fromRedis;
  assert.deepEqual((await along.route(['sam'], Date.now())).get('sam'), ['n1', 'n2']);
  assert.equal(table.stats().fromRedis, before, 'routed from memory');
  await admin.echo('routed');
  await waitFor('marker seen', () => (monitor.commands.some((c) => c.args[1] === 'routed') ? true : undefined), 2000);
  assert.deepEqual(
    monitor.commands.filter((c) => c.source === main && c.args[0] !== 'echo').map((c) => c.args[0]),
    [],
    'route() read nothing itself',
  );

  // Without a read along (a retried batch, a claim), route() reads the changes itself.
  await along.route(['sam'], Date.now());
  await admin.echo('again');
  await waitFor('marker seen', () => (monitor.commands.some((c) => c.args[1] === 'again') ? true : undefined), 2000);
  assert.deepEqual(
    monitor.commands.filter((c) => c.source === main).map((c) => c.args[0]),
    ['xrange'],
  );
});
