import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { parseGroups, uuidv7, type LedgerEvent } from '@pushflow/shared';
import { withinBudget } from '../src/delivery-handler.ts';
import {
  dispatch,
  ledger,
  openClient,
  pendingCount,
  presenceIs,
  tokenFor,
  withTimeout,
  type TestClient,
  type TestNode,
  withTestNode,
} from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

/**
 * A client that stops reading (a phone in a tunnel): the node closes it as a slow consumer
 * (4010), and a notification counts as DELIVERED only once its frame left the node for the
 * kernel (docs/api.md, "Errors and close codes"; docs/design.md, "Delivered means drained").
 */

type Paused = { pause(): void; resume(): void; destroy(): void };
const socketOf = (client: TestClient) => (client.ws as unknown as { _socket: Paused })._socket;
const idOf = (frame: unknown) => (frame as { notificationId: string }).notificationId;
const PAD = 'x'.repeat(8 * 1024);

/** One outcome per id, in the order of `ids`, once every id has one. */
async function outcomesOf(t: TestNode, ids: string[], ms: number): Promise<LedgerEvent[]> {
  return waitFor(
    `an outcome for each of ${ids.length} notifications`,
    async () => {
      const byId = new Map<string, LedgerEvent[]>();
      for (const e of await ledger(t.redis, t.keys)) {
        if (e.type !== 'notification.delivered' && e.type !== 'notification.failed') continue;
        byId.set(e.notificationId, [...(byId.get(e.notificationId) ?? []), e]);
      }
      if (!ids.every((id) => byId.has(id))) return undefined;
      for (const id of ids) assert.equal(byId.get(id)!.length, 1, `one outcome for ${id}`);
      return ids.map((id) => byId.get(id)![0]!);
    },
    ms,
  );
}

/**
 * Sends to a recipient whose client has stopped reading until the node gives up on it
 * (its presence goes: the socket is closing as a slow consumer), then a few more.
 */
async function floodUntilClosing(t: TestNode, recipientId: string): Promise<string[]> {
  const ids: string[] = [];
  let closing = false;
  // 40 MB at most: far above what loopback buffers hold on any kernel we know.
  for (let chunk = 0; chunk < 100 && !closing; chunk++) {
    for (let i = 0; i < 50; i++) {
      const id = uuidv7();
      ids.push(id);
      await dispatch(t, { notificationId: id, recipientId, data: { pad: PAD }, acceptedAt: new Date().toISOString() });
    }
    await waitFor('the node read what was sent', async () => ((await lastRead(t)) === (await lastAdded(t)) ? true : undefined), 5000);
    // Its presence goes a Redis round trip after the node gave up on it.
    await sleep(50);
    closing = (await t.redis.hget(t.keys.presence(recipientId), t.node.nodeId)) === null;
  }
  assert.ok(closing, 'the node never closed the client that stopped reading');
  return ids;
}

async function lastAdded(t: TestNode): Promise<string | undefined> {
  return (await t.redis.xrevrange(t.keys.deliveries(t.node.nodeId), '+', '-', 'COUNT', 1))[0]?.[0];
}

async function lastRead(t: TestNode): Promise<string | undefined> {
  return parseGroups(await t.redis.xinfo('GROUPS', t.keys.deliveries(t.node.nodeId)))[0]?.lastDeliveredId;
}

/** The shape every outcome list must have: delivered, then lost with the socket, then never sent. */
function assertOrdered(outcomes: LedgerEvent[]): { delivered: number; lost: number } {
  const code = outcomes
    .map((e) =>
      e.type === 'notification.delivered' ? 'D' : e.type === 'notification.failed' && e.reason === 'CONNECTION_LOST' ? 'L' : 'N',
    )
    .join('');
  assert.match(code, /^D+L*N*$/, `outcomes out of order: ${code.replace(/(.)\1+/g, (run, c: string) => `${c}×${run.length} `)}`);
  for (const e of outcomes) {
    if (e.type === 'notification.failed') assert.ok(['CONNECTION_LOST', 'BACKPRESSURE', 'RECIPIENT_OFFLINE'].includes(e.reason), e.reason);
    else assert.equal(e.type, 'notification.delivered');
  }
  return { delivered: code.split('D').length - 1, lost: code.split('L').length - 1 };
}

