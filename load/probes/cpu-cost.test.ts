import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuCost } from './cpu-cost.ts';

test("CPU per notification: each process's window CPU over the count, in ms, and the servers' sum without the load generator", () => {
  assert.deepEqual(cpuCost({ harness: 2, gateway: 1.5, redis: 0.25, mongo: 0.04 }, 20_000, 'Notification'), {
    cpuMsPerNotification: { harness: 0.1, gateway: 0.075, redis: 0.0125, mongo: 0.002 },
    serversCpuMsPerNotification: 0.0895,
  });
  // Three significant digits, whatever the scale.
  assert.deepEqual(cpuCost({ harness: 1, centrifugo: 1 }, 3, 'Request').cpuMsPerRequest, { harness: 333, centrifugo: 333 });
});

test('an unreadable process or nothing done gives null, not a figure that understates', () => {
  assert.deepEqual(cpuCost({ harness: 1, gateway: null, redis: 0.5 }, 1000, 'Notification'), {
    cpuMsPerNotification: { harness: 1, gateway: null, redis: 0.5 },
    serversCpuMsPerNotification: null,
  });
  assert.deepEqual(cpuCost({ harness: 1, gateway: 1 }, 0, 'Notification'), {
    cpuMsPerNotification: { harness: null, gateway: null },
    serversCpuMsPerNotification: null,
  });
  // An external stack: only the load generator is observed, so there is no servers' sum.
  assert.equal(cpuCost({ harness: 1 }, 10, 'Notification').serversCpuMsPerNotification, null);
});
