import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runProcess } from '../../local-stack/run-process.ts';
import { root } from '../../local-stack/stack.ts';

// The two ceiling scripts docs/bench.md quotes, with tiny parameters: each must finish by
// itself and print one JSON line whose figures come from work it really did.

function run(script: string, args: string[], timeoutMs: number) {
  return runProcess(`${root}/scripts/node.sh`, [script, ...args], { cwd: root, timeoutMs, what: script });
}

for (const server of ['fastify', 'uws', 'node']) {
  test(`http-ceiling --server ${server}: a bare route with the gateway's body schema, answered 202 to every POST`, {
    timeout: 60_000,
  }, async () => {
    const { code, stdout, stderr } = await run(
      'load/experiments/http-ceiling.ts',
      ['--server', server, '--connections', '4', '--duration', '1'],
      55_000,
    );
    assert.equal(code, 0, stderr);
    const doc = JSON.parse(stdout.trim());
    assert.equal(doc.scenario, 'http-ceiling');
    assert.equal(doc.parameters.server, server);
    assert.deepEqual(Object.keys(doc.statuses), ['202'], 'a body the schema refuses would show as 400');
    assert.equal(doc.latencyMs.post.count, doc.statuses['202']);
    assert.ok(doc.requestsPerSecond > 0);
    assert.ok(doc.cpuSeconds.server > 0 && doc.cpuSeconds.loadGenerator > 0, JSON.stringify(doc.cpuSeconds));
    assert.ok(doc.serverCpuMicrosPerPost > 0);
  });
}

test('http-ceiling refuses what it cannot run', { timeout: 30_000 }, async () => {
  assert.equal((await run('load/experiments/http-ceiling.ts', ['--connections', '0'], 20_000)).code, 1);
  assert.equal((await run('load/experiments/http-ceiling.ts', ['--server', 'express'], 20_000)).code, 1);
});

test("store-ceiling: writes and reads through the dispatcher's store functions, every read finding its documents", {
  timeout: 120_000,
}, async () => {
  const { code, stdout, stderr } = await run(
    'load/experiments/store-ceiling.ts',
    ['--docs', '200', '--batch', '50', '--read-batch', '8', '--readers', '2'],
    110_000,
  );
  assert.equal(code, 0, stderr);
  const doc = JSON.parse(stdout.trim());
  assert.equal(doc.scenario, 'store-ceiling');
  // The server's CPU is known when the script started it (no MONGO_URL given, as here in CI).
  const started = !process.env.TEST_MONGO_URL && !process.env.MONGO_URL;
  for (const key of ['insertAccepted', 'projectDelivered', 'projectNewFromEvents']) {
    assert.ok(doc[key].docsPerSecond > 0, key);
    if (started) assert.ok(doc[key].serverCpuMicrosPerDoc > 0, `${key}: ${doc[key].serverCpuMicrosPerDoc}`);
    else assert.equal(doc[key].serverCpuMicrosPerDoc, null, key);
  }
  assert.equal(doc.readById.batchMs.count, 200);
  // 200 ids, 8 a read: 25 reads, each of which throws unless it found every id it asked for.
  assert.deepEqual({ reads: doc.readByIdsInBatches.batchMs.count, ids: doc.readByIdsInBatches.idsPerRead }, { reads: 25, ids: 8 });
  assert.ok(doc.readById.readsPerSecond > 0 && doc.readByIdsInBatches.readsPerSecond > 0);
  assert.match(doc.servers.mongo.version, /^\d+\.\d+/);
});

test("webhook-poster: the relay's poster against a receiver that answers 204, every POST answered", { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run('load/experiments/webhook-poster.ts', ['--posts', '300', '--concurrency', '4'], 55_000);
  assert.equal(code, 0, stderr);
  const doc = JSON.parse(stdout.trim());
  assert.equal(doc.scenario, 'webhook-poster');
  // Any timeout or refusal would show as its own key beside 204.
  assert.deepEqual(doc.statuses, { 204: 300 });
  assert.ok(doc.postsPerSecond > 0);
  assert.ok(doc.cpuMicrosPerPost.poster > 0 && doc.cpuMicrosPerPost.receiver > 0, JSON.stringify(doc.cpuMicrosPerPost));
  assert.equal((await run('load/experiments/webhook-poster.ts', ['--posts', '0'], 20_000)).code, 1);
});
