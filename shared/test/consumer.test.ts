import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PoisonEntry, createRedis, startConsumer, type ConsumerOptions, type RedisClient, type StreamEntry } from '../src/index.ts';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { tcpProxy } from '../../test/harness/proxy.ts';

const log = pino({ level: 'silent' });
let server: Server;
let redis: RedisClient;

before(async () => {
  server = await redisServer();
  redis = createRedis(server.url, 'consumer-test');
});

after(async () => {
  redis.disconnect();
  await server.stop();
});

/** A consumer of group `g` on its own blocking connection; `options` overrides the defaults. */
function consume(stream: string, handler: ConsumerOptions['handler'], options: Partial<ConsumerOptions> = {}) {
  return startConsumer({
    stream,
    group: 'g',
    consumer: 'c1',
    count: 10,
    blockMs: 5000,
    handler,
    log,
    ...options,
    redis: options.redis ?? createRedis(server.url, 'blocking'),
  });
}

const acking = (stream: string, seen: string[]) => async (entries: StreamEntry[]) => {
  seen.push(...entries.map((e) => e.fields[1]!));
  await redis.xack(stream, 'g', ...entries.map((e) => e.id));
};

test('reads new entries in batches and leaves nothing pending once the handler acked', async () => {
  const stream = `${uniquePrefix()}s`;
  const seen: string[] = [];
  const c = consume(stream, acking(stream, seen));
  for (let i = 0; i < 25; i++) await redis.xadd(stream, '*', 'v', String(i));
  await waitFor('25 entries', async () => (seen.length === 25 ? true : undefined));
  assert.deepEqual(
    seen,
    Array.from({ length: 25 }, (_, i) => String(i)),
  );
  assert.equal((await redis.xpending(stream, 'g'))[0], 0);
  const started = Date.now();
  await c.stop();
  assert.ok(Date.now() - started < 1000, 'stop does not wait out a 5 s blocking read');
});

test('a failing handler gets the same batch again, and nothing new meanwhile', async () => {
  const stream = `${uniquePrefix()}s`;
  const calls: string[][] = [];
  let failures = 2;
  const c = consume(stream, async (entries) => {
    calls.push(entries.map((e) => e.fields[1]!));
    if (failures-- > 0) throw new Error('MongoDB is down');
    await redis.xack(stream, 'g', ...entries.map((e) => e.id));
  });
  await redis.xadd(stream, '*', 'v', 'a');
  await waitFor('first attempt', async () => (calls.length >= 1 ? true : undefined));
  await redis.xadd(stream, '*', 'v', 'b');
  await waitFor('recovery', async () => ((await redis.xpending(stream, 'g'))[0] === 0 && calls.flat().includes('b') ? true : undefined));
  await c.stop();
  assert.deepEqual(calls.slice(0, 3), [['a'], ['a'], ['a']], 'the failed batch is retried alone');
});

test('entries a consumer left pending before a crash are handled when it comes back', async () => {
  const stream = `${uniquePrefix()}s`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  await redis.xadd(stream, '*', 'v', 'left-over');
  await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', stream, '>'); // read, never acked
  const seen: string[] = [];
  const c = consume(stream, acking(stream, seen));
  await waitFor('the pending entry', async () => (seen.includes('left-over') ? true : undefined));
  await c.stop();
  assert.equal((await redis.xpending(stream, 'g'))[0], 0);
});

test('an entry read just as the connection died (its reply lost) is handled once the connection is back', async () => {
  // Redis put the entry in our pending list, the reply never arrived, and ioredis resent
  // the read after reconnecting, which asks only for newer entries: without re-reading our
  // own pending list the entry would wait for claimIdleMs (30 s by default), as it did in CI.
  const stream = `${uniquePrefix()}s`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  const proxy = await tcpProxy(server.url);
  const seen: StreamEntry[] = [];
  const c = consume(
    stream,
    async (entries) => {
      seen.push(...entries);
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      redis: createRedis(proxy.url, 'blocking'),
      blockMs: 500,
      claimIdleMs: 3_600_000,
    },
  );
  try {
    await waitFor('the consumer blocked in its read', async () =>
      ((await redis.xinfo('CONSUMERS', stream, 'g')) as unknown[]).length > 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 100));
    proxy.dropNextReply();
    await redis.xadd(stream, '*', 'v', 'lost-reply');
    await waitFor('the entry whose reply was lost', async () => (seen.length > 0 ? true : undefined), 5000);
  } finally {
    await c.stop();
    await proxy.close();
  }
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.fields[1], 'lost-reply');
  assert.equal(seen[0]!.redelivered, true, 'it came from the pending list, not from a new read');
  assert.equal((await redis.xpending(stream, 'g'))[0], 0);
});

