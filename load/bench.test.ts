import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCentrifugo, installHint } from './centrifugo/find.ts';
import { bench, TINY_THROUGHPUT } from './run-bench.ts';

// The Redis and MongoDB-protocol servers are reported as processes when the bench started
// them as local binaries, not when they came from the environment (or a container).
const localServers = [
  ...((process.env.TEST_MONGO_URL ?? process.env.MONGO_URL) ? [] : ['mongo']),
  ...((process.env.TEST_REDIS_URL ?? process.env.REDIS_URL) ? [] : ['redis']),
];
const stackProcesses = (services: string[]) => [...services, ...localServers].sort();

/**
 * A document's cost figures: for each process whose window CPU it reports, that CPU over
 * `count` in ms, and the servers' sum without the load generator (`harness`).
 */
function assertCpuCost(doc: Record<string, any>, unit: 'Notification' | 'Request', count: number) {
  const cpu = doc.cpuSecondsDuringWindow as Record<string, number>;
  const cost = doc[`cpuMsPer${unit}`] as Record<string, number>;
  assert.deepEqual(Object.keys(cost).sort(), Object.keys(cpu).sort());
  assert.ok(count > 0, `${unit}s counted`);
  const close = (a: number, b: number) => Math.abs(a - b) <= Math.abs(b) * 0.01;
  for (const [name, seconds] of Object.entries(cpu)) {
    assert.equal(typeof cost[name], 'number', `${name}: ${JSON.stringify(cost)}`);
    assert.ok(close(cost[name]!, (seconds * 1000) / count), `${name}: ${cost[name]} ms for ${seconds} s over ${count}`);
  }
  const servers = Object.entries(cpu)
    .filter(([name]) => name !== 'harness')
    .reduce((a, [, s]) => a + s, 0);
  assert.ok(
    close(doc[`serversCpuMsPer${unit}`], (servers * 1000) / count),
    `servers: ${doc[`serversCpuMsPer${unit}`]} ms for ${servers} s over ${count}`,
  );
}

