import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bench } from './run-bench.ts';

// The Redis and MongoDB-protocol servers are reported as processes when the bench started
// them as local binaries, not when they came from the environment (or a container).
const localServers = [
  ...(process.env.TEST_MONGO_URL ?? process.env.MONGO_URL ? [] : ['mongo']),
  ...(process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ? [] : ['redis']),
];
const stackProcesses = (services: string[]) => [...services, ...localServers].sort();

test('a tiny throughput run exits 0 with one verified JSON document, and profiles the services on request', { timeout: 60_000 }, async () => {
  // PushFlow alone; load/centrifugo.test.ts runs the same with the Centrifugo peer.
  const profiles = await mkdtemp(join(tmpdir(), 'pushflow-cpu-prof-'));
  const { code, stdout, stderr } = await bench([
    '--scenario', 'throughput', '--duration', '2', '--recipients', '5', '--concurrency', '4', '--drain', '20', '--peer', 'none', '--cpu-prof', profiles,
  ], 55_000);
  assert.equal(code, 0, stderr);
  // Each service's own thread (thread id 0 in Node's file name; the other file is tsx's loader thread) ran its code.
  for (const service of ['gateway', 'dispatcher', 'delivery']) {
    const dir = join(profiles, 'throughput', service);
    const main = (await readdir(dir)).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
    assert.ok(main, `${service}: no main-thread profile in ${dir}`);
    const profile = JSON.parse(await readFile(join(dir, main), 'utf8')) as { nodes: { callFrame: { url: string } }[]; samples: number[] };
    assert.ok(profile.samples.length > 0, service);
    assert.ok(profile.nodes.some((n) => n.callFrame.url.includes(`/${service}/src/`)), `${service}: its profile shows none of ${service}/src`);
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
  assert.deepEqual(Object.keys(doc.cpuSecondsDuringWindow).sort(), ['harness', ...stackProcesses(['delivery', 'dispatcher', 'gateway'])].sort());
  // What the servers said about the window: each service's event-loop delay, and Redis's commands.
  for (const service of ['gateway', 'dispatcher', 'delivery']) {
    const delay = doc.eventLoopDelayMsDuringWindow[service];
    assert.ok(delay && delay.p50 >= 0 && delay.p50 <= delay.p99 && delay.p99 <= delay.max && delay.max > 0, `${service}: ${JSON.stringify(delay)}`);
  }
  const redis = doc.redisDuringWindow;
  const xadd = redis.commands.find((c: { command: string }) => c.command === 'xadd');
  // Each accepted notification is at least a command and its events appended to streams.
  assert.ok(xadd && xadd.calls >= doc.counts.accepted, JSON.stringify(redis.commands));
  assert.ok(redis.calls >= xadd.calls && redis.commandSeconds > 0, JSON.stringify(redis));
});

test('tiny status and connections runs print one complete JSON document each', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await bench([
    '--scenario', 'status', '--scenario', 'connections', '--duration', '2', '--concurrency', '8',
    '--status-docs', '200', '--connections', '50', '--sample', '10', '--sockets-per-process', '20', '--nodes', '2',
  ], 55_000);
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

  assert.equal(connections.scenario, 'connections');
  assert.equal(connections.verified, true, JSON.stringify({ c: connections.connections, f: connections.fanOut }));
  assert.equal(connections.connections.opened, 50);
  assert.equal(connections.connections.heldAfterHold, 50);
  // 50 sockets in shares of 20: three holder processes, each from its own source address.
  assert.equal(connections.connections.holderProcesses, 3);
  assert.deepEqual(connections.connections.perSourceAddress, { '127.0.0.1': 20, '127.0.0.2': 20, '127.0.0.3': 10 });
  assert.ok(connections.connectsPerSecond > 0);
  assert.deepEqual(connections.fanOut, { recipients: 10, sendErrors: {}, accepted: 10, received: 10, duplicates: 0, misrouted: 0, unexpected: 0 });
  assert.equal(connections.latencyMs.acceptToReceive.count, 10);
  assert.equal(connections.latencyMs.handshake.count, 50);
  // One round-robin over the two nodes across the three processes.
  assert.deepEqual(connections.memory.deliveryNodes.map((n: { connections: number }) => n.connections), [25, 25]);
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
    assert.deepEqual(doc.processes.map((p: { name: string }) => p.name).sort(), stackProcesses(['delivery-1', 'delivery-2', 'dispatcher', 'gateway']));
  }
});

test('--help documents the options and exits 0; a bad option exits 1', { timeout: 20_000 }, async () => {
  const help = await bench(['--help'], 15_000);
  assert.equal(help.code, 0);
  for (const option of ['--scenario', '--nodes', '--recipients', '--concurrency', '--duration', '--rate', '--gateway', '--mongo', '--status-docs', '--connections', '--sample', '--peer']) {
    assert.ok(help.stdout.includes(option), option);
  }
  const bad = await bench(['--scenario', 'nope'], 15_000);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown scenario nope/);
});