test('a group that vanished (Redis restarted empty) is recreated instead of spinning', async () => {
  const stream = `${uniquePrefix()}s`;
  const seen: string[] = [];
  const c = consume(stream, acking(stream, seen));
  await redis.xadd(stream, '*', 'v', 'before');
  await waitFor('before', async () => (seen.includes('before') ? true : undefined));
  await redis.del(stream); // the group goes with the stream: the blocked read gets NOGROUP
  await new Promise((r) => setTimeout(r, 300));
  await redis.xadd(stream, '*', 'v', 'after');
  await waitFor('after', async () => (seen.includes('after') ? true : undefined), 10_000);
  await c.stop();
});

test('entries a dead consumer left pending are claimed after the idle time and marked redelivered', async () => {
  const stream = `${uniquePrefix()}s`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  await redis.xadd(stream, '*', 'v', 'orphan');
  await redis.xreadgroup('GROUP', 'g', 'dead-one', 'COUNT', 10, 'STREAMS', stream, '>');
  const seen: StreamEntry[] = [];
  const c = consume(
    stream,
    async (entries) => {
      seen.push(...entries);
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      consumer: 'alive',
      blockMs: 200,
      claimIdleMs: 300,
    },
  );
  await waitFor('the orphan', async () => (seen.length > 0 ? true : undefined), 5000);
  await c.stop();
  assert.equal(seen[0]!.fields[1], 'orphan');
  assert.equal(seen[0]!.redelivered, true);
  assert.equal((await redis.xpending(stream, 'g'))[0], 0);
});

test('reclaimAtStart: what the previous owner left pending is claimed at once, however fresh, past one batch', async () => {
  const stream = `${uniquePrefix()}s`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  for (let i = 0; i < 25; i++) await redis.xadd(stream, '*', 'v', String(i));
  await redis.xreadgroup('GROUP', 'g', 'previous-owner', 'COUNT', 100, 'STREAMS', stream, '>');
  const seen: StreamEntry[] = [];
  const started = Date.now();
  const c = consume(
    stream,
    async (entries) => {
      seen.push(...entries);
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      consumer: 'new-owner',
      blockMs: 200,
      claimIdleMs: 60_000,
      reclaimAtStart: true,
    },
  );
  await waitFor('all 25', async () => (seen.length === 25 ? true : undefined), 5000);
  assert.ok(Date.now() - started < 5000, 'claimed without waiting claimIdleMs');
  assert.ok(seen.every((e) => e.redelivered));
  assert.equal((await redis.xpending(stream, 'g'))[0], 0);
  // Once nothing is left to reclaim, claims wait claimIdleMs again: a fresh entry of another
  // consumer stays with it.
  // In one transaction: our blocked read is served only after it, and finds nothing new.
  await redis.multi().xadd(stream, '*', 'v', 'late').xreadgroup('GROUP', 'g', 'someone-else', 'COUNT', 1, 'STREAMS', stream, '>').exec();
  await new Promise((r) => setTimeout(r, 1500));
  await c.stop();
  assert.equal(seen.length, 25);
});

test('a poison entry goes to the dead-letter stream without holding up its neighbours', async () => {
  const stream = `${uniquePrefix()}s`;
  const handled: string[] = [];
  const dead: string[] = [];
  const c = consume(
    stream,
    async (entries) => {
      if (entries.some((e) => e.fields[1] === 'poison')) throw new PoisonEntry('cannot handle this one');
      handled.push(...entries.map((e) => e.fields[1]!));
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      consumer: 'c',
      blockMs: 200,
      onDeadLetter: async (entries) => {
        dead.push(...entries.map((e) => e.fields[1]!));
      },
    },
  );
  // Whether the poison entry is read alone or with neighbours, 'b' must get through.
  await redis.xadd(stream, '*', 'v', 'a');
  await redis.xadd(stream, '*', 'v', 'poison');
  await new Promise((r) => setTimeout(r, 300));
  await redis.xadd(stream, '*', 'v', 'b');
  await waitFor('neighbours handled', async () => (handled.includes('a') && handled.includes('b') ? true : undefined), 10_000);
  await waitFor('poison dead-lettered', async () => (dead.length === 1 ? true : undefined), 5000);
  await c.stop();
  assert.deepEqual(dead, ['poison']);
  const dl = await redis.xrange(`${stream}:dead`, '-', '+');
  assert.equal(dl.length, 1);
  assert.deepEqual(dl[0]![1].slice(4), ['v', 'poison']);
  assert.equal((await redis.xpending(stream, 'g'))[0], 0, 'the poison entry is acked on the stream');
});