test('a tiny throughput run exits 0 with one verified JSON document, and profiles the services on request', {
  timeout: 60_000,
}, async () => {
  // PushFlow alone; load/centrifugo/centrifugo.test.ts runs the same with the Centrifugo peer.
  const profiles = await mkdtemp(join(tmpdir(), 'pushflow-cpu-prof-'));
  const { code, stdout, stderr } = await bench([...TINY_THROUGHPUT, '--peer', 'none', '--cpu-prof', profiles], 55_000);
  assert.equal(code, 0, stderr);
  // Each service's main thread (thread id 0 in Node's file name) ran its code.
  for (const service of ['gateway', 'dispatcher', 'delivery']) {
    const dir = join(profiles, 'throughput', service);
    const main = (await readdir(dir)).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    assert.ok(main, `${service}: no main-thread profile in ${dir}`);
    const profile = JSON.parse(await readFile(join(dir, main), 'utf8')) as { nodes: { callFrame: { url: string } }[]; samples: number[] };
    assert.ok(profile.samples.length > 0, service);
    assert.ok(
      profile.nodes.some((n) => n.callFrame.url.includes(`/${service}/src/`)),
      `${service}: its profile shows none of ${service}/src`,
    );
  }
  await rm(profiles, { recursive: true, force: true });
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stdout, got:\n${stdout}`);
  const doc = JSON.parse(lines[0]!);
  assert.equal(doc.system, 'pushflow');
  assert.equal(doc.scenario, 'throughput');
  assert.equal(doc.verified, true, JSON.stringify(doc.verification));
  assert.deepEqual(
    { recipients: doc.parameters.recipients, concurrency: doc.parameters.concurrency, durationSeconds: doc.parameters.durationSeconds },
    { recipients: 5, concurrency: 4, durationSeconds: 2 },
  );
  assert.ok(doc.durationSeconds >= 2 && doc.durationSeconds < 5, `window ${doc.durationSeconds} s`);
  // The warm-up sent the same load first; none of it is in the window's counts (a frame of
  // it counted there would be unexpected), and the window waited for all of it to settle.
  assert.equal(doc.parameters.warmupSeconds, 1);
  assert.ok(doc.warmUp.accepted > 0 && doc.warmUp.settledAfterMs !== null, JSON.stringify(doc.warmUp));
  assert.equal(doc.counts.unexpected, 0, JSON.stringify(doc.counts));
  assert.ok(doc.counts.accepted > 0 && doc.counts.accepted === doc.counts.received, JSON.stringify(doc.counts));
  assert.equal(doc.counts.duplicates, 0);
  assert.equal(doc.counts.missing, 0);
  assert.equal(doc.verification.via, 'mongodb');
  assert.equal(doc.verification.statuses.DELIVERED, doc.counts.accepted);
  assert.ok(doc.acceptedPerSecond > 0 && doc.deliveredPerSecond > 0);
  for (const key of ['acceptToReceive', 'post'] as const) {
    const s = doc.latencyMs[key];
    assert.equal(s.count, doc.counts.accepted, key);
    assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, `${key} ordered: ${JSON.stringify(s)}`);
  }
  assert.equal(typeof doc.machine.cpus, 'number');
  assert.equal(typeof doc.machine.node, 'string');
  assert.match(doc.servers.redis, /^\d+\.\d+/);
  assert.match(doc.servers.mongo.version, /^\d+\.\d+/);
  assert.deepEqual(doc.processes.map((p: { name: string }) => p.name).sort(), stackProcesses(['delivery', 'dispatcher', 'gateway']));
  for (const p of doc.processes) assert.ok(p.rssMB > 0, `${p.name} RSS`);
  assert.deepEqual(
    Object.keys(doc.cpuSecondsDuringWindow).sort(),
    ['harness', ...stackProcesses(['delivery', 'dispatcher', 'gateway'])].sort(),
  );
  assertCpuCost(doc, 'Notification', doc.counts.receivedInWindow);
  // What the servers said about the window: each service's event-loop delay, and Redis's commands.
  for (const service of ['gateway', 'dispatcher', 'delivery']) {
    const delay = doc.eventLoopDelayMsDuringWindow[service];
    assert.ok(
      delay && delay.p50 >= 0 && delay.p50 <= delay.p99 && delay.p99 <= delay.max && delay.max > 0,
      `${service}: ${JSON.stringify(delay)}`,
    );
  }
  const redis = doc.redisDuringWindow;
  const xadd = redis.commands.find((c: { command: string }) => c.command === 'xadd');
  // Each accepted notification is at least a command and its events appended to streams.
  assert.ok(xadd && xadd.calls >= doc.counts.accepted, JSON.stringify(redis.commands));
  assert.ok(redis.calls >= xadd.calls && redis.commandSeconds > 0, JSON.stringify(redis));
});

test('tiny status and connections runs print one complete JSON document each', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await bench(
    [
      '--scenario',
      'status',
      '--scenario',
      'connections',
      '--duration',
      '2',
      '--concurrency',
      '8',
      '--status-docs',
      '200',
      '--connections',
      '50',
      '--sample',
      '10',
      '--sockets-per-process',
      '20',
      '--nodes',
      '2',
    ],
    55_000,
  );
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 2, `two JSON lines on stdout, got:\n${stdout}`);
  const [status, connections] = lines.map((l) => JSON.parse(l));

  assert.equal(status.scenario, 'status');
  assert.equal(status.verified, true, JSON.stringify(status.counts));
  assert.deepEqual(status.documents.seeded, 200);
  assert.ok(status.documents.inCollection >= 200, JSON.stringify(status.documents));
  assert.ok(status.requestsPerSecond > 0);
  assert.deepEqual(status.counts.errors, {});
  assert.equal(status.counts.ok, status.counts.requests);
  const get = status.latencyMs.get;
  assert.equal(get.count, status.counts.ok);
  assert.ok(get.min <= get.p50 && get.p50 <= get.p90 && get.p90 <= get.p99 && get.p99 <= get.max, JSON.stringify(get));
  assertCpuCost(status, 'Request', status.counts.requests);

  assert.equal(connections.scenario, 'connections');
  assert.equal(connections.verified, true, JSON.stringify({ c: connections.connections, f: connections.fanOut }));
  assert.equal(connections.connections.opened, 50);
  assert.equal(connections.connections.heldAfterHold, 50);
  // 50 sockets in shares of 20: three holder processes, each from its own source address.
  assert.equal(connections.connections.holderProcesses, 3);
  assert.deepEqual(connections.connections.perSourceAddress, { '127.0.0.1': 20, '127.0.0.2': 20, '127.0.0.3': 10 });
  assert.ok(connections.connectsPerSecond > 0);
  assert.deepEqual(connections.fanOut, {
    recipients: 10,
    sendErrors: {},
    accepted: 10,
    received: 10,
    duplicates: 0,
    misrouted: 0,
    unexpected: 0,
  });
  assert.equal(connections.latencyMs.acceptToReceive.count, 10);
  assert.equal(connections.latencyMs.handshake.count, 50);
  // One round-robin over the two nodes across the three processes.
  assert.deepEqual(
    connections.memory.deliveryNodes.map((n: { connections: number }) => n.connections),
    [25, 25],
  );
  for (const node of connections.memory.deliveryNodes) {
    assert.ok(node.rssBeforeBytes > 0 && node.rssAfterBytes > 0, JSON.stringify(node));
    // Measured, not judged: 25 sockets are ~15 KB of heap, within what a collection leaves behind.
    assert.ok(node.heapUsedBeforeBytes > 0 && node.heapUsedAfterBytes > 0, JSON.stringify(node));
    assert.equal(typeof node.heapBytesPerConnection, 'number', JSON.stringify(node));
  }
  assert.equal(typeof connections.memory.bytesPerConnection, 'number');
  assert.equal(connections.memory.garbageCollectedBeforeSamples, true, 'the delivery nodes collected garbage through their inspectors');
  for (const doc of [status, connections]) {
    assert.equal(doc.system, 'pushflow');
    assert.equal(typeof doc.machine.cpus, 'number');
    assert.deepEqual(
      doc.processes.map((p: { name: string }) => p.name).sort(),
      stackProcesses(['delivery-1', 'delivery-2', 'dispatcher', 'gateway']),
    );
  }
});

test('a tiny batch run on PushFlow and on the Centrifugo peer: every notification delivered, every status DELIVERED, the cost per process', {
  timeout: 150_000,
}, async () => {
  const binary = findCentrifugo();
  assert.ok(binary, `no centrifugo binary: ${installHint}`);
  const { code, stdout, stderr } = await bench(
    [
      '--scenario',
      'batch',
      '--batch',
      '10',
      '--duration',
      '2',
      '--warmup',
      '0',
      '--recipients',
      '5',
      '--concurrency',
      '2',
      '--peer',
      'centrifugo',
    ],
    140_000,
  );
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 3, `three JSON lines on stdout, got:\n${stdout}`);
  const [pushflow, centrifugo, comparison] = lines.map((l) => JSON.parse(l));

  for (const doc of [pushflow, centrifugo]) {
    assert.equal(doc.scenario, 'batch');
    assert.equal(doc.verified, true, JSON.stringify({ counts: doc.counts, verification: doc.verification }));
    assert.deepEqual(
      { batch: doc.parameters.batch, concurrency: doc.parameters.concurrency, drainSeconds: doc.parameters.drainSeconds },
      { batch: 10, concurrency: 2, drainSeconds: 60 },
    );
    // Ten a POST, each received once by its recipient.
    assert.ok(doc.counts.requests > 0 && doc.counts.sent === doc.counts.requests * 10, JSON.stringify(doc.counts));
    assert.deepEqual(doc.counts.errors, {});
    assert.equal(doc.counts.accepted, doc.counts.sent);
    assert.equal(doc.counts.received, doc.counts.accepted);
    assert.deepEqual([doc.counts.duplicates, doc.counts.missing, doc.counts.unexpected, doc.counts.misrouted], [0, 0, 0, 0]);
    assert.ok(doc.acceptedPerSecond > 0 && doc.deliveredPerSecond > 0);
    // One POST time per request, one receive latency per notification.
    assert.equal(doc.latencyMs.post.count, doc.counts.requests);
    assert.equal(doc.latencyMs.acceptToReceive.count, doc.counts.accepted);
    assertCpuCost(doc, 'Notification', doc.counts.receivedInWindow);
  }
  assert.deepEqual(
    Object.keys(pushflow.cpuMsPerNotification).sort(),
    ['harness', ...stackProcesses(['delivery', 'dispatcher', 'gateway'])].sort(),
  );
  const ownRedis = (process.env.TEST_REDIS_URL ?? process.env.REDIS_URL) ? [] : ['redis'];
  assert.deepEqual(Object.keys(centrifugo.cpuMsPerNotification).sort(), ['centrifugo', 'harness', ...ownRedis].sort());

  // Every PushFlow status DELIVERED in MongoDB within the batch's 60 s, and how the projection caught up.
  assert.equal(pushflow.verification.via, 'mongodb');
  assert.equal(pushflow.verification.statuses.DELIVERED, pushflow.counts.accepted);
  assert.ok(pushflow.verification.statusesCompleteAfterWindowMs <= 60_000, JSON.stringify(pushflow.verification));
  const projection = pushflow.verification.projection;
  assert.ok(
    projection.deliveredAtWindowEnd >= 0 && projection.deliveredAtWindowEnd <= pushflow.counts.accepted,
    JSON.stringify(projection),
  );
  assert.equal(projection.backlogAtWindowEnd, pushflow.counts.accepted - projection.deliveredAtWindowEnd);
  assert.ok(projection.catchUpMs >= 0 && projection.overallDocumentsPerSecond > 0, JSON.stringify(projection));
  // A rate only when there was a backlog to work off for long enough to time.
  assert.equal(projection.sustainedDocumentsPerSecond === null, projection.catchUpMs < 2000, JSON.stringify(projection));
  assert.deepEqual(Object.keys(projection.cpuSecondsWhileCatchingUp).sort(), Object.keys(pushflow.cpuSecondsDuringWindow).sort());
  assert.equal(centrifugo.verification.projection, null);

  assert.equal(comparison.scenario, 'batch');
  const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
  assert.equal(
    comparison.pushflowOverCentrifugo.serversCpuMsPerNotification,
    ratio(pushflow.serversCpuMsPerNotification, centrifugo.serversCpuMsPerNotification),
  );
  assert.match(comparison.note, /\/api\/batch/);
});

test('--help documents the options and exits 0; a bad option exits 1', { timeout: 20_000 }, async () => {
  const help = await bench(['--help'], 15_000);
  assert.equal(help.code, 0);
  for (const option of [
    '--scenario',
    '--nodes',
    '--recipients',
    '--concurrency',
    '--duration',
    '--warmup',
    '--rate',
    '--gateway',
    '--mongo',
    '--status-docs',
    '--connections',
    '--sample',
    '--peer',
    '--batch',
  ]) {
    assert.ok(help.stdout.includes(option), option);
  }
  const bad = await bench(['--scenario', 'nope'], 15_000);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown scenario nope/);
});