describe('delivery: a client that stops reading', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_MAX_BACKPRESSURE_BYTES: String(1024 * 1024), PUSHFLOW_CLOSE_TIMEOUT_SECONDS: '40' }, (node) => (t = node));

  it('reads every frame counted DELIVERED, then 4010, after 30 s without reading; others are served meanwhile', async () => {
    const slow = await openClient(t.url(await tokenFor('slow')));
    const fast = await openClient(t.url(await tokenFor('fast')));
    await presenceIs(t, 'slow', 1);
    await presenceIs(t, 'fast', 1);
    const stalledAt = Date.now();
    socketOf(slow).pause();
    const slowIds = await floodUntilClosing(t, 'slow');

    // While it stalls, the frames uWS still holds are neither DELIVERED nor FAILED: their
    // entries wait, pending, and another recipient is served as usual.
    assert.ok((await pendingCount(t)) > 0, 'no entry waits on the frames the node holds');
    const fastIds = [uuidv7(), uuidv7(), uuidv7()];
    for (const id of fastIds)
      await dispatch(t, { notificationId: id, recipientId: 'fast', title: 'hi', acceptedAt: new Date().toISOString() });
    assert.deepEqual(
      (await outcomesOf(t, fastIds, 5000)).map((e) => e.type),
      fastIds.map(() => 'notification.delivered'),
    );
    await waitFor('fast frames', () => (fast.frames.length === fastIds.length ? true : undefined), 5000);

    await sleep(Math.max(0, 30_000 - (Date.now() - stalledAt)));
    socketOf(slow).resume();
    const { code, reason } = await withTimeout(slow.closed, 15_000, 'the slow client closed');
    assert.equal(code, 4010);
    assert.equal(reason, 'slow consumer');

    const outcomes = await outcomesOf(t, slowIds, 15_000);
    const { delivered, lost } = assertOrdered(outcomes);
    assert.equal(lost, 0, 'a frame was thrown away although the client read again in time');
    assert.ok(delivered < slowIds.length, 'every notification delivered: the client never fell behind');
    // Exactly what the ledger calls DELIVERED arrived, in order, and nothing else.
    assert.deepEqual(slow.frames.map(idOf), slowIds.slice(0, delivered));
    await waitFor('every entry acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 5000);
    assert.equal(fast.ws.readyState, fast.ws.OPEN);
    fast.ws.close(1000);
  });

  it('fails CONNECTION_LOST what the node held for a client whose TCP connection is cut', async () => {
    const cut = await openClient(t.url(await tokenFor('cut')));
    await presenceIs(t, 'cut', 1);
    socketOf(cut).pause();
    const ids = await floodUntilClosing(t, 'cut');
    // Unread data in its receive buffer: the kernel answers the close with a reset.
    socketOf(cut).destroy();

    const { delivered, lost } = assertOrdered(await outcomesOf(t, ids, 15_000));
    assert.ok(delivered > 0, 'nothing delivered before the stall');
    assert.ok(lost > 0, 'no frame was held by the node when the connection was cut');
    await waitFor('every entry acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 5000);
  });

  it('budgets frames: an idle socket takes one frame of any size, a busy one only what fits', () => {
    assert.equal(withinBudget(0, 5000, 1024), true);
    assert.equal(withinBudget(1, 1023, 1024), true);
    assert.equal(withinBudget(1, 1024, 1024), false);
    assert.equal(withinBudget(2048, 1, 1024), false);
  });
});

describe('delivery: a slow consumer past the close timeout', () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_MAX_BACKPRESSURE_BYTES: String(1024 * 1024), PUSHFLOW_CLOSE_TIMEOUT_SECONDS: '2' }, (node) => (t = node));

  it('is dropped without a close frame, and what the node held is FAILED CONNECTION_LOST, never DELIVERED', async () => {
    const late = await openClient(t.url(await tokenFor('late')));
    await presenceIs(t, 'late', 1);
    socketOf(late).pause();
    const ids = await floodUntilClosing(t, 'late');
    await waitFor('the drop', () => (t.node.server.stats.closeTimeouts === 1 ? true : undefined), 10_000);
    socketOf(late).resume();
    const { code } = await withTimeout(late.closed, 15_000, 'the late client closed');
    assert.equal(code, 1006);

    const { delivered, lost } = assertOrdered(await outcomesOf(t, ids, 15_000));
    assert.ok(lost > 0, 'nothing was held when the node dropped the socket');
    // What had left the node arrived; what it threw away is not counted as delivered.
    assert.deepEqual(late.frames.map(idOf), ids.slice(0, delivered));
    await waitFor('every entry acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 5000);
  });
});
