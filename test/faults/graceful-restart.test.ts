import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceProcess } from '../../local-stack/stack.ts';
import { assertAllSettled, burst, burstRecipients, faultStack } from './support.ts';

/** Fault test 8: SIGTERM every service mid-burst and start them again: nothing lost, no error logged. */
const fixture = faultStack({ env: { PUSHFLOW_CONSUMER_ID: 'dispatcher-1', PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } });

test('SIGTERM every service mid-burst, then start them again: every accepted notification settles, no error logged', {
  timeout: 300_000,
}, async () => {
  const { stack } = fixture;
  const stopped: { process: ServiceProcess; code: number | null }[] = [];
  const result = await burst(stack, {
    recipients: burstRecipients,
    fault: async () => {
      for (const label of ['gateway', 'dispatcher', 'delivery']) {
        const old = stack.service(label);
        await stack.restart(label, 'SIGTERM');
        stopped.push({ process: old, code: old.child.exitCode });
      }
    },
  });
  for (const { process, code } of stopped) assert.equal(code, 0, `${process.name} exits 0 on SIGTERM`);
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  const errors = [...stopped.map((s) => s.process), ...stack.services].flatMap((s) =>
    s.lines.filter((l) => /"level":(50|60)/.test(l)).map((l) => `${s.name}: ${l.slice(0, 300)}`),
  );
  assert.deepEqual(errors, [], 'no service logged an error');
});
