import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bench } from '../run-bench.ts';

/** A tiny webhooks run through the real harness: one verified document with the figures the targets are about. */
test('a tiny webhooks run exits 0 with one verified document', { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await bench(
    [
      '--scenario',
      'webhooks',
      '--duration',
      '1',
      '--recipients',
      '5',
      '--concurrency',
      '4',
      '--batch',
      '10',
      '--drain',
      '30',
      '--peer',
      'none',
    ],
    85_000,
  );
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, stdout);
  const doc = JSON.parse(lines[0]!);
  assert.equal(doc.scenario, 'webhooks');
  assert.equal(doc.verified, true, JSON.stringify(doc.counts));
  assert.equal(doc.counts.missing, 0);
  assert.equal(doc.counts.badSignatures, 0);
  // Every 100th message is checked with standardwebhooks: some were, and all of those passed.
  assert.ok(doc.counts.verifiedSignatures > 0, JSON.stringify(doc.counts));
  assert.ok(doc.sendPath.baselinePerSecond > 0 && doc.sendPath.withWebhookPerSecond > 0, JSON.stringify(doc.sendPath));
  assert.equal(typeof doc.sendPath.throughputLoss, 'number');
  assert.equal(doc.sendPath.baselinesPerSecond.length, 2, JSON.stringify(doc.sendPath));
  assert.ok(doc.relay.postsPerSecond > 0 && doc.relay.notificationsAccepted > 0, JSON.stringify(doc.relay));
  assert.ok(doc.counts.messages >= doc.relay.notificationsAccepted);
  assert.equal(typeof doc.cpuMsPerNotification.dispatcher, 'number');
});
