/**
 * The k6 scripts in load/k6 cannot run here (no k6), so each is loaded in Node against stubs of
 * the k6 modules (load/k6/harness): it must import cleanly, export options k6 accepts, and its
 * setup and exec functions must make the calls PushFlow's API expects when run once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { k6, resetK6, asVu, runTimers, type ExecutionInfo, type HttpCall, type MetricType } from './k6/harness/state.ts';
import { optionsProblems } from './k6/harness/k6-options.ts';
import http from './k6/harness/stubs/http.ts';
import { WebSocket } from './k6/harness/stubs/websockets.ts';
import { Counter, Trend } from './k6/harness/stubs/metrics.ts';

register('./k6/harness/hooks.mjs', import.meta.url);

const ENV = {
  BASE_URL: 'http://gateway.test:3000/',
  WS_URL: 'ws://delivery.test:8080/ws',
  API_KEY: 'key-from-the-environment',
};

let vuNumber = 0;

/** Evaluates a script as a new k6 VU would (its own module instances), in the init context. */
async function loadScript(name: string, env: Record<string, string>, { fresh = true } = {}) {
  if (fresh) resetK6(env);
  k6.phase = 'init';
  vuNumber += 1;
  const module = (await import(new URL(`./k6/${name}?vu=${vuNumber}`, import.meta.url).href)) as Record<string, unknown>;
  const declared = new Map<string, MetricType>([...k6.metrics].map(([metric, m]) => [metric, m.type]));
  return { module, declared, fn: (exported: string) => module[exported] as (...args: unknown[]) => unknown };
}

function iteration(scenario: string, executor: string, iterationInTest: number, startTime = Date.now()): ExecutionInfo {
  return {
    scenario: { name: scenario, executor, startTime, progress: 0, iterationInInstance: iterationInTest, iterationInTest },
    vu: { idInInstance: 1, idInTest: 1, iterationInInstance: 0, iterationInScenario: 0 },
  };
}

function samples(metric: string): number[] {
  const m = k6.metrics.get(metric);
  assert.ok(m, `metric ${metric} declared`);
  return m.samples.map((s) => s.value);
}

function failedChecks(): string[] {
  return k6.checks.filter((c) => !c.ok).map((c) => c.name);
}

function jsonBody(call: HttpCall | undefined): unknown {
  assert.ok(call, 'a request was made');
  assert.equal(call.headers['Content-Type'], 'application/json');
  return JSON.parse(call.body ?? '');
}

