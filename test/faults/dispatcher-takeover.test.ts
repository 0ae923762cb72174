import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAllSettled, burst, burstRecipients, faultStack } from './support.ts';

/**
 * Fault test 2: two dispatchers; kill -9 one for good mid-burst; the other takes over its
 * pending entries. With one partition (the default) only the lease holder consumes commands
 * and events; the other stands by until the dead one's lease expires
 * (PUSHFLOW_PARTITION_LEASE_MS), then takes the partition and reclaims its pending entries
 * at once (rebalance.test.ts covers eight partitions).
 */
const fixture = faultStack({ env: { PUSHFLOW_CLAIM_IDLE_MS: '2000', PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } }, async (stack) => {
  await stack.add('dispatcher', { PUSHFLOW_CONSUMER_ID: 'dispatcher-b' }, 'dispatcher-b');
});

test('kill -9 one of two dispatchers for good mid-burst: the other claims its pending work', { timeout: 300_000 }, async () => {
  const { stack } = fixture;
  const result = await burst(stack, {
    recipients: burstRecipients,
    fault: async () => {
      await stack.service('dispatcher').stop('SIGKILL');
    },
  });
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  // assertAllSettled found no entry pending: what the dead dispatcher held was claimed.
});
