import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAllSettled, burst, burstRecipients, faultStack } from './support.ts';

/** Fault test 1: kill -9 the dispatcher in the middle of a burst, restart it. */
// A stable consumer name: the restarted dispatcher resumes the entries it left pending.
const fixture = faultStack({ env: { PUSHFLOW_CONSUMER_ID: 'dispatcher-1', PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } });

test('kill -9 the dispatcher mid-burst and restart it: every accepted notification settles once', { timeout: 300_000 }, async () => {
  const { stack, clients } = fixture;
  const result = await burst(stack, {
    recipients: burstRecipients,
    fault: async () => {
      await stack.restart('dispatcher', 'SIGKILL');
    },
  });
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0 && (settled.byStatus.FAILED ?? 0) > 0, JSON.stringify(settled));
  const deliveredOrAcked = (settled.byStatus.DELIVERED ?? 0) + (settled.byStatus.ACKNOWLEDGED ?? 0);
  const framesForAccepted = result.accepted.filter((id) => clients.received.has(id)).length;
  assert.equal(framesForAccepted, deliveredOrAcked, 'every DELIVERED notification reached its client, and only those');
});
