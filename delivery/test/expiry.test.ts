import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { uuidv7 } from '@pushflow/shared';
import { createExpiryBuckets } from '../src/token-expiry.ts';
import {
  dispatch,
  eventsFor,
  ledgerLength,
  openClient,
  presenceIs,
  tokenFor,
  withTimeout,
  type TestNode,
  withTestNode,
} from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

test('expiry buckets hand over each item once, when its second has come', () => {
  let clock = 10_000;
  const expired: string[] = [];
  const b = createExpiryBuckets<string>({ onExpired: (s) => expired.push(s), now: () => clock });
  b.track('a', 11_000);
  b.track('b', 11_001); // rounds up to second 12
  const c = b.track('c', 13_500);
  const d = b.track('d', 15_000);
  b.untrack('d', d);
  assert.equal(b.size(), 3);
  b.sweep(10_999);
  assert.deepEqual(expired, []);
  b.sweep(11_000);
  assert.deepEqual(expired, ['a']);
  // A sweep that comes late catches up on every second it missed.
  b.sweep(16_000);
  assert.deepEqual(expired, ['a', 'b', 'c']);
  assert.equal(b.size(), 0);
  b.untrack('c', c); // already handed over: nothing happens
  assert.equal(b.size(), 0);
  // A deadline already swept past goes to the next sweep instead of a bucket nobody visits.
  clock = 16_000;
  b.track('late', 12_000);
  b.sweep(16_999);
  assert.deepEqual(expired, ['a', 'b', 'c']);
  b.sweep(17_000);
  assert.deepEqual(expired, ['a', 'b', 'c', 'late']);
});

describe('delivery: a token expiring while connected', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS: '0' }, (node) => (t = node));

  it('closes the socket with 4003 at about expiry; others stay and receive', async () => {
    const ledgerBefore = await ledgerLength(t);
    const shortLived = await openClient(t.url(await tokenFor('brief', 2)));
    const longLived = await openClient(t.url(await tokenFor('lasting', 600)));
    await presenceIs(t, 'brief', 1);
    await presenceIs(t, 'lasting', 1);
    const { code, reason } = await withTimeout(shortLived.closed, 5000, '4003');
    assert.equal(code, 4003);
    assert.equal(reason, 'token expired');
    await presenceIs(t, 'brief', 0);
    assert.equal(await ledgerLength(t), ledgerBefore);
    assert.equal(longLived.ws.readyState, longLived.ws.OPEN);
    const notificationId = uuidv7();
    await dispatch(t, { notificationId, recipientId: 'lasting', acceptedAt: new Date().toISOString() });
    await waitFor('frame', () => (longLived.frames.length === 1 ? true : undefined), 2000);
    await waitFor(
      'delivered',
      async () => ((await eventsFor(t, notificationId))[0]?.type === 'notification.delivered' ? true : undefined),
      2000,
    );
    longLived.ws.close(1000);
  });
});
