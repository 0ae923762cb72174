import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type ChainableCommander } from 'ioredis';
import { createRedis, keySlot, masters, pipelined, replicated, scanKeys, writeInOrder, type RedisClient } from '@pushflow/shared';
import { redisCluster, type RedisCluster } from '../../local-stack/redis-cluster.ts';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { keysOnThreeMasters } from './stack.ts';

describe('ordered writes on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let redis: RedisClient;
  before(async () => {
    cluster = await redisCluster();
    redis = createRedis(cluster.url, 'ordered-writes-test');
  });
  after(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  test('each phase is split per master, sent in parallel, and the next waits for it', async () => {
    assert.ok(redis instanceof Cluster);
    const prefix = uniquePrefix();
    const [a, b, c] = await keysOnThreeMasters(cluster, prefix);
    // Every pipeline's exec is logged as it starts and as it ends.
    const log: string[] = [];
    const original = redis.pipeline.bind(redis);
    let n = 0;
    (redis as unknown as { pipeline: () => ChainableCommander }).pipeline = () => {
      const pipe = original();
      const exec = pipe.exec.bind(pipe);
      const id = n++;
      pipe.exec = (async () => {
        log.push(`start ${id}`);
        const out = await exec();
        log.push(`end ${id}`);
        return out;
      }) as typeof pipe.exec;
      return pipe;
    };
    try {
      const results = await writeInOrder(redis, [
        replicated((pipe) => pipe.rpush(a!, 'first').rpush(b!, 'first').rpush(c!, 'first')),
        (pipe) => pipe.rpush(c!, 'second').rpush(a!, 'second'),
        (pipe) => pipe.lrange(a!, 0, -1).lrange(b!, 0, -1).lrange(c!, 0, -1),
      ]);
      assert.deepEqual(
        results.map(([err]) => err),
        new Array(8).fill(null),
      );
      assert.deepEqual(
        results.slice(0, 5).map(([, v]) => v),
        [1, 1, 1, 2, 2],
        'results in the order queued',
      );
      assert.deepEqual(
        results.slice(5).map(([, v]) => v),
        [['first', 'second'], ['first'], ['first', 'second']],
      );
      // Phase one: three pipelines (three masters), all ended before phase two started.
      const firstEnd = log.lastIndexOf('end 2');
      assert.deepEqual(log.slice(0, 3).sort(), ['start 0', 'start 1', 'start 2'], 'phase one sent in parallel');
      assert.ok(firstEnd < log.indexOf('start 3'), `phase two waited for phase one: ${log.join(', ')}`);
      assert.ok(log.lastIndexOf('end 4') < log.indexOf('start 5'), `phase three waited for phase two: ${log.join(', ')}`);
    } finally {
      delete (redis as unknown as { pipeline?: unknown }).pipeline;
    }
  });

  test('a later phase does not run when an earlier one failed', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await keysOnThreeMasters(cluster, prefix);
    await redis.set(a!, 'not a list');
    await assert.rejects(
      writeInOrder(redis, [(pipe) => pipe.rpush(a!, 'x').rpush(b!, 'x'), (pipe) => pipe.set(`${b!}:after`, '1')]),
      /WRONGTYPE/,
    );
    assert.equal(await redis.get(`${b!}:after`), null);
  });

  test('a MULTI stays whole on its slot; one over two slots is refused before anything is sent', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await keysOnThreeMasters(cluster, prefix);
    const tx = (pipe: ChainableCommander) => pipe as ChainableCommander & { multi(): ChainableCommander };
    const results = await writeInOrder(redis, [
      (pipe) => {
        tx(pipe).multi();
        pipe.incr(a!).incr(a!);
        void pipe.exec();
        pipe.incr(b!);
      },
    ]);
    assert.deepEqual(results.at(-2)?.[1], [1, 2], 'EXEC answers both INCRs');
    await assert.rejects(
      writeInOrder(redis, [
        (pipe) => {
          tx(pipe).multi();
          pipe.incr(`${a!}:x`).incr(`${b!}:x`);
          void pipe.exec();
        },
      ]),
      (err: Error & { code?: string }) => err.code === 'CROSSSLOT_TRANSACTION',
    );
    assert.equal(await redis.get(`${a!}:x`), null);
  });

  test('scanKeys visits every master: SCAN on one node sees only its own keys', async () => {
    const prefix = uniquePrefix();
    const keys = Array.from({ length: 60 }, (_, i) => `${prefix}s:${i}`);
    await writeInOrder(redis, [
      (pipe) => {
        for (const k of keys) pipe.set(k, '1');
      },
    ]);
    assert.equal(masters(redis).length, 3);
    const found: string[] = [];
    for await (const batch of scanKeys(redis, `${prefix}s:*`, 7)) found.push(...batch);
    assert.deepEqual(found.sort(), [...keys].sort());
  });

  test('pipelined reads across masters come back in the order queued', async () => {
    const prefix = uniquePrefix();
    const keys = Array.from({ length: 50 }, (_, i) => `${prefix}r:${i}`);
    assert.ok(new Set(keys.map(keySlot)).size > 10);
    await writeInOrder(redis, [
      (pipe) => {
        keys.forEach((k, i) => {
          pipe.set(k, String(i));
        });
      },
    ]);
    const results = await pipelined(redis, (pipe) => {
      for (const k of keys) pipe.get(k);
    });
    assert.deepEqual(
      results.map(([, v]) => v),
      keys.map((_, i) => String(i)),
    );
  });
});

describe('ordered writes on one Redis', () => {
  let server: Server;
  let redis: RedisClient;
  before(async () => {
    server = await redisServer();
    redis = createRedis(server.url, 'ordered-writes-test');
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test('every phase goes into one pipeline: one round trip, as before', async () => {
    const prefix = uniquePrefix();
    let pipelines = 0;
    let execs = 0;
    const original = redis.pipeline.bind(redis);
    (redis as unknown as { pipeline: () => ChainableCommander }).pipeline = () => {
      pipelines++;
      const pipe = original();
      const exec = pipe.exec.bind(pipe);
      pipe.exec = ((...args: Parameters<typeof exec>) => {
        execs++;
        return exec(...args);
      }) as typeof pipe.exec;
      return pipe;
    };
    try {
      const results = await writeInOrder(redis, [
        replicated((pipe) => pipe.rpush(`${prefix}a`, '1').rpush(`${prefix}b`, '1')),
        (pipe) => pipe.rpush(`${prefix}a`, '2'),
        (pipe) => pipe.lrange(`${prefix}a`, 0, -1),
      ]);
      assert.equal(pipelines, 1);
      assert.equal(execs, 1);
      assert.deepEqual(
        results.map(([, v]) => v),
        [1, 1, 2, ['1', '2']],
      );
    } finally {
      delete (redis as unknown as { pipeline?: unknown }).pipeline;
    }
  });
});
