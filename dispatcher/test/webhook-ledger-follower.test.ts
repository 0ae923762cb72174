import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { consumerGroups, createRedis, startConsumer, type RedisClient, type StreamEntry } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import type { EndpointCache, LiveEndpoint } from '../src/webhooks/endpoint-cache.ts';
import { followLedger } from '../src/webhooks/ledger-follower.ts';

/**
 * The relay's place on an events stream, against a real Redis: no reading while no endpoint
 * is enabled, nothing skipped that an endpoint answered meanwhile is owed.
 */
let srv: Server;
let redis: RedisClient;
const log = pino({ level: 'silent' });
const GROUP = 'webhooks';
const POLL_MS = 30;

before(async () => {
  srv = await redisServer();
  redis = createRedis(srv.url, 'ledger-follower-test');
});
after(async () => {
  redis.disconnect();
  await srv.stop();
});

/** The endpoints the relay would see: `enabled` says whether one of them is. */
function endpointsOf(enabled: () => boolean, beforeAnswer: () => Promise<void> = async () => {}): EndpointCache {
  const endpoint = (): LiveEndpoint => ({
    id: 'ep',
    url: 'https://example.com/hook',
    events: new Set(['notification.failed']),
    enabled: enabled(),
    activeSince: 0,
    sign: () => 'v1,unused',
  });
  return {
    async current() {
      await beforeAnswer();
      return new Map([['ep', endpoint()]]);
    },
    known: () => new Map([['ep', endpoint()]]),
  };
}

/** Appends `n` entries one after the other; their ids. */
async function append(stream: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await redis.xadd(stream, '*', 'data', `{"n":${i}}`))!);
  return ids;
}

async function group(stream: string) {
  return (await consumerGroups(redis, stream))?.find((g) => g.name === GROUP);
}

/** A consumer that acks what it reads and keeps the ids. */
function reader(stream: string, read: string[], started: { count: number }) {
  return () => {
    started.count++;
    return startConsumer({
      redis: createRedis(srv.url, 'relay-reader'),
      stream,
      group: GROUP,
      consumer: 'relay',
      count: 100,
      blockMs: 50,
      log,
      handler: async (entries: StreamEntry[]) => {
        read.push(...entries.map((e) => e.id));
        await redis.xack(stream, GROUP, ...entries.map((e) => e.id));
      },
    });
  };
}

/** A follower on `stream` whose consumer acks what it reads and keeps the ids. */
function follow(stream: string, cache: EndpointCache) {
  const read: string[] = [];
  const started = { count: 0 };
  const follower = followLedger({ redis, stream, group: GROUP, cache, pollMs: POLL_MS, consume: reader(stream, read, started), log });
  return { follower, read, started };
}

test('with no endpoint enabled nothing reads the stream, and the group follows its end', async () => {
  const stream = `${uniquePrefix()}:events`;
  await append(stream, 50);
  const { follower, read, started } = follow(
    stream,
    endpointsOf(() => false),
  );
  try {
    const ids = await append(stream, 20);
    await waitFor('the group at the end of the stream', async () => {
      const g = await group(stream);
      return g?.lastDeliveredId === ids.at(-1) ? g : undefined;
    });
    const g = (await group(stream))!;
    assert.equal(g.lag, 0);
    assert.equal(g.pending, 0);
    assert.equal(((await redis.xinfo('CONSUMERS', stream, GROUP)) as unknown[]).length, 0, 'no consumer ever read the stream');
    assert.equal(started.count, 0);
    assert.deepEqual(read, []);
    // The group keeps counting what it has not read: the lag the dashboard and metrics show.
    await follower.stop();
    await append(stream, 3);
    assert.equal((await group(stream))!.lag, 3);
  } finally {
    await follower.stop();
  }
});

test('an event appended while the endpoints are read is not skipped: the endpoint answered meanwhile gets it', async () => {
  const stream = `${uniquePrefix()}:events`;
  const before = await append(stream, 5);
  // The first read of the endpoints finds none, and an event is appended while it runs: an
  // endpoint was created just then, and the event came after its answer. Every later read
  // finds the endpoint. Reading the stream's end after the endpoints would skip the event.
  let checks = 0;
  let during: string | undefined;
  const cache = endpointsOf(
    () => checks > 1,
    async () => {
      if (++checks === 1) during = (await redis.xadd(stream, '*', 'data', '{"during":true}'))!;
    },
  );
  const { follower, read, started } = follow(stream, cache);
  try {
    await waitFor('the event read', async () => (during && read.includes(during) ? true : undefined));
    assert.ok(
      before.every((id) => !read.includes(id)),
      'what came before was skipped',
    );
    assert.equal(started.count, 1);
  } finally {
    await follower.stop();
  }
});

test('the consumer runs while an endpoint is enabled, stops when none is, and the group moves on without it', async () => {
  const stream = `${uniquePrefix()}:events`;
  let enabled = true;
  const { follower, read, started } = follow(
    stream,
    endpointsOf(() => enabled),
  );
  try {
    const first = await append(stream, 10);
    await waitFor('the first entries read', async () => (first.every((id) => read.includes(id)) ? true : undefined));
    enabled = false;
    // Stopped once a turn has seen no endpoint: the group then moves past what follows unread.
    await waitFor('the group past a later entry', async () => {
      const [id] = await append(stream, 1);
      await new Promise((r) => setTimeout(r, POLL_MS * 3));
      return (await group(stream))?.lastDeliveredId === id && !read.includes(id!) ? true : undefined;
    });
    const unread = await append(stream, 10);
    await waitFor('the group past them', async () => ((await group(stream))?.lastDeliveredId === unread.at(-1) ? true : undefined));
    assert.ok(
      unread.every((id) => !read.includes(id)),
      'nothing read while no endpoint is enabled',
    );
    enabled = true;
    const again = await append(stream, 3);
    await waitFor('read again', async () => (again.every((id) => read.includes(id)) ? true : undefined));
    assert.equal(started.count, 2);
  } finally {
    await follower.stop();
  }
});

test('a stream that does not exist yet is left alone until it does', async () => {
  const stream = `${uniquePrefix()}:events`;
  const { follower, started } = follow(
    stream,
    endpointsOf(() => false),
  );
  try {
    await new Promise((r) => setTimeout(r, POLL_MS * 4));
    assert.equal(await redis.exists(stream), 0, 'the follower made no stream');
    const [id] = await append(stream, 1);
    await waitFor('the group at its end', async () => ((await group(stream))?.lastDeliveredId === id ? true : undefined));
    assert.equal(started.count, 0);
  } finally {
    await follower.stop();
  }
});
