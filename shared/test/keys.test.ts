import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPartitions, createRedis, fnv1a32, makeKeys, PartitionMismatch, uuidv7 } from '../src/index.ts';
import { redisServer } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';

test('one partition keeps the stream names of before partitions existed', () => {
  const k = makeKeys('pf:');
  assert.equal(k.partitions, 1);
  assert.equal(k.commands(0), 'pf:commands');
  assert.equal(k.events(0), 'pf:events');
  assert.deepEqual(k.allCommands, ['pf:commands']);
  assert.deepEqual(k.allEvents, ['pf:events']);
  assert.equal(k.eventsOf('anything'), 'pf:events');
  assert.equal(k.partitionOf('anything'), 0);
  assert.equal(k.queries, 'pf:queries');
  assert.throws(() => k.commands(1), RangeError);
});

test('partition streams carry a hash tag each, distinct between commands, events and leases', () => {
  const k = makeKeys('pf:', 8);
  assert.equal(k.commands(3), 'pf:commands:{c3}');
  assert.equal(k.events(3), 'pf:events:{e3}');
  assert.equal(k.lease(3), 'pf:lease:{l3}');
  const tags = [...k.allCommands, ...k.allEvents].map((key) => /\{([^}]+)\}/.exec(key)![1]);
  assert.equal(new Set(tags).size, 16);
  assert.throws(() => k.events(8), RangeError);
  assert.throws(() => makeKeys('pf:', 0), RangeError);
  assert.throws(() => makeKeys('pf:', 257), RangeError);
});

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, modulo 16384. */
function slotOf(key: string): number {
  const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

test('with 8 partitions (the scale profile) every partition stream has a Redis Cluster slot of its own', () => {
  assert.equal(slotOf('123456789'), 0x31c3 % 16384); // the CRC16/XMODEM check value
  const k = makeKeys('pushflow:', 8);
  const slots = [...k.allCommands, ...k.allEvents].map(slotOf);
  assert.equal(new Set(slots).size, 16, `slots: ${slots.join(', ')}`);
  // Dead letters sit on the slot of their stream (the hash tag comes first).
  assert.equal(slotOf(`${k.commands(3)}:dead`), slotOf(k.commands(3)));
});

test("snapshot hashes: one per second of the id's UUIDv7 time, beside its events partition", () => {
  const at = Date.UTC(2026, 11, 3, 9, 0, 0, 250);
  const [a, b, later] = [uuidv7(at), uuidv7(at + 700), uuidv7(at + 1000)];
  const one = makeKeys('pf:');
  assert.equal(one.snapshots(a), `pf:snapshots:${Math.floor(at / 1000)}`);
  assert.equal(one.snapshots(b), one.snapshots(a), 'the same second, the same hash');
  assert.notEqual(one.snapshots(later), one.snapshots(a));
  assert.equal(one.snapshots('not-a-uuid'), 'pf:snapshots:x');
  const eight = makeKeys('pf:', 8);
  for (const id of [a, b, later]) {
    const tag = /\{e\d+\}/.exec(eight.eventsOf(id))![0];
    assert.equal(eight.snapshots(id), `pf:snapshots:${tag}:${Math.floor((id === later ? at + 1000 : at) / 1000)}`);
  }
});

test('FNV-1a 32 matches the published test vectors (clients in other languages compute it too)', () => {
  // From the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  // UTF-8 bytes (0xc3 0xa9), not the UTF-16 code unit 0xe9.
  assert.equal(fnv1a32('é'), 0x1e9de8c1);
});

test('a notification always maps to the same partition, and ids spread over all of them', () => {
  const k = makeKeys('pf:', 8);
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const id = `019ad0c4-7b2e-7c3a-8f00-${i.toString(16).padStart(12, '0')}`;
    const p = k.partitionOf(id);
    assert.equal(k.partitionOf(id), p);
    assert.equal(k.eventsOf(id), k.events(p));
    counts[p]!++;
  }
  // 1000 expected each; a fair hash stays well within ±20 %.
  for (const c of counts) assert.ok(c > 800 && c < 1200, `uneven spread: ${counts.join(', ')}`);
});

test('the first service records P; a service with another P is refused with a message naming the setting', async () => {
  const srv = await redisServer();
  const redis = createRedis(srv.url, 'keys-test');
  try {
    const prefix = uniquePrefix();
    await checkPartitions(redis, makeKeys(prefix, 8));
    assert.equal(await redis.get(`${prefix}partitions`), '8');
    await checkPartitions(redis, makeKeys(prefix, 8));
    const err = await checkPartitions(redis, makeKeys(prefix, 1)).catch((e: unknown) => e);
    assert.ok(err instanceof PartitionMismatch);
    assert.equal(err.code, 'PUSHFLOW_PARTITIONS_MISMATCH');
    assert.match(err.message, /PUSHFLOW_PARTITIONS is 1 but .* 8 partitions/);
    assert.match(err.message, /drain/);
  } finally {
    redis.disconnect();
    await srv.stop();
  }
});
