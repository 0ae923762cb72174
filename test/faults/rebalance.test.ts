import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldPartitions as held } from '../harness/partitions.ts';
import type { ServiceProcess } from '../../local-stack/stack.ts';
import { waitFor } from '../harness/wait.ts';
import { assertAllSettled, burst, burstRecipients, faultStack } from './support.ts';

/**
 * The rebalancing test: one dispatcher holds all 8 partitions; a second joins mid-burst and
 * takes its fair share (4), then the first is killed -9: its leases expire and the second
 * takes every partition over, reclaiming what the first left pending. Every partition keeps
 * being consumed and every accepted notification ends terminal.
 */
const LEASE_MS = 3000;
const fixture = faultStack({
  env: {
    PUSHFLOW_PARTITIONS: '8',
    PUSHFLOW_PARTITION_LEASE_MS: String(LEASE_MS),
    PUSHFLOW_PARTITION_RENEW_MS: '300',
    PUSHFLOW_REPLY_TIMEOUT_MS: '3000',
  },
});

test('a second dispatcher joins mid-burst, then the first is killed -9: every partition keeps being consumed', {
  timeout: 300_000,
}, async () => {
  const { stack } = fixture;
  const first = stack.service('dispatcher');
  await waitFor('the first dispatcher holds all 8', async () => ((await held(first)).length === 8 ? true : undefined), 10_000, 100);
  let second: ServiceProcess | undefined;
  const result = await burst(stack, {
    recipients: burstRecipients,
    faultAt: 0.2,
    fault: async () => {
      second = await stack.add('dispatcher', { PUSHFLOW_CONSUMER_ID: 'dispatcher-b' }, 'dispatcher-b');
      const shares = await waitFor(
        '4 + 4',
        async () => {
          const [a, b] = await Promise.all([held(first), held(second!)]);
          return a.length === 4 && b.length === 4 ? [a, b] : undefined;
        },
        15_000,
        100,
      );
      assert.deepEqual(shares.flat().sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
      await first.stop('SIGKILL');
    },
  });
  // The killed dispatcher's leases expired and the second holds every partition.
  await waitFor('the second holds all 8', async () => ((await held(second!)).length === 8 ? true : undefined), 4 * LEASE_MS, 200);
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0 && (settled.byStatus.FAILED ?? 0) > 0, JSON.stringify(settled));
  // assertAllSettled found no entry pending in any partition: what the first held was reclaimed.
});
