import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryNodesFor } from './connections.ts';

test('the connections stack gets as many delivery nodes as its open-file limit needs, or --nodes if more', () => {
  // 20,000 files less 300 kept for the rest: 19,700 sockets a node.
  assert.equal(deliveryNodesFor({ nodes: 1, connections: 100_000 }, 20_000), 6);
  assert.equal(deliveryNodesFor({ nodes: 1, connections: 19_700 }, 20_000), 1);
  assert.equal(deliveryNodesFor({ nodes: 1, connections: 19_701 }, 20_000), 2);
  assert.equal(deliveryNodesFor({ nodes: 8, connections: 100_000 }, 20_000), 8);
  assert.equal(deliveryNodesFor({ nodes: 3, connections: 100_000 }, null), 3, 'an unknown limit leaves --nodes as given');
});
