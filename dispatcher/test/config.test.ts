import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDispatcherConfig } from '../src/config.ts';

test('command records must outlive a crashed dispatcher\'s pending commands', () => {
  const config = loadDispatcherConfig({});
  assert.equal(config.PUSHFLOW_COMMAND_MEMORY_SECONDS, 600);
  assert.equal(config.PUSHFLOW_PROJECTOR_BATCH_SIZE, 2000);
  assert.equal(config.PUSHFLOW_PROJECTOR_LINGER_MS, 25);
  assert.equal(loadDispatcherConfig({ PUSHFLOW_CLAIM_IDLE_MS: '2000', PUSHFLOW_COMMAND_MEMORY_SECONDS: '20' }).PUSHFLOW_COMMAND_MEMORY_SECONDS, 20);
  assert.throws(() => loadDispatcherConfig({ PUSHFLOW_CLAIM_IDLE_MS: '60000', PUSHFLOW_COMMAND_MEMORY_SECONDS: '120' }),
    /PUSHFLOW_COMMAND_MEMORY_SECONDS.*at least 10 times PUSHFLOW_CLAIM_IDLE_MS \(600 s\), got 120/);
});

test('a node is reaped only after it stopped being routed to', () => {
  assert.throws(() => loadDispatcherConfig({ PUSHFLOW_NODE_TTL_MS: '5000', PUSHFLOW_NODE_LOST_MS: '5000' }), /PUSHFLOW_NODE_LOST_MS/);
});
