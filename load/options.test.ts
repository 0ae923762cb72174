import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drainSecondsFor, parseOptions, UsageError, type BenchOptions } from './options.ts';

const noCentrifugo = () => undefined;
const centrifugoAt = (path: string) => () => path;

test('no arguments (make bench) gives every scenario with sensible defaults', () => {
  const o = parseOptions([], noCentrifugo) as BenchOptions;
  assert.deepEqual(o, {
    scenarios: ['throughput', 'latency', 'status', 'connections', 'batch', 'webhooks'],
    nodes: 1,
    partitions: 1,
    dispatchers: 1,
    recipients: 50,
    concurrency: 64,
    durationSeconds: 10,
    warmupSeconds: 10,
    rate: 1000,
    maxInFlight: 1000,
    batch: 100,
    statusDocs: 100_000,
    connections: 10_000,
    sample: 100,
    peer: 'none',
  });
});

test('batch takes its size; its statuses get 60 s after the window unless --drain says otherwise', () => {
  const o = parseOptions(['--scenario', 'batch', '--batch', '25'], noCentrifugo) as BenchOptions;
  assert.deepEqual([o.scenarios, o.batch], [['batch'], 25]);
  assert.equal(drainSecondsFor(o, 'batch'), 60);
  assert.equal(drainSecondsFor(o, 'throughput'), 120);
  assert.equal(drainSecondsFor(o, 'webhooks'), 180);
  const drained = parseOptions(['--drain', '90'], noCentrifugo) as BenchOptions;
  assert.deepEqual([drainSecondsFor(drained, 'batch'), drainSecondsFor(drained, 'latency')], [90, 90]);
  assert.throws(() => parseOptions(['--batch', '0'], noCentrifugo), /--batch must be a positive integer, got 0/);
  assert.throws(() => parseOptions(['--batch', '2.5'], noCentrifugo), /--batch must be a positive integer/);
  assert.throws(() => parseOptions(['--drain', '0'], noCentrifugo), /--drain must be a positive number/);
});

test('the Centrifugo peer runs by default where its binary is found, and only there', () => {
  assert.deepEqual(pick(parseOptions([], centrifugoAt('/opt/centrifugo')) as BenchOptions), {
    peer: 'centrifugo',
    centrifugoBinary: '/opt/centrifugo',
  });
  assert.deepEqual(pick(parseOptions(['--peer', 'centrifugo'], centrifugoAt('/opt/centrifugo')) as BenchOptions), {
    peer: 'centrifugo',
    centrifugoBinary: '/opt/centrifugo',
  });
  assert.deepEqual(pick(parseOptions(['--peer', 'none'], centrifugoAt('/opt/centrifugo')) as BenchOptions), {
    peer: 'none',
    centrifugoBinary: undefined,
  });
  assert.deepEqual(pick(parseOptions([], noCentrifugo) as BenchOptions), { peer: 'none', centrifugoBinary: undefined });
  assert.deepEqual(pick(parseOptions(['--peer', 'none'], noCentrifugo) as BenchOptions), { peer: 'none', centrifugoBinary: undefined });
  // Asking for it without a binary is a usage error that says how to get one.
  assert.throws(
    () => parseOptions(['--peer', 'centrifugo'], noCentrifugo),
    (err: Error) => err instanceof UsageError && /scripts\/install-centrifugo\.sh/.test(err.message),
  );
  assert.throws(() => parseOptions(['--peer', 'nats'], centrifugoAt('/opt/centrifugo')), /--peer must be centrifugo or none, got nats/);
  assert.throws(() => parseOptions(['--peer'], centrifugoAt('/opt/centrifugo')), /argument missing/);
});

test('--cpu-prof takes a folder, made absolute, and only for a stack the bench starts', () => {
  assert.equal((parseOptions(['--cpu-prof', 'profiles'], noCentrifugo) as BenchOptions).cpuProfDir, `${process.cwd()}/profiles`);
  assert.equal((parseOptions(['--cpu-prof', '/tmp/p'], noCentrifugo) as BenchOptions).cpuProfDir, '/tmp/p');
  assert.throws(
    () => parseOptions(['--gateway', 'http://x', '--delivery', 'ws://y', '--scenario', 'throughput', '--cpu-prof', '/tmp/p'], noCentrifugo),
    /--cpu-prof profiles the services the bench starts/,
  );
});

