import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitOutcome } from '../src/commands/status.ts';

test('status --wait: reached at the status or past it, "other" once it can no longer get there', () => {
  assert.equal(waitOutcome('DISPATCHED', 'DISPATCHED'), 'reached');
  assert.equal(waitOutcome('ACKNOWLEDGED', 'DELIVERED'), 'reached');
  assert.equal(waitOutcome('DELIVERED', 'ACCEPTED'), 'reached');
  assert.equal(waitOutcome('DISPATCHED', 'DELIVERED'), 'pending');
  assert.equal(waitOutcome('DELIVERED', 'ACKNOWLEDGED'), 'pending', 'an ack may still come');
  assert.equal(waitOutcome('FAILED', 'DELIVERED'), 'other');
  assert.equal(waitOutcome('FAILED', 'ACCEPTED'), 'other');
  assert.equal(waitOutcome('FAILED', 'FAILED'), 'reached');
  assert.equal(waitOutcome('DISPATCHED', 'FAILED'), 'pending');
  assert.equal(waitOutcome('DELIVERED', 'FAILED'), 'other');
  assert.equal(waitOutcome('ACKNOWLEDGED', 'FAILED'), 'other');
});
