import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { startTestNode, type TestNode } from './helpers.ts';

/**
 * A node started on a port another node holds must refuse to start: uWS would otherwise
 * share the port (SO_REUSEPORT) and the kernel would hand the newcomer half of the first
 * node's new connections, with no error anywhere.
 */
let redis: Server;
let first: TestNode;

before(async () => {
  redis = await redisServer();
  first = await startTestNode(redis.url);
});

after(async () => {
  await first?.close();
  await redis?.stop();
});

test('a second node on a taken port stops at start, and the first keeps serving', async () => {
  await assert.rejects(startTestNode(redis.url, { DELIVERY_PORT: String(first.node.port) }), /cannot listen on 127\.0\.0\.1:\d+/);
  const res = await fetch(`http://127.0.0.1:${first.node.port}/healthz`);
  assert.equal(res.status, 200);
});
