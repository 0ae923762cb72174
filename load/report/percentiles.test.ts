import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, summarize } from './percentiles.ts';

test('nearest-rank percentiles of 1..100 are the rank itself', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 90), 90);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
  assert.equal(percentile(sorted, 0.5), 1);
});

test('small sets round the rank up', () => {
  assert.equal(percentile([10, 20, 30], 50), 20);
  assert.equal(percentile([10, 20, 30], 99), 30);
  assert.equal(percentile([7], 1), 7);
});

test('summarize sorts numerically (not as strings) and does not touch its input', () => {
  const samples = [100, 9, 25, 3, 1000];
  const s = summarize(samples);
  assert.deepEqual(samples, [100, 9, 25, 3, 1000]);
  assert.deepEqual(s, { count: 5, min: 3, mean: 227.4, p50: 25, p90: 1000, p99: 1000, max: 1000 });
});

test('empty input gives nulls, bad percentiles throw', () => {
  assert.deepEqual(summarize([]), { count: 0, min: null, mean: null, p50: null, p90: null, p99: null, max: null });
  assert.throws(() => percentile([1], 0), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
});

test('fractions are rounded to the requested decimals', () => {
  assert.equal(summarize([1.23456]).p50, 1.23);
  assert.equal(summarize([1.23456], 3).p50, 1.235);
});