test('send.js: constant arrival rate from RATE/DURATION/VUS, one authenticated POST /notifications an iteration', async () => {
  const { module, declared, fn } = await loadScript('send.js', { ...ENV, RATE: '250', DURATION: '2m', VUS: '80', RECEIVERS: '7' });
  assert.deepEqual(optionsProblems(module.options, module, declared), []);
  const options = module.options as { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  assert.deepEqual(options.scenarios.send, {
    executor: 'constant-arrival-rate',
    rate: 250,
    timeUnit: '1s',
    duration: '120000ms',
    preAllocatedVUs: 80,
    maxVUs: 80,
  });
  assert.deepEqual(options.thresholds.http_req_duration, ['p(99)<500']);
  assert.deepEqual(options.thresholds.http_req_failed, ['rate<0.01']);

  asVu(null, () => fn('setup')());
  assert.equal(k6.http.calls[0]?.url, 'http://gateway.test:3000/connect-tokens');
  assert.equal(k6.http.calls[0]?.headers.Authorization, 'Bearer key-from-the-environment');

  asVu(iteration('send', 'constant-arrival-rate', 9), () => fn('default')());
  const post = k6.http.calls[1];
  assert.equal(post?.method, 'POST');
  assert.equal(post?.url, 'http://gateway.test:3000/notifications');
  assert.equal(post?.headers.Authorization, 'Bearer key-from-the-environment');
  // Round robin over RECEIVERS recipients: iteration 9 of 7 recipients goes to number 2.
  assert.deepEqual(jsonBody(post), { recipientId: 'k6-recipient-2', title: 'k6', body: 'PushFlow load test', data: { iteration: 9 } });
  assert.deepEqual(failedChecks(), []);

  // A refused POST is a failed check, not a crash of the iteration.
  k6.http.answer = () => ({ status: 429, body: { type: 'urn:pushflow:problem:rate-limited' } });
  asVu(iteration('send', 'constant-arrival-rate', 10), () => fn('default')());
  assert.deepEqual(failedChecks(), ['POST /notifications answers 202']);
});

test('send.js: the documented defaults; a bad setting stops it naming the variable', async () => {
  const { module, fn } = await loadScript('send.js', {});
  const send = (module.options as { scenarios: Record<string, Record<string, unknown>> }).scenarios.send;
  assert.equal(send?.rate, 100);
  assert.equal(send?.duration, '30000ms');
  assert.equal(send?.preAllocatedVUs, 50);
  asVu(iteration('send', 'constant-arrival-rate', 0), () => fn('default')());
  assert.equal(k6.http.calls[0]?.url, 'http://localhost:3000/notifications');
  assert.equal(k6.http.calls[0]?.headers.Authorization, 'Bearer dev-only-api-key-change-me');

  await assert.rejects(loadScript('send.js', { RATE: '1.5' }), /RATE must be a positive integer, got '1.5'/);
  await assert.rejects(loadScript('send.js', { DURATION: '30 seconds' }), /DURATION must be a duration/);
  await assert.rejects(loadScript('send.js', { BASE_URL: 'localhost:3000' }), /BASE_URL must start with http:\/\/ or https:\/\//);
  await assert.rejects(loadScript('send.js', { RECIPIENT_PREFIX: 'a:b' }), /RECIPIENT_PREFIX/);
});

test('send-batch.js: constant arrival rate of batches, BATCH_SIZE notifications round robin over RECEIVERS, each accepted one counted', async () => {
  const { module, declared, fn } = await loadScript('send-batch.js', {
    ...ENV,
    RATE: '4',
    BATCH_SIZE: '5',
    DURATION: '1m',
    VUS: '8',
    RECEIVERS: '3',
  });
  assert.deepEqual(optionsProblems(module.options, module, declared), []);
  const options = module.options as { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  assert.deepEqual(options.scenarios.sendBatch, {
    executor: 'constant-arrival-rate',
    rate: 4,
    timeUnit: '1s',
    duration: '60000ms',
    preAllocatedVUs: 8,
    maxVUs: 8,
  });
  assert.deepEqual(options.thresholds.http_req_duration, ['p(99)<1000']);
  assert.deepEqual(options.thresholds.http_req_failed, ['rate<0.01']);
  assert.equal(declared.get('pushflow_notifications_sent'), 'counter');

  asVu(null, () => fn('setup')());
  assert.equal(k6.http.calls[0]?.url, 'http://gateway.test:3000/connect-tokens');

  asVu(iteration('sendBatch', 'constant-arrival-rate', 2), () => fn('default')());
  const post = k6.http.calls[1];
  assert.equal(post?.method, 'POST');
  assert.equal(post?.url, 'http://gateway.test:3000/notifications/batch');
  assert.equal(post?.headers.Authorization, 'Bearer key-from-the-environment');
  assert.deepEqual(post?.tags, { name: 'POST /notifications/batch' });
  const { notifications } = jsonBody(post) as { notifications: { recipientId: string; data: unknown }[] };
  // Iteration 2 of batches of 5 starts at notification 10: recipients 10 % 3 = 1, then 2, 0, 1, 2.
  assert.deepEqual(
    notifications.map((n) => n.recipientId),
    ['k6-recipient-1', 'k6-recipient-2', 'k6-recipient-0', 'k6-recipient-1', 'k6-recipient-2'],
  );
  assert.deepEqual(notifications[3], {
    recipientId: 'k6-recipient-1',
    title: 'k6',
    body: 'PushFlow batch load test',
    data: { iteration: 2, index: 3 },
  });
  assert.deepEqual(samples('pushflow_notifications_sent'), [5]);
  assert.deepEqual(failedChecks(), []);

  // A refused batch is a failed check and counts nothing.
  k6.http.answer = () => ({ status: 429, body: { type: 'urn:pushflow:problem:rate-limited' } });
  asVu(iteration('sendBatch', 'constant-arrival-rate', 3), () => fn('default')());
  assert.deepEqual(failedChecks(), ['POST /notifications/batch answers 202']);
  assert.deepEqual(samples('pushflow_notifications_sent'), [5]);
});

test('send-batch.js: the documented defaults; a bad setting stops it naming the variable', async () => {
  const { module, fn } = await loadScript('send-batch.js', {});
  const scenario = (module.options as { scenarios: Record<string, Record<string, unknown>> }).scenarios.sendBatch;
  assert.equal(scenario?.rate, 5);
  assert.equal(scenario?.duration, '30000ms');
  assert.equal(scenario?.preAllocatedVUs, 20);
  asVu(iteration('sendBatch', 'constant-arrival-rate', 0), () => fn('default')());
  assert.equal(k6.http.calls[0]?.url, 'http://localhost:3000/notifications/batch');
  assert.equal((jsonBody(k6.http.calls[0]) as { notifications: unknown[] }).notifications.length, 100);

  await assert.rejects(loadScript('send-batch.js', { BATCH_SIZE: '0' }), /BATCH_SIZE must be a positive integer, got '0'/);
  await assert.rejects(loadScript('send-batch.js', { BATCH_SIZE: '10001' }), /BATCH_SIZE must be at most 10000/);
  await assert.rejects(loadScript('send-batch.js', { RATE: 'fast' }), /RATE must be a positive integer/);
});

test('setup() stops the run when the gateway is unreachable or refuses API_KEY', async () => {
  const { fn } = await loadScript('send.js', ENV);
  k6.http.answer = () => ({ status: 401, body: { type: 'urn:pushflow:problem:unauthorized' } });
  assert.throws(() => asVu(null, () => fn('setup')()), /refuses API_KEY \(401\)/);
  k6.http.answer = () => ({ status: 0, error: 'dial tcp: connection refused' });
  assert.throws(() => asVu(null, () => fn('setup')()), /cannot reach the gateway at http:\/\/gateway.test:3000 \(BASE_URL\): dial tcp/);
});

test('receivers.js: a receiver gets a token, connects, acks every notification and records its latency', async () => {
  const { module, declared, fn } = await loadScript('receivers.js', { ...ENV, RECEIVERS: '3', RAMP: '5s', DURATION: '1m' });
  assert.deepEqual(optionsProblems(module.options, module, declared), []);
  assert.equal(declared.get('pushflow_accept_to_receive'), 'trend');
  assert.equal(k6.metrics.get('pushflow_accept_to_receive')?.isTime, true);
  assert.equal(declared.get('pushflow_notifications_received'), 'counter');
  const options = module.options as { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  assert.deepEqual(options.scenarios.receivers?.stages, [
    { duration: '5000ms', target: 3 },
    { duration: '60000ms', target: 3 },
  ]);
  assert.deepEqual(options.thresholds.pushflow_accept_to_receive, ['p(99)<500']);

  asVu(null, () => fn('setup')());
  k6.http.calls = [];
  const startTime = Date.now();
  asVu(iteration('receivers', 'ramping-vus', 2, startTime), () => fn('default')());

  const tokenCall = k6.http.calls[0];
  assert.equal(tokenCall?.url, 'http://gateway.test:3000/connect-tokens');
  assert.equal(tokenCall?.headers.Authorization, 'Bearer key-from-the-environment');
  const { recipientId, ttlSeconds } = jsonBody(tokenCall) as { recipientId: string; ttlSeconds: number };
  assert.equal(recipientId, 'k6-recipient-2');
  assert.ok(ttlSeconds >= 65 && ttlSeconds <= 125, `token outlives the run: ${ttlSeconds}s`);

  assert.equal(k6.sockets.length, 1);
  const socket = k6.sockets[0]!;
  assert.equal(socket.url, 'ws://delivery.test:8080/ws?token=token-of-k6-recipient-2');
  assert.deepEqual(socket.params, { tags: { name: 'ws://delivery.test:8080/ws' } });

  socket.open();
  const frame = {
    type: 'notification',
    notificationId: '01a20e56-4ecb-7a8c-abe7-9fc5bd404945',
    title: 'Hi',
    body: 'Welcome',
    data: { orderId: 42 },
    acceptedAt: new Date(Date.now() - 40).toISOString(),
  };
  socket.receive(JSON.stringify(frame));
  assert.deepEqual(
    socket.sent.map((s) => JSON.parse(s)),
    [{ type: 'ack', notificationId: frame.notificationId }],
  );
  assert.deepEqual(samples('pushflow_notifications_received'), [0, 1]);
  const [latency] = samples('pushflow_accept_to_receive');
  assert.ok(latency !== undefined && latency >= 40, `latency from acceptedAt: ${latency}`);

  // Delivered twice (at least once, docs/operations.md): acked again, counted once.
  socket.receive(JSON.stringify(frame));
  assert.equal(socket.sent.length, 2);
  assert.deepEqual(samples('pushflow_notifications_received'), [0, 1]);
  assert.deepEqual(failedChecks(), []);

  socket.receive('not a notification');
  assert.equal(socket.sent.length, 2);
  assert.deepEqual(failedChecks(), ['every frame is a notification']);

  // At the run's end (the one timer, due when the ramp and hold are over) it closes by itself.
  assert.equal(k6.timers.length, 1);
  assert.ok(k6.timers[0]!.delayMs > 55_000 && k6.timers[0]!.delayMs <= 65_000, `closes at the end: ${k6.timers[0]!.delayMs}`);
  runTimers();
  assert.deepEqual(socket.closedByClient, { code: 1000, reason: '' });
  socket.finishClose();
  assert.deepEqual(failedChecks(), ['every frame is a notification']);
});

test('receivers.js: a dropped socket is a failed check, and the VU reconnects as the same recipient after a pause', async () => {
  const { fn } = await loadScript('receivers.js', { ...ENV, RECEIVERS: '3' });
  asVu(iteration('receivers', 'ramping-vus', 1), () => fn('default')());
  k6.sockets[0]!.open();
  k6.sockets[0]!.serverClose(1013, 'try again later');
  assert.deepEqual(failedChecks(), ['socket stays open until the end']);

  asVu(iteration('receivers', 'ramping-vus', 7), () => fn('default')());
  assert.deepEqual(k6.sleeps, [1]);
  assert.equal(k6.sockets.length, 2);
  assert.equal(k6.sockets[1]!.url, 'ws://delivery.test:8080/ws?token=token-of-k6-recipient-1');

  // A token that expires (4003) is not a failure: the next iteration fetches a new one.
  k6.sockets[1]!.open();
  k6.sockets[1]!.serverClose(4003, 'token expired');
  assert.deepEqual(failedChecks(), ['socket stays open until the end']);
});

test('end-to-end.js: receivers first, then senders to them; received/sent, latency and HTTP thresholds; JSON summary', async () => {
  const env = { ...ENV, RECEIVERS: '2', RAMP: '4s', RATE: '20', DURATION: '10s', VUS: '5', DRAIN: '3s' };
  const { module, declared, fn } = await loadScript('end-to-end.js', env);
  assert.deepEqual(optionsProblems(module.options, module, declared), []);
  const options = module.options as { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  assert.equal(options.scenarios.receivers?.executor, 'ramping-vus');
  assert.equal(options.scenarios.receivers?.exec, 'receive');
  assert.deepEqual(options.scenarios.receivers?.stages, [
    { duration: '4000ms', target: 2 },
    { duration: '18000ms', target: 2 },
  ]);
  assert.deepEqual(options.scenarios.senders, {
    executor: 'constant-arrival-rate',
    exec: 'send',
    startTime: '9000ms',
    rate: 20,
    timeUnit: '1s',
    duration: '10000ms',
    preAllocatedVUs: 5,
    maxVUs: 5,
  });
  // received/sent >= 0.99 expressed on the Rate of (true per receipt, false per send).
  assert.deepEqual(options.thresholds.pushflow_received_share, ['rate>=0.497487']);
  assert.deepEqual(options.thresholds['http_req_duration{scenario:senders}'], ['p(99)<500']);
  assert.deepEqual(options.thresholds.pushflow_accept_to_receive, ['p(99)<500']);
  assert.deepEqual(options.thresholds.http_req_failed, ['rate<0.01']);

  asVu(null, () => fn('setup')());
  k6.http.calls = [];
  asVu(iteration('receivers', 'ramping-vus', 0), () => fn('receive')());
  const socket = k6.sockets[0]!;
  socket.open();
  for (let i = 0; i < 4; i += 1) asVu(iteration('senders', 'constant-arrival-rate', i), () => fn('send')());
  const posts = k6.http.calls.filter((c) => c.url.endsWith('/notifications'));
  assert.deepEqual(
    posts.map((c) => (jsonBody(c) as { recipientId: string }).recipientId),
    ['k6-recipient-0', 'k6-recipient-1', 'k6-recipient-0', 'k6-recipient-1'],
  );
  assert.ok(posts.every((c) => c.headers.Authorization === 'Bearer key-from-the-environment'));
  assert.deepEqual(samples('pushflow_notifications_sent'), [1, 1, 1, 1]);

  // The gateway accepted them; recipient 0's two arrive on its socket.
  for (const ack of ['n-1', 'n-3']) {
    socket.receive(
      JSON.stringify({
        type: 'notification',
        notificationId: ack,
        title: 'k6',
        body: 'x',
        data: {},
        acceptedAt: new Date(Date.now() - 5).toISOString(),
      }),
    );
  }
  assert.deepEqual(
    socket.sent.map((s) => JSON.parse(s)),
    [
      { type: 'ack', notificationId: 'n-1' },
      { type: 'ack', notificationId: 'n-3' },
    ],
  );
  assert.deepEqual(samples('pushflow_received_share'), [0, 0, 0, 0, 1, 1]);
  assert.equal(samples('pushflow_accept_to_receive').length, 2);
  assert.deepEqual(failedChecks(), []);

  const handleSummary = fn('handleSummary');
  const out = handleSummary({
    state: { testRunDurationMs: 26_000 },
    metrics: {
      pushflow_notifications_sent: { type: 'counter', contains: 'default', values: { count: 200, rate: 7.7 } },
      pushflow_notifications_received: { type: 'counter', contains: 'default', values: { count: 199, rate: 7.6 } },
      pushflow_received_share: {
        type: 'rate',
        contains: 'default',
        values: { rate: 0.4987, passes: 199, fails: 200 },
        thresholds: { 'rate>=0.497487': { ok: true } },
      },
      pushflow_accept_to_receive: {
        type: 'trend',
        contains: 'time',
        values: { avg: 30, min: 2, med: 21.456, max: 480, 'p(90)': 60, 'p(95)': 90, 'p(99)': 612.5 },
        thresholds: { 'p(99)<500': { ok: false } },
      },
      'http_req_duration{scenario:senders}': {
        type: 'trend',
        contains: 'time',
        values: { med: 12, 'p(99)': 80 },
        thresholds: { 'p(99)<500': { ok: true } },
      },
      http_req_failed: {
        type: 'rate',
        contains: 'default',
        values: { rate: 0, passes: 0, fails: 203 },
        thresholds: { 'rate<0.01': { ok: true } },
      },
    },
  }) as Record<string, string>;
  assert.deepEqual(Object.keys(out), ['stdout']);
  assert.deepEqual(JSON.parse(out.stdout!), {
    sent: 200,
    received: 199,
    receivedPerSent: 0.995,
    acceptToReceiveMs: { p50: 21.46, p90: 60, p99: 612.5, max: 480 },
    postNotificationsMs: { p50: 12, p99: 80 },
    httpFailedRate: 0,
    thresholdsPassed: false,
    failedThresholds: ['pushflow_accept_to_receive: p(99)<500'],
  });
  // A run that sent nothing still prints a summary.
  const empty = JSON.parse((handleSummary({ metrics: {} }) as Record<string, string>).stdout!) as Record<string, unknown>;
  assert.equal(empty.receivedPerSent, null);
  assert.equal(empty.thresholdsPassed, true);
});

test('the options check refuses what k6 would refuse or ignore', () => {
  const exports = { default: () => {}, send: () => {} };
  const declared = new Map<string, MetricType>([['pushflow_accept_to_receive', 'trend']]);
  const valid = () => ({
    scenarios: {
      s: { executor: 'constant-arrival-rate', exec: 'send', rate: 10, timeUnit: '1s', duration: '30s', preAllocatedVUs: 5, maxVUs: 10 },
      r: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '10s', target: 5 }], gracefulRampDown: '0s' },
    },
    thresholds: {
      http_req_failed: ['rate<0.01'],
      'http_req_duration{scenario:s}': ['p(99)<25'],
      pushflow_accept_to_receive: [{ threshold: 'p(99.9)<=300', abortOnFail: true }],
    },
    summaryTrendStats: ['med', 'p(99)'],
  });
  assert.deepEqual(optionsProblems(valid(), exports, declared), []);

  const broken: [string, (o: ReturnType<typeof valid>) => void, RegExp][] = [
    [
      'executor',
      (o) => {
        (o.scenarios.s as Record<string, unknown>).executor = 'constant-arrival-rates';
      },
      /not a k6 executor/,
    ],
    [
      'required field',
      (o) => {
        delete (o.scenarios.s as Record<string, unknown>).preAllocatedVUs;
      },
      /requires preAllocatedVUs/,
    ],
    [
      'misspelt field',
      (o) => {
        (o.scenarios.r as Record<string, unknown>).startVus = 1;
      },
      /has no option 'startVus'/,
    ],
    [
      'exec',
      (o) => {
        o.scenarios.s.exec = 'sendd';
      },
      /exports no function 'sendd'/,
    ],
    [
      'duration',
      (o) => {
        o.scenarios.s.duration = '30 s';
      },
      /not a k6 duration/,
    ],
    [
      'stage',
      (o) => {
        o.scenarios.r.stages = [{ duration: '10s', target: -1 }];
      },
      /target must be a non-negative integer/,
    ],
    [
      'unknown metric',
      (o) => {
        (o.thresholds as Record<string, unknown>).pushflow_unknown = ['count>0'];
      },
      /neither a k6 metric nor one the script declares/,
    ],
    [
      'expression',
      (o) => {
        o.thresholds.http_req_failed = ['p99<5'];
      },
      /is not '<aggregation> <operator> <number>'/,
    ],
    [
      'aggregation',
      (o) => {
        o.thresholds.http_req_failed = ['count>0'];
      },
      /a rate has no 'count'/,
    ],
    [
      'percentile',
      (o) => {
        o.thresholds['http_req_duration{scenario:s}'] = ['p(101)<5'];
      },
      /not within 0-100/,
    ],
    [
      'option',
      (o) => {
        (o as Record<string, unknown>).threshold = {};
      },
      /'threshold' is not a k6 option/,
    ],
    [
      'trend stat',
      (o) => {
        o.summaryTrendStats = ['p99'];
      },
      /not a trend statistic/,
    ],
  ];
  for (const [what, breakIt, problem] of broken) {
    const options = valid();
    breakIt(options);
    const problems = optionsProblems(options, exports, declared);
    assert.ok(
      problems.some((p) => problem.test(p)),
      `${what}: ${JSON.stringify(problems)}`,
    );
  }
});

test('the stubs throw where k6 does, and on what k6 does not have', async () => {
  resetK6({});
  assert.throws(() => http.post('http://gateway.test/notifications', '{}'), /http requests in the init context is not supported/);
  assert.throws(() => new WebSocket('ws://delivery.test/ws'), /init context/);
  const trend = new Trend('some_trend', true) as unknown as { add(v: unknown): void };

  asVu(null, () => {
    assert.throws(() => new Counter('late_counter'), /init context/);
    assert.throws(() => trend.add(Number.NaN), /expected a number/);
    assert.throws(() => http.post('localhost:3000/notifications', '{}'), /unsupported protocol scheme/);
    assert.throws(() => http.post('http://gateway.test/x', '{}', { header: { Authorization: 'Bearer k' } }), /params have no 'header'/);
    assert.throws(() => (http as unknown as Record<string, () => void>).fetch!(), /k6\/http has no 'fetch'/);
    assert.throws(() => new WebSocket('http://delivery.test/ws'), /scheme ws or wss/);
    const ws = new WebSocket('ws://delivery.test/ws') as unknown as Record<string, unknown> & {
      send(d: string): void;
      close(c?: number): void;
    };
    assert.throws(() => (ws.on as () => void)(), /WebSocket has no 'on'/);
    assert.throws(() => {
      ws.onMessage = () => {};
    }, /has no 'onMessage'/);
    assert.throws(() => {
      ws.onmessage = 'not a function';
    }, /should be callable/);
    assert.throws(() => ws.send('{}'), /InvalidStateError/);
    k6.sockets.at(-1)!.open();
    assert.throws(() => ws.close(1001), /InvalidAccessError/);
  });

  // The hooks refuse what k6 could not load from a script.
  const hooksUrl: string = new URL('./k6/harness/hooks.mjs', import.meta.url).href;
  const hooks = (await import(hooksUrl)) as { resolve: (s: string, c: { parentURL: string }, next: unknown) => Promise<unknown> };
  const parentURL = new URL('./k6/send.js', import.meta.url).href;
  await assert.rejects(hooks.resolve('k6/experimental/websockets', { parentURL }, null), /no stub/);
  await assert.rejects(hooks.resolve('node:fs', { parentURL }, null), /may import only k6 modules and relative files/);
  await assert.rejects(hooks.resolve('https://jslib.k6.io/k6-utils/1.4.0/index.js', { parentURL }, null), /may import only/);
});
