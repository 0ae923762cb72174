import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7 } from '../src/domain/ids.ts';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('uuidv7: RFC 9562 version and variant, the time in the first 48 bits', () => {
  const at = Date.UTC(2026, 11, 2, 6, 30);
  const id = uuidv7(at);
  assert.match(id, FORMAT);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), at);
});

test('uuidv7: ids of one millisecond differ in their random bits, across many refills of the entropy pool', () => {
  const at = Date.now();
  const ids = Array.from({ length: 100_000 }, () => uuidv7(at));
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids.slice(0, 1000)) assert.match(id, FORMAT);
  // The 74 random bits look random: each hex digit of the last group about equally often.
  const counts = new Map<string, number>();
  for (const id of ids) for (const c of id.slice(24)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = (ids.length * 12) / 16;
  assert.equal(counts.size, 16);
  for (const [digit, n] of counts) assert.ok(Math.abs(n - expected) < expected * 0.05, `digit ${digit}: ${n}, expected about ${expected}`);
});

test('uuidv7: ids sort by time', () => {
  const ids = [3, 1, 2].map((s) => uuidv7(Date.UTC(2026, 0, 1, 0, 0, s)));
  assert.deepEqual([...ids].sort(), [ids[1], ids[2], ids[0]]);
});
