import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '@pushflow/shared';
import { redisServer, type Server } from '../../test/harness/servers.ts';
import { dispatch, eventsFor, openClient, startTestNode, tokenFor, waitFor, type TestNode } from './helpers.ts';

describe('delivery: backpressure', () => {
  let redis: Server;
  let t: TestNode;

  before(async () => {
    redis = await redisServer();
    t = await startTestNode(redis.url, { PUSHFLOW_MAX_BACKPRESSURE_BYTES: '65536' });
  });
  after(async () => {
    await t?.close();
    await redis?.stop();
  });

  it('skips a socket that does not read and reports BACKPRESSURE once nothing got through', async () => {
    const c = await openClient(t.url(tokenFor('slow')));
    // Stop reading: the kernel buffers fill, then uWS's, then ours is over the limit.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const pad = 'x'.repeat(512 * 1024);
    const ids = Array.from({ length: 48 }, () => uuidv7());
    for (const notificationId of ids) {
      await dispatch(t, { notificationId, recipientId: 'slow', data: { pad }, acceptedAt: new Date().toISOString() });
    }
    const outcomes = await waitFor(async () => {
      const all = await Promise.all(ids.map((id) => eventsFor(t, id)));
      return all.every((e) => e.length === 1) ? all.map((e) => e[0]!) : undefined;
    }, 5000, 'every outcome');
    const first = outcomes[0]!;
    assert.ok(first.type === 'notification.delivered', `first was ${first.type}`);
    const last = outcomes.at(-1)!;
    assert.ok(last.type === 'notification.failed', `last was ${last.type}`);
    assert.equal(last.reason, 'BACKPRESSURE');
    assert.equal(last.nodeId, t.node.nodeId);
    c.ws.terminate();
  });
});
