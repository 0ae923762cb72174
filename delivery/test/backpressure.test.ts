import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidv7, type LedgerEvent } from '@pushflow/shared';
import { withinBudget } from '../src/delivery-handler.ts';
import { dispatch, eventsFor, openClient, presenceIs, tokenFor, withTimeout, type TestNode, withTestNode } from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

describe('delivery: backpressure', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_MAX_BACKPRESSURE_BYTES: String(1024 * 1024) }, (node) => (t = node));

  const outcomesOf = (ids: string[]) =>
    waitFor(
      'every outcome',
      async () => {
        const all = await Promise.all(ids.map((id) => eventsFor(t, id)));
        return all.every((e) => e.length === 1) ? all.map((e) => e[0]!) : undefined;
      },
      10_000,
    );

  it('closes a client that stops reading with 4010, fails what it could not take, and keeps serving others', async () => {
    const slow = await openClient(t.url(tokenFor('slow')));
    const fast = await openClient(t.url(tokenFor('fast')));
    await presenceIs(t, 'slow', 1);
    await presenceIs(t, 'fast', 1);
    // Stop reading: the kernel buffers fill, then the node's, then the budget is spent.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const pad = 'x'.repeat(512 * 1024);
    const slowIds: string[] = [];
    const fastIds: string[] = [];
    for (let i = 0; i < 48; i++) {
      const s = uuidv7();
      const f = uuidv7();
      slowIds.push(s);
      fastIds.push(f);
      await dispatch(t, { notificationId: s, recipientId: 'slow', data: { pad }, acceptedAt: new Date().toISOString() });
      await dispatch(t, { notificationId: f, recipientId: 'fast', title: `n${i}`, acceptedAt: new Date().toISOString() });
    }

    // The well-reading client of another recipient got everything, in order.
    const fastOutcomes = await outcomesOf(fastIds);
    assert.deepEqual(
      fastOutcomes.map((e) => e.type),
      fastIds.map(() => 'notification.delivered'),
    );
    await waitFor('fast frames', () => (fast.frames.length >= fastIds.length ? true : undefined), 5000);
    assert.deepEqual(
      fast.frames.map((f) => (f as { notificationId: string }).notificationId),
      fastIds,
    );

    // The slow one: delivered up to the overflow, then BACKPRESSURE for the frame that did
    // not fit (and the rest of its batch), then RECIPIENT_OFFLINE once the socket is gone.
    const slowOutcomes = await outcomesOf(slowIds);
    const firstFailure = slowOutcomes.findIndex((e) => e.type !== 'notification.delivered');
    assert.ok(firstFailure > 0, `first failure at ${firstFailure}`);
    const failed = slowOutcomes.slice(firstFailure) as LedgerEvent[];
    for (const e of failed) {
      assert.ok(e.type === 'notification.failed', `a delivered outcome after the overflow: ${e.type}`);
      assert.ok(e.reason === 'BACKPRESSURE' || e.reason === 'RECIPIENT_OFFLINE', e.reason);
      assert.equal(e.nodeId, t.node.nodeId);
    }
    assert.equal((failed[0] as { reason?: string }).reason, 'BACKPRESSURE');
    await presenceIs(t, 'slow', 0);

    // Reading again, the client gets exactly the frames counted as delivered, then 4010.
    socket.resume();
    const { code, reason } = await withTimeout(slow.closed, 10_000, 'slow client closed');
    assert.equal(code, 4010);
    assert.equal(reason, 'slow consumer');
    assert.deepEqual(
      slow.frames.map((f) => (f as { notificationId: string }).notificationId),
      slowIds.slice(0, firstFailure),
    );

    assert.equal(fast.ws.readyState, fast.ws.OPEN);
    await presenceIs(t, 'fast', 1);
    fast.ws.close(1000);
  });

  it('budgets frames: an idle socket takes one frame of any size, a busy one only what fits', () => {
    assert.equal(withinBudget(0, 5000, 1024), true);
    assert.equal(withinBudget(1, 1023, 1024), true);
    assert.equal(withinBudget(1, 1024, 1024), false);
    assert.equal(withinBudget(2048, 1, 1024), false);
  });
});
