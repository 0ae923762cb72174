import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { consumerGroups, createRedis, type RedisClient } from '@pushflow/shared';
import { redisCluster, type RedisCluster } from '../../local-stack/redis-cluster.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { followLedger } from '../../dispatcher/src/webhooks/ledger-follower.ts';
import type { EndpointCache } from '../../dispatcher/src/webhooks/endpoint-cache.ts';
import { waitFor } from '../harness/wait.ts';
import { keysOnThreeMasters } from './stack.ts';

/**
 * The webhook relay with no endpoint on a Redis Cluster: XINFO STREAM and XGROUP SETID name
 * their key after a subcommand, which ioredis's cluster routing does not read, so they reach
 * the stream's master by a redirect. Each events partition lives on a master of its own.
 */
describe('the idle webhook relay on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let redis: RedisClient;
  before(async () => {
    cluster = await redisCluster();
    redis = createRedis(cluster.url, 'webhook-follower-test');
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  test('the group follows the end of streams on three masters without reading them', async () => {
    const streams = await keysOnThreeMasters(cluster, uniquePrefix());
    const none: EndpointCache = { current: async () => new Map(), known: () => new Map() };
    const log = pino({ level: 'silent' });
    const followers = streams.map((stream) =>
      followLedger({
        redis,
        stream,
        group: 'webhooks',
        cache: none,
        pollMs: 30,
        consume: () => assert.fail('no endpoint: no consumer'),
        log,
      }),
    );
    try {
      for (const stream of streams) {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await redis.xadd(stream, '*', 'data', `{"n":${i}}`))!);
        await waitFor(`the group at the end of ${stream}`, async () => {
          const group = (await consumerGroups(redis, stream))?.find((g) => g.name === 'webhooks');
          return group?.lastDeliveredId === ids.at(-1) && group?.lag === 0 ? true : undefined;
        });
      }
    } finally {
      await Promise.all(followers.map((f) => f.stop()));
    }
  });
});
