import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { makeKeys, parseGroups } from '@pushflow/shared';
import { root, startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';
import {
  exchangesFromHar,
  failuresSection,
  operationsOf,
  runSchemathesis,
  schemathesisBinary,
  type Operation,
} from './harness/schemathesis.ts';

/**
 * Hostile input changes nothing: schemathesis generates thousands of requests, valid and
 * invalid, from the gateway's own /openapi.json and sends them to the real stack (Redis,
 * MongoDB-protocol server, the three services as processes). No answer may be a 5xx,
 * every answer must be one the document declares, with the declared body; without an API
 * key everything is 401 and nothing is written. Afterwards the services still work.
 *
 * Reports (schemathesis output with a curl command per failure, JUnit, HAR) go to
 * test-output/fuzz/.
 */
const outDir = join(root, 'test-output', 'fuzz');

let stack: Stack;
let redis: Redis;
let mongo: MongoClient;
let operations: Operation[];

before(async () => {
  // Before anything starts: a missing tool fails here, loudly, in a second.
  schemathesisBinary();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, 'schemathesis.toml'),
    [
      '# Written by test/fuzz.test.ts.',
      '# A schema-valid send may rightly be refused with 422 when the generated Idempotency-Key',
      '# (often "0") was already used for another body earlier in the run, and with 400 when its',
      '# `data` breaks a rule JSON Schema cannot state without recursion (keys below the top level,',
      '# depth, size in bytes): the document gives those in words. Every other operation must',
      '# accept every schema-valid request.',
      '[[operations]]',
      'include-operation-id = "sendNotification"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 422, 429]',
      '',
      '# The batch route too: schemathesis reuses one Idempotency-Key with other bodies (422).',
      '[[operations]]',
      'include-operation-id = "sendNotificationBatch"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 422, 429]',
      '',
      '# No webhook endpoint is created: the relay would POST to whatever public address the',
      '# fuzzer invents, and tests talk to loopback only. test/webhooks/ covers the route. A new',
      '# URL for an endpoint that does not exist is checked first: 422 when it points inside.',
      '[[operations]]',
      'include-operation-id = "createWebhook"',
      'enabled = false',
      '',
      '[[operations]]',
      'include-operation-id = "updateWebhook"',
      'checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 404, 422]',
      '',
    ].join('\n'),
  );
  stack = await startStack({ env: { PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' } });
  redis = new Redis(stack.redisUrl);
  mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  // The dispatcher logs `ready` before its consumer has read anything: fuzz only once a
  // send goes all the way through, so a cold start cannot pass for a 5xx found.
  await waitFor('a first send to be accepted', async () => ((await send('warm-up')).status === 202 ? true : undefined), 20_000, 200);
  // The projector writes a send's document after the answer: let it finish before the run
  // that checks nothing is written, or the warm-up's document would count against it.
  await waitFor('the warm-up projected', async () => ((await idle()) ? true : undefined), 20_000, 100);
  const res = await fetch(`${stack.gatewayUrl}/openapi.json`);
  assert.equal(res.status, 200);
  operations = operationsOf((await res.json()) as Parameters<typeof operationsOf>[0]);
});

after(async () => {
  redis?.disconnect();
  await mongo?.close();
  const codes = await stack?.stop();
  assert.deepEqual(
    codes,
    stack.services.map(() => 0),
    'every service exits 0 on SIGTERM',
  );
});

async function send(recipientId: string) {
  const res = await fetch(`${stack.gatewayUrl}/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipientId, title: 'after the fuzz' }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { notificationId?: string } };
}

/** Every command handled and every ledger event projected: nothing pending, nothing unread. */
async function idle(): Promise<boolean> {
  const k = makeKeys(stack.prefix);
  for (const stream of [k.commands(0), k.events(0)]) {
    for (const g of parseGroups(await redis.xinfo('GROUPS', stream))) {
      if (g.pending > 0 || (g.lag ?? 0) > 0) return false;
    }
  }
  return true;
}

/** What the API has written: the last id of the commands stream, and the ledger's documents. */
async function written() {
  const info = (await redis.call('XINFO', 'STREAM', makeKeys(stack.prefix).commands(0))) as unknown[];
  const lastId = info[info.indexOf('last-generated-id') + 1];
  const documents = await mongo.db().collection('notifications').countDocuments({});
  return { lastId, documents };
}

async function fuzz(name: string, args: string[], deadlineMs: number) {
  const har = join(outDir, `${name}.har.json`);
  const outputFile = join(outDir, `${name}.txt`);
  const result = await runSchemathesis(
    [
      '--config-file',
      join(outDir, 'schemathesis.toml'),
      'run',
      `${stack.gatewayUrl}/openapi.json`,
      // One worker: with two, hypothesis parses source in two threads at once, and CPython
      // 3.11's AST constructor is not thread-safe (python/cpython#106905: "SystemError: AST
      // constructor recursion depth mismatch", seen in about one run in three). Generation
      // holds the GIL anyway, so a second thread bought little.
      '--workers',
      '1',
      '--request-timeout',
      '15',
      // No example database: each run starts clean, and its seed (printed) replays it.
      '--generation-database',
      'none',
      // The key is the test stack's own; keeping it makes the printed curl commands runnable.
      '--output-sanitize',
      'false',
      '--no-color',
      '--report',
      'junit,har',
      '--report-junit-path',
      join(outDir, `${name}.junit.xml`),
      '--report-har-path',
      har,
      // Stop at the first failure: after a failure the stack may be wedged (a stalled
      // dispatcher makes every later send wait out the gateway's 5 s reply timeout), and a
      // run spent waiting would end at the deadline with no report at all.
      '--max-failures',
      '1',
      // PUSHFLOW_FUZZ_SEED=<the seed a run printed> replays that run.
      ...(process.env.PUSHFLOW_FUZZ_SEED ? ['--seed', process.env.PUSHFLOW_FUZZ_SEED] : []),
      ...args,
    ],
    { cwd: outDir, outputFile, deadlineMs },
  );
  assert.ok(
    !result.timedOut,
    `schemathesis (${name}) did not finish within ${deadlineMs / 1000} s; output so far in ${outputFile}:\n${failuresSection(result.output)}`,
  );
  return { ...result, exchanges: exchangesFromHar(har), outputFile };
}

describe('fuzzing the HTTP API from its OpenAPI document', () => {
  // Schemathesis's time is Python generating cases, slower when another test file shares the
  // two cores: without a key, 400 examples an operation took 58 to 90 s (2,711 requests). The
  // deadlines leave twice the time the work takes here.
  test('without an API key: every operation that needs one answers 401, and nothing is written', { timeout: 180_000 }, async () => {
    const before = await written();
    const run = await fuzz(
      'no-api-key',
      [
        '--checks',
        'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
        '--phases',
        'coverage,fuzzing',
        '--max-examples',
        '200',
        // It warns that every operation answered 401: here that is the point.
        '--warnings',
        'off',
      ],
      150_000,
    );
    assert.equal(run.exitCode, 0, `schemathesis found failures (whole output in ${run.outputFile}):\n${failuresSection(run.output)}`);

    const secured = run.exchanges.filter((x) => operations.some((op) => op.secured && op.matches(x.method, x.url.pathname)));
    assert.ok(secured.length >= 300, `only ${secured.length} requests to operations that need a key`);
    const letThrough = secured.filter((x) => x.status !== 401);
    assert.deepEqual(
      letThrough.slice(0, 10).map((x) => `${x.method} ${x.url.pathname}${x.url.search} -> ${x.status}`),
      [],
      `${letThrough.length} requests without a valid API key were not refused with 401`,
    );
    const serverErrors = run.exchanges.filter((x) => x.status >= 500);
    assert.equal(
      serverErrors.length,
      0,
      serverErrors
        .slice(0, 10)
        .map((x) => `${x.method} ${x.url} -> ${x.status}`)
        .join('\n'),
    );
    assert.deepEqual(await written(), before, 'requests without a valid key wrote nothing');
  });

  // With the key, 1,000 examples an operation took 159 s of a 200 s deadline (6,394 requests).
  test('with the API key: thousands of valid and invalid requests, no 5xx, every answer as documented', { timeout: 300_000 }, async () => {
    const run = await fuzz(
      'api-key',
      [
        '-H',
        `Authorization: Bearer ${stack.apiKey}`,
        // Every check but one: a method the document does not declare (TRACE /healthz) gets
        // Fastify's 404 rather than 405 with Allow; a matter of HTTP manners, not of hostile input.
        '--checks',
        'all',
        '--exclude-checks',
        'unsupported_method',
        '--max-examples',
        // The webhook routes nearly doubled the operations (19): half the examples each keeps
        // the run's requests, and its time, where the deadline was measured (a CI run under
        // load spent 200 s fuzzing at 700 and missed the 280 s deadline).
        '350',
      ],
      280_000,
    );
    assert.equal(run.exitCode, 0, `schemathesis found failures (whole output in ${run.outputFile}):\n${failuresSection(run.output)}`);

    const serverErrors = run.exchanges.filter((x) => x.status >= 500);
    assert.equal(
      serverErrors.length,
      0,
      serverErrors
        .slice(0, 10)
        .map((x) => `${x.method} ${x.url} -> ${x.status}`)
        .join('\n'),
    );
    assert.ok(run.exchanges.length >= 2000, `only ${run.exchanges.length} requests sent`);
    for (const op of operations) {
      if (op.method === 'POST' && op.path === '/webhooks') continue; // disabled above
      const n = run.exchanges.filter((x) => op.matches(x.method, x.url.pathname)).length;
      assert.ok(n > 0, `${op.method} ${op.path} was never called`);
    }
    const accepted = run.exchanges.filter((x) => x.method === 'POST' && x.url.pathname === '/notifications' && x.status === 202);
    assert.ok(accepted.length >= 50, `only ${accepted.length} sends were accepted: the fuzzing barely reached the dispatcher`);
  });

  test('afterwards every service still runs and a send still goes through', { timeout: 30_000 }, async () => {
    for (const s of stack.services) {
      assert.equal(s.child.exitCode, null, `${s.name} exited with ${s.child.exitCode}:\n${s.lines.slice(-20).join('\n')}`);
      assert.equal(s.child.signalCode, null, `${s.name} was killed by ${s.child.signalCode}`);
    }
    for (const path of ['/healthz', '/readyz']) {
      const res = await fetch(`${stack.gatewayUrl}${path}`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `${path}: ${await res.text()}`);
    }
    const sent = await send('after-the-fuzz');
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const status = await fetch(`${stack.gatewayUrl}/notifications/${sent.body.notificationId}/status`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(status.status, 200, await status.text());
  });
});