test('an outage dead-letters nothing, even when some entries need nothing that is down, and recovers', async () => {
  const stream = `${uniquePrefix()}s`;
  let down = true;
  const handled: string[] = [];
  const c = consume(
    stream,
    async (entries) => {
      // Entries that need no database get through even now; that must not make the
      // others look like poison.
      if (down && entries.some((e) => e.fields[1] !== 'no-db')) throw new Error('MongoDB is down');
      handled.push(...entries.map((e) => e.fields[1]!));
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      consumer: 'c',
      blockMs: 200,
      maxAttempts: 2,
    },
  );
  for (const v of ['a', 'no-db', 'b', 'c', 'd']) await redis.xadd(stream, '*', 'v', v);
  await new Promise((r) => setTimeout(r, 1500)); // several failed rounds
  assert.equal(await redis.exists(`${stream}:dead`), 0);
  down = false;
  await waitFor('all handled', async () => (handled.length === 5 ? true : undefined), 10_000);
  await c.stop();
  assert.deepEqual([...handled].sort(), ['a', 'b', 'c', 'd', 'no-db']);
});

test('onBatch hears the size of every batch read, but not of a retried one', async () => {
  const stream = `${uniquePrefix()}s`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  const sizes: number[] = [];
  let failures = 1;
  const c = consume(
    stream,
    async (entries) => {
      if (failures-- > 0) throw new Error('MongoDB is down');
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      consumer: 'c',
      blockMs: 200,
      onBatch: (size) => sizes.push(size),
    },
  );
  // Added in one round trip, so the first read takes them together.
  await redis.pipeline(Array.from({ length: 13 }, (_, i) => ['xadd', stream, '*', 'v', String(i)])).exec();
  await waitFor('all acked', async () => ((await redis.xpending(stream, 'g'))[0] === 0 && failures < 0 ? true : undefined));
  await c.stop();
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    13,
    `batches ${JSON.stringify(sizes)}: each entry counted once`,
  );
  assert.ok(sizes.every((s) => s >= 1 && s <= 10));
});

test('lingerMs: entries that arrive just after a short read join its batch', async () => {
  const stream = `${uniquePrefix()}s`;
  const batches: string[][] = [];
  const c = consume(
    stream,
    async (entries) => {
      batches.push(entries.map((e) => e.fields[1]!));
      await redis.xack(stream, 'g', ...entries.map((e) => e.id));
    },
    {
      lingerMs: 200,
    },
  );
  try {
    await ensureGroupReady(stream);
    await redis.xadd(stream, '*', 'v', 'first');
    await new Promise((r) => setTimeout(r, 50));
    await redis.xadd(stream, '*', 'v', 'second');
    await waitFor('both handled', async () => (batches.flat().length === 2 ? true : undefined));
    assert.deepEqual(batches, [['first', 'second']]);
  } finally {
    await c.stop();
  }
});

/** Waits until the consumer's group exists, so an entry added next is read as new. */
async function ensureGroupReady(stream: string): Promise<void> {
  await waitFor('the group', async () => {
    const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[];
    return groups.length > 0 ? true : undefined;
  });
}

test('re-reads entries a handler leaves pending on purpose once per start, then goes on to new ones', async () => {
  const stream = `${uniquePrefix()}s`;
  // A first consumer takes three entries and leaves them pending (as delivery does with
  // entries waiting on a slow socket), then stops.
  const first: string[] = [];
  const c1 = consume(stream, async (entries) => void first.push(...entries.map((e) => e.fields[1]!)));
  for (let i = 0; i < 3; i++) await redis.xadd(stream, '*', 'v', `held${i}`);
  await waitFor('3 entries', async () => (first.length === 3 ? true : undefined));
  await c1.stop();

  // Restarted under the same name, it is handed them once, not again and again.
  const calls: string[][] = [];
  const c2 = consume(stream, async (entries) => void calls.push(entries.map((e) => e.fields[1]!)), { count: 2 });
  await redis.xadd(stream, '*', 'v', 'new');
  await waitFor('the new entry', async () => (calls.flat().includes('new') ? true : undefined));
  await new Promise((r) => setTimeout(r, 300));
  await c2.stop();
  assert.deepEqual(calls, [['held0', 'held1'], ['held2'], ['new']]);
});

test('alongside: a read pipelined behind the blocking read runs as it returns, and its answer comes with that batch', async () => {
  const stream = `${uniquePrefix()}s`;
  const key = `${stream}:along`;
  await redis.set(key, 'before');
  const order: string[] = [];
  const blocking = createRedis(server.url, 'blocking-along');
  const c = consume(stream, acking(stream, order), {
    redis: blocking,
    alongside: {
      command: () => ['GET', key],
      take: (result) => void order.push(`took ${'reply' in result ? String(result.reply) : result.err.message}`),
    },
  });
  // Blocked in its read, with the GET already sent behind it: what the GET answers shows
  // when Redis ran it.
  await waitFor('consumer blocked', async () => (/ cmd=xreadgroup /.test(String(await redis.call('CLIENT', 'LIST'))) ? true : undefined));
  await redis.set(key, 'after');
  await redis.xadd(stream, '*', 'v', 'entry');
  await waitFor('handled', async () => (order.length === 2 ? true : undefined));
  assert.deepEqual(order, ['took after', 'entry'], 'run when the read returned, and taken before its batch is handled');
  await c.stop();
});