function pick(o: BenchOptions) {
  return { peer: o.peer, centrifugoBinary: o.centrifugoBinary };
}

test('status and connections take their sizes', () => {
  const o = parseOptions(
    ['--scenario', 'status', '--scenario', 'connections', '--status-docs', '200', '--connections', '50', '--sample', '10'],
    noCentrifugo,
  ) as BenchOptions;
  assert.deepEqual([o.scenarios, o.statusDocs, o.connections, o.sample], [['status', 'connections'], 200, 50, 10]);
  assert.throws(() => parseOptions(['--connections', '5', '--sample', '10']), /--sample \(10\) cannot exceed --connections \(5\)/);
  assert.throws(() => parseOptions(['--status-docs', '1e3.5']), UsageError);
  // Seeding needs the database: against a running stack only with --mongo.
  assert.throws(() => parseOptions(['--gateway', 'http://x', '--delivery', 'ws://y', '--scenario', 'status']), /needs --mongo/);
  assert.equal(
    (parseOptions(['--gateway', 'http://x', '--delivery', 'ws://y', '--scenario', 'status', '--mongo', 'mongodb://m/db']) as BenchOptions)
      .external?.mongoUrl,
    'mongodb://m/db',
  );
});

test('a running stack is targeted with --gateway and --delivery', () => {
  const o = parseOptions(
    [
      '--gateway',
      'http://127.0.0.1:3000/',
      '--delivery',
      'ws://127.0.0.1:8080',
      '--delivery',
      'ws://127.0.0.1:8081',
      '--scenario',
      'latency',
      '--rate',
      '250',
    ],
    noCentrifugo,
  ) as BenchOptions;
  assert.deepEqual(o.scenarios, ['latency']);
  assert.equal(o.rate, 250);
  assert.deepEqual(o.external, {
    gatewayUrl: 'http://127.0.0.1:3000',
    deliveryUrls: ['ws://127.0.0.1:8080', 'ws://127.0.0.1:8081'],
    apiKey: 'dev-only-api-key-change-me',
  });
});

test('bad values are usage errors', () => {
  assert.equal(parseOptions(['--help']), 'help');
  assert.throws(() => parseOptions(['--scenario', 'soak']), UsageError);
  assert.throws(() => parseOptions(['--recipients', '2.5']), UsageError);
  assert.throws(() => parseOptions(['--duration', '0']), UsageError);
  assert.throws(() => parseOptions(['--gateway', 'http://x']), UsageError);
  assert.throws(() => parseOptions(['--mongo', 'mongodb://x/db']), UsageError);
  assert.throws(() => parseOptions(['--what']), /Unknown option/);
});

test('--partitions and --dispatchers shape the stack the bench starts', () => {
  const o = parseOptions(['--partitions', '8', '--dispatchers', '2'], noCentrifugo) as BenchOptions;
  assert.equal(o.partitions, 8);
  assert.equal(o.dispatchers, 2);
  assert.throws(() => parseOptions(['--partitions', '257'], noCentrifugo), /--partitions must be at most 256/);
  assert.throws(() => parseOptions(['--dispatchers', '0'], noCentrifugo), /--dispatchers must be a positive integer/);
  assert.throws(
    () => parseOptions(['--gateway', 'http://x', '--delivery', 'ws://y', '--scenario', 'throughput', '--partitions', '8'], noCentrifugo),
    /not with --gateway/,
  );
});

test('--warmup takes 0 (a cold window) or more seconds, nothing else', () => {
  assert.equal((parseOptions(['--warmup', '0'], noCentrifugo) as BenchOptions).warmupSeconds, 0);
  assert.equal((parseOptions(['--warmup', '2.5'], noCentrifugo) as BenchOptions).warmupSeconds, 2.5);
  for (const bad of ['--warmup=-1', '--warmup=ten', '--warmup=']) {
    assert.throws(() => parseOptions([bad], noCentrifugo), /--warmup must be 0 or a positive number/);
  }
});
