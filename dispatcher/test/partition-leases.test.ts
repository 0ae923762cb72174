import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis as IORedis } from 'ioredis';
import { pino } from 'pino';
import { createRedis, makeKeys, startConsumer, type Consumer, type Keys, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { tcpProxy } from '../../test/harness/proxy.ts';
import { startPartitionLeases, type PartitionLeases } from '../src/partitions/partition-leases.ts';

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
function dispatcher(keys: Keys, owner: string, leaseUrl = srv.url) {
  const handled = new Map<string, string>();
  let lastHandledAt = 0;
  const leaseRedis = new IORedis(leaseUrl, { maxRetriesPerRequest: 0 });
  let crashed = false;
  const running = new Set<Consumer>();
  const leases: PartitionLeases = startPartitionLeases({
    redis: leaseRedis,
    keys,
    owner,
    leaseMs: LEASE_MS,
    renewMs: RENEW_MS,
    log,
    start(p, { reclaim }) {
      const stream = keys.commands(p);
      const consumer = startConsumer({
        redis: createRedis(srv.url, `${owner}-${p}`),
        stream,
        group: GROUP,
        consumer: owner,
        count: 20,
        blockMs: 100,
        log,
        claimIdleMs: 60_000,
        reclaimAtStart: reclaim,
        handler: async (entries) => {
          if (crashed) return new Promise<void>(() => {}); // a dead process never acks
          for (const e of entries) handled.set(e.id, owner);
          lastHandledAt = Date.now();
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
    leases,
    handled,
    lastHandledAt: () => lastHandledAt,
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
  return {
    ids,
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}

async function pendingTotal(keys: Keys): Promise<number> {
  let total = 0;
  for (const stream of keys.allCommands) total += Number(((await redis.xpending(stream, GROUP)) as [number])[0]);
  return total;
}

const heldBy = (...ds: { leases: PartitionLeases }[]) => ds.map((d) => d.leases.held().length);

test('two dispatchers share 8 partitions 4 + 4; one stops gracefully, the other takes all 8 and nothing is lost', {
  timeout: 60_000,
}, async () => {
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

test('a dispatcher that dies keeps its leases until they expire; then the other takes them and reclaims its pending entries at once', {
  timeout: 20_000,
}, async () => {
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
  await waitFor(
    'every entry handled',
    async () => (load.ids.every((id) => b.handled.has(id) || a.handled.has(id)) ? true : undefined),
    10_000,
  );
  await waitFor('nothing pending', async () => ((await pendingTotal(keys)) === 0 ? true : undefined), 5000);
  assert.ok(aHeld.length === 4);
  await b.stop();
  await a.stop();
});

test('a dispatcher whose lease renewals hang stops consuming before its leases expire; the other then takes them', {
  timeout: 20_000,
}, async (t) => {
  const keys = makeKeys(uniquePrefix(), P);
  // a's lease connection goes through a proxy that will swallow its requests; its
  // consumers talk to Redis directly and would go on reading.
  const proxy = await tcpProxy(srv.url);
  const a = dispatcher(keys, 'a', proxy.url);
  const b = dispatcher(keys, 'b');
  t.after(async () => {
    await b.stop();
    a.crash();
    await a.stop();
    await proxy.close();
  });
  await waitFor('4 + 4', async () => (heldBy(a, b).join() === '4,4' ? true : undefined), 10_000);

  const load = produce(keys);
  await new Promise((r) => setTimeout(r, 300));
  proxy.hold();
  await waitFor('a stops consuming', async () => (a.leases.held().length === 0 ? true : undefined), LEASE_MS + 1000);
  const stoppedAt = Date.now();
  await waitFor('b holds 8', async () => (b.leases.held().length === 8 ? true : undefined), 10_000);
  const tookOverAt = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  await load.stop();

  assert.ok(a.lastHandledAt() <= stoppedAt, 'a handled nothing once it had stopped');
  assert.ok(a.lastHandledAt() < tookOverAt, 'a and b never consumed the same partition at once');
  await waitFor(
    'every entry handled',
    async () => (load.ids.every((id) => b.handled.has(id) || a.handled.has(id)) ? true : undefined),
    10_000,
  );
  await waitFor('nothing pending', async () => ((await pendingTotal(keys)) === 0 ? true : undefined), 5000);
});
