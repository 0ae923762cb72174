import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { consumerGroups, createRedis, type RedisClient } from '../src/index.ts';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';

/** XINFO GROUPS as every reader of it (metrics, retention, the reaper, the tests) sees it, from a real Redis. */
let server: Server;
let redis: RedisClient;
before(async () => {
  server = await redisServer();
  redis = createRedis(server.url, 'consumer-groups-test');
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

test('a group: what it was handed, what is pending, how far behind it is; no stream, no groups', async () => {
  const stream = `${uniquePrefix()}s`;
  assert.equal(await consumerGroups(redis, stream), undefined);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await redis.xadd(stream, '*', 'n', String(i)))!);
  await redis.xgroup('CREATE', stream, 'readers', '0');
  await redis.xgroup('CREATE', stream, 'idle', '$');
  await redis.xreadgroup('GROUP', 'readers', 'c1', 'COUNT', 3, 'STREAMS', stream, '>');
  await redis.xack(stream, 'readers', ids[0]!);
  const groups = await consumerGroups(redis, stream);
  assert.deepEqual(
    groups?.sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'idle', lastDeliveredId: ids[4], pending: 0, lag: 0 },
      { name: 'readers', lastDeliveredId: ids[2], pending: 2, lag: 2 },
    ],
  );
  // After an XDEL inside the unread range Redis cannot count the lag: null, not a number.
  await redis.xdel(stream, ids[3]!);
  assert.equal((await consumerGroups(redis, stream))?.find((g) => g.name === 'readers')?.lag, null);
});
