import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis as IORedis } from 'ioredis';
import { pino } from 'pino';
import { createRedis, keys as makeKeys, startConsumer, type Consumer, type Keys, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../test/harness/servers.ts';
import { uniquePrefix } from '../../test/harness/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { startPartitionLeases, type PartitionLeases } from '../src/partition-leases.ts';

const log = pino({ level: 'silent' });
const P = 8;
const GROUP = 'g';
const LEASE_MS = 1500;
const RENEW_MS = 200;
let srv: Server, redis: RedisClient;

before(async () => {
  srv = await redisServer();
  redis = createRedis(srv.url, 'lease-test');
});

after(async () => {
  redis.disconnect();
  await srv.stop();
});

/**
 * A dispatcher stand-in: holds leases and, for each partition held, consumes its commands
 * stream with the real consumer loop, recording what it handled. `crash()` makes it stop
 * answering at once (handlers hang, its lease connection dies) without releasing anything.
 */
function dispatcher(keys: Keys, owner: string) {
  const handled = new Map<string, string>();
  const leaseRedis = new IORedis(srv.url, { maxRetriesPerRequest: 0 });
  let crashed = false;
  const running = new Set<Consumer>();
  const leases: PartitionLeases = startPartitionLeases({
    redis: leaseRedis, keys, owner, leaseMs: LEASE_MS, renewMs: RENEW_MS, log,
    start(p, { reclaim }) {
      const stream = keys.commands(p);
      const consumer = startConsumer({
        redis: createRedis(srv.url, `${owner}-${p}`), stream, group: GROUP, consumer: owner, count: 20, blockMs: 100, log, claimIdleMs: 60_000, reclaimAtStart: reclaim,
        handler: async (entries) => {
          if (crashed) return new Promise<void>(() => {}); // a dead process never acks
          for (const e of entries) handled.set(e.id, owner);
          await redis.xack(stream, GROUP, ...entries.map((e) => e.id));
        },
      });
      running.add(consumer);
      return {
        stop: async () => {
          running.delete(consumer);
          // A hung handler never lets stop() resolve; the loop ends all the same.
          if (crashed) void consumer.stop();
          else await consumer.stop();
        },
      };
    },
  });
  return {
    leases, handled,
    crash() {
      crashed = true;
      leaseRedis.disconnect();
      for (const c of running) void c.stop();
    },
    async stop() {
      await leases.stop();
      leaseRedis.disconnect();
    },
  };
}

/** Appends to every partition's commands stream until stopped; returns the ids appended. */
function produce(keys: Keys) {
  const ids: string[] = [];
  let stopping = false;
  const done = (async () => {
    while (!stopping) {
      for (let p = 0; p < P; p++) ids.push((await redis.xadd(keys.commands(p), '*', 'n', String(ids.length)))!);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return { ids, stop: async () => { stopping = true; await done; } };
}

async function pendingTotal(keys: Keys): Promise<number> {
  let total = 0;
  for (const stream of keys.allCommands) total += Number(((await redis.xpending(stream, GROUP)) as [number])[0]);
  return total;
}

const heldBy = (...ds: { leases: PartitionLeases }[]) => ds.map((d) => d.leases.held().length);

test('two dispatchers share 8 partitions 4 + 4; one stops gracefully, the other takes all 8 and nothing is lost', { timeout: 60_000 }, async () => {
  const keys = makeKeys(uniquePrefix(), P);
  const a = dispatcher(keys, 'a');
  await waitFor('a holds all 8', async () => (a.leases.held().length === 8 ? true : undefined));
  const b = dispatcher(keys, 'b');
  await waitFor('4 + 4', async () => (heldBy(a, b).join() === '4,4' ? true : undefined), 10_000);
  assert.deepEqual([...a.leases.held(), ...b.leases.held()].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);

  const load = produce(keys);
  await new Promise((r) => setTimeout(r, 300));
  await a.stop();
  await waitFor('b holds 8', async () => (b.leases.held().length === 8 ? true : undefined), 10_000);
  await new Promise((r) => setTimeout(r, 300));
  await load.stop();

  const handled = () => new Map([...a.handled, ...b.handled]);
  await waitFor('every entry handled', async () => (load.ids.every((id) => handled().has(id)) ? true : undefined), 10_000);
  assert.equal(await pendingTotal(keys), 0);
  assert.ok([...b.handled.values()].length > 0 && [...a.handled.values()].length > 0);
  await b.stop();
  assert.equal(await redis.zcard(keys.dispatchers), 0, 'both unregistered');
  for (let p = 0; p < P; p++) assert.equal(await redis.exists(keys.lease(p)), 0, 'every lease released');
});

test('a dispatcher that dies keeps its leases until they expire; then the other takes them and reclaims its pending entries at once', { timeout: 20_000 }, async () => {
  const keys = makeKeys(uniquePrefix(), P);
  const a = dispatcher(keys, 'a');
  await waitFor('a holds all 8', async () => (a.leases.held().length === 8 ? true : undefined));
  const b = dispatcher(keys, 'b');
  await waitFor('4 + 4', async () => (heldBy(a, b).join() === '4,4' ? true : undefined), 10_000);

  const load = produce(keys);
  await new Promise((r) => setTimeout(r, 300));
  const crashedAt = Date.now();
  a.crash();
  const aHeld = a.leases.held();
  // Its leases stand for their lease time: nothing else consumes those partitions meanwhile.
  await new Promise((r) => setTimeout(r, LEASE_MS / 2));
  assert.equal(b.leases.held().length, 4);
  await waitFor('b holds 8', async () => (b.leases.held().length === 8 ? true : undefined), 10_000);
  assert.ok(Date.now() - crashedAt >= LEASE_MS - RENEW_MS, 'taken only once the leases expired');
  await new Promise((r) => setTimeout(r, 300));
  await load.stop();

  // Claimed without waiting claimIdleMs (a minute here): reclaimAtStart.
  await waitFor('every entry handled', async () => (load.ids.every((id) => b.handled.has(id) || a.handled.has(id)) ? true : undefined), 10_000);
  await waitFor('nothing pending', async () => ((await pendingTotal(keys)) === 0 ? true : undefined), 5000);
  assert.ok(aHeld.length === 4);
  await b.stop();
  await a.stop();
});
