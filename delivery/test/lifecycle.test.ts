import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedis, makeKeys, type RedisClient } from '@pushflow/shared';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { openAccepted, startTestNode, withTimeout } from './helpers.ts';

describe('delivery: start and graceful stop', () => {
  let redis: Server;
  let client: RedisClient;

  before(async () => {
    redis = await redisServer();
    client = createRedis(redis.url, 'lifecycle-test');
  });
  after(async () => {
    await client?.quit();
    await redis?.stop();
  });

  it('clears presence an earlier run under the same node id left behind', async () => {
    const prefix = uniquePrefix();
    const keys = makeKeys(prefix);
    await client.hset(keys.presence('ghost'), 'node-a', '3', 'node-b', '1');
    await client.hset(keys.presence('ghost2'), 'node-a', '1');
    const t = await startTestNode(redis.url, { PUSHFLOW_REDIS_PREFIX: prefix, PUSHFLOW_NODE_ID: 'node-a' });
    try {
      assert.deepEqual(await client.hgetall(keys.presence('ghost')), { 'node-b': '1' });
      assert.equal(await client.exists(keys.presence('ghost2')), 0);
      // Route tables drop whatever they still hold of node-a.
      const changes = (await client.xrange(keys.presenceChanges, '-', '+')).map(([, f]) => f);
      assert.deepEqual(changes, [['node', 'node-a', 'reset', '1']]);
    } finally {
      await t.close();
    }
  });

  it('closes sockets with 1001 and removes presence and the heartbeat', async () => {
    const t = await startTestNode(redis.url);
    // Only sockets the node has taken are closed with 1001: one still being checked is just dropped.
    const a = await openAccepted(t, 'kim');
    const b = await openAccepted(t, 'lee');
    assert.notEqual(await client.zscore(t.keys.nodes, t.node.nodeId), null);

    await withTimeout(t.close(), 5000, 'stop');
    for (const c of [a, b]) {
      const { code, reason } = await withTimeout(c.closed, 2000, 'client close');
      assert.equal(code, 1001);
      assert.equal(reason, 'going away');
    }
    assert.equal(await client.exists(t.keys.presence('kim'), t.keys.presence('lee')), 0);
    const [last] = await client.xrevrange(t.keys.presenceChanges, '+', '-', 'COUNT', 1);
    assert.deepEqual(last?.[1], ['node', t.node.nodeId, 'reset', '1'], 'stopping resets the node in the route tables');
    assert.equal(await client.zscore(t.keys.nodes, t.node.nodeId), null);
    assert.equal(await client.hexists(t.keys.nodeConnections, t.node.nodeId), 0);
    // A heartbeat tick after stop would bring the node back to life in the dispatcher's eyes.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await client.zscore(t.keys.nodes, t.node.nodeId), null);
    // No longer listening.
    await assert.rejects(fetch(`http://127.0.0.1:${t.node.port}/healthz`, { signal: AbortSignal.timeout(1000) }));
  });
});
