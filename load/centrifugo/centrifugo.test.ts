import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCentrifugo, installHint } from './find.ts';
import { bench, TINY_THROUGHPUT } from '../run-bench.ts';

/**
 * The peer comparison as `make bench` runs it, tiny: PushFlow's throughput run, the same
 * run against a Centrifugo the harness starts itself, and the comparison. Needs the
 * centrifugo binary (`make test` builds it first); without it this test fails, saying how
 * to get one, rather than skip.
 */
test("a tiny throughput run with the Centrifugo peer prints PushFlow's, Centrifugo's and the comparison document", {
  timeout: 120_000,
}, async () => {
  const binary = findCentrifugo();
  assert.ok(binary, `no centrifugo binary: ${installHint}`);
  const { code, stdout, stderr } = await bench([...TINY_THROUGHPUT, '--peer', 'centrifugo'], 110_000);
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 3, `three JSON lines on stdout, got:\n${stdout}`);
  const [pushflow, centrifugo, comparison] = lines.map((l) => JSON.parse(l));

  assert.equal(pushflow.system, 'pushflow');
  assert.equal(pushflow.verified, true, JSON.stringify(pushflow.verification));
  assert.equal(pushflow.verification.statuses.DELIVERED, pushflow.counts.accepted);

  assert.equal(centrifugo.system, 'centrifugo');
  assert.equal(centrifugo.scenario, 'throughput');
  assert.match(centrifugo.centrifugoVersion, /^6\.\d+\.\d+/);
  assert.equal(centrifugo.verified, true, JSON.stringify(centrifugo.counts));
  // The peer gets the same warm-up as PushFlow, settled before its window too.
  for (const doc of [pushflow, centrifugo]) {
    assert.equal(doc.parameters.warmupSeconds, 1);
    assert.ok(doc.warmUp.accepted > 0 && doc.warmUp.settledAfterMs !== null, JSON.stringify(doc.warmUp));
  }
  // Every publication answered 200 was received once, by its recipient, and nothing else was.
  assert.ok(centrifugo.counts.accepted > 0, JSON.stringify(centrifugo.counts));
  assert.deepEqual(centrifugo.counts.errors, {});
  assert.equal(centrifugo.counts.received, centrifugo.counts.accepted);
  assert.deepEqual(
    [
      centrifugo.counts.duplicates,
      centrifugo.counts.missing,
      centrifugo.counts.unexpected,
      centrifugo.counts.misrouted,
      centrifugo.counts.socketsDroppedByServer,
    ],
    [0, 0, 0, 0, 0],
  );
  // No status store to check, and the document says so.
  assert.equal(centrifugo.verification.via, 'none');
  assert.equal(centrifugo.verification.statuses, null);
  assert.match(centrifugo.verification.noStatuses, /no status/);
  assert.deepEqual(
    {
      recipients: centrifugo.parameters.recipients,
      concurrency: centrifugo.parameters.concurrency,
      durationSeconds: centrifugo.parameters.durationSeconds,
      engine: centrifugo.parameters.engine,
    },
    { recipients: 5, concurrency: 4, durationSeconds: 2, engine: 'redis' },
  );
  for (const key of ['acceptToReceive', 'post'] as const) {
    const s = centrifugo.latencyMs[key];
    assert.equal(s.count, centrifugo.counts.accepted, key);
    assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, `${key} ordered: ${JSON.stringify(s)}`);
  }
  assert.match(centrifugo.servers.redis, /^\d+\.\d+/);
  assert.equal(centrifugo.servers.mongo, null);
  // Its own Redis too, when the harness started one (not from TEST_REDIS_URL/REDIS_URL).
  const ownRedis = (process.env.TEST_REDIS_URL ?? process.env.REDIS_URL) ? [] : ['redis'];
  assert.deepEqual(
    centrifugo.processes.map((p: { name: string }) => p.name),
    ['centrifugo', ...ownRedis],
  );
  assert.ok(centrifugo.processes[0].rssMB > 0);
  // Redis's account of the window: Centrifugo publishes each publication to it.
  assert.ok(centrifugo.redisDuringWindow.calls >= centrifugo.counts.accepted, JSON.stringify(centrifugo.redisDuringWindow));
  // Same shape as PushFlow's document, plus the version.
  assert.deepEqual(
    Object.keys(centrifugo).filter((k) => k !== 'centrifugoVersion'),
    Object.keys(pushflow),
  );

  assert.deepEqual(Object.keys(comparison), ['scenario', 'pushflowOverCentrifugo', 'note']);
  assert.equal(comparison.scenario, 'throughput');
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  assert.deepEqual(comparison.pushflowOverCentrifugo, {
    acceptedPerSecond: ratio(pushflow.acceptedPerSecond, centrifugo.acceptedPerSecond),
    deliveredPerSecond: ratio(pushflow.deliveredPerSecond, centrifugo.deliveredPerSecond),
    p50: ratio(pushflow.latencyMs.acceptToReceive.p50, centrifugo.latencyMs.acceptToReceive.p50),
    p99: ratio(pushflow.latencyMs.acceptToReceive.p99, centrifugo.latencyMs.acceptToReceive.p99),
    serversCpuMsPerNotification: ratio(pushflow.serversCpuMsPerNotification, centrifugo.serversCpuMsPerNotification),
  });
  assert.match(comparison.note, /persists nothing/);
});
