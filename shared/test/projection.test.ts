import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LedgerEvent } from '../src/domain/events.ts';
import { deriveStatus, evolve, evolveAll, historyOf, toStatusView, type NotificationDoc } from '../src/domain/projection.ts';

const id = '0190a000-0000-7000-8000-000000000001';
const accepted: LedgerEvent = {
  type: 'notification.accepted',
  notificationId: id,
  at: 1000,
  commandId: 'c1',
  recipientId: 'alice',
  title: 'hi',
};
const dispatched: LedgerEvent = { type: 'notification.dispatched', notificationId: id, at: 1001, nodeIds: ['n1', 'n2'] };
const deliveredN1: LedgerEvent = { type: 'notification.delivered', notificationId: id, at: 1003, nodeId: 'n1', connections: 1 };
const failedN1: LedgerEvent = { type: 'notification.failed', notificationId: id, at: 1002, nodeId: 'n1', reason: 'BACKPRESSURE' };
const failedN2: LedgerEvent = { type: 'notification.failed', notificationId: id, at: 1004, nodeId: 'n2', reason: 'NODE_LOST' };
const acked: LedgerEvent = { type: 'notification.acknowledged', notificationId: id, at: 1005, nodeId: 'n1' };
const offline: LedgerEvent = { type: 'notification.failed', notificationId: id, at: 1001, reason: 'RECIPIENT_OFFLINE' };

const fold = (events: LedgerEvent[]) => events.reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

test('the happy path goes ACCEPTED -> DISPATCHED -> DELIVERED -> ACKNOWLEDGED with a history', () => {
  assert.equal(fold([accepted]).status, 'ACCEPTED');
  assert.equal(fold([accepted, dispatched]).status, 'DISPATCHED');
  assert.equal(fold([accepted, dispatched, deliveredN1]).status, 'DELIVERED');
  const doc = fold([accepted, dispatched, deliveredN1, acked]);
  assert.equal(doc.status, 'ACKNOWLEDGED');
  assert.deepEqual(
    historyOf(doc).map((h) => [h.status, h.at, h.nodeId]),
    [
      ['ACCEPTED', 1000, undefined],
      ['DISPATCHED', 1001, undefined],
      ['DELIVERED', 1003, 'n1'],
      ['ACKNOWLEDGED', 1005, 'n1'],
    ],
  );
  assert.equal(doc.updatedAt, 1005);
});

test('no connection anywhere: FAILED RECIPIENT_OFFLINE', () => {
  const doc = fold([accepted, offline]);
  assert.deepEqual(deriveStatus(doc), { status: 'FAILED', reason: 'RECIPIENT_OFFLINE' });
  assert.equal(doc.reason, 'RECIPIENT_OFFLINE');
});

test('two nodes: DELIVERED when any delivered, FAILED only when every node failed', () => {
  assert.equal(fold([accepted, dispatched, failedN2, deliveredN1]).status, 'DELIVERED');
  const partial = fold([accepted, dispatched, failedN2]);
  assert.equal(partial.status, 'DISPATCHED');
  const both = fold([accepted, dispatched, failedN1, failedN2]);
  assert.deepEqual([both.status, both.reason], ['FAILED', 'NODE_LOST']);
});

test('DELIVERED beats FAILED for the same node whichever came first', () => {
  assert.equal(fold([accepted, dispatched, deliveredN1, failedN1]).outcomes.length, 1);
  assert.deepEqual(fold([accepted, dispatched, deliveredN1, failedN1]), fold([accepted, dispatched, failedN1, deliveredN1]));
});

test('applying an event twice changes nothing and returns the same object', () => {
  const doc = fold([accepted, dispatched, deliveredN1, acked]);
  for (const e of [accepted, dispatched, deliveredN1, acked]) assert.equal(evolve(doc, e), doc);
});

test('any order of events, with repeats, ends in the same document', () => {
  const events = [accepted, dispatched, failedN1, deliveredN1, failedN2, acked];
  const expected = fold(events);
  for (const order of permutations(events)) {
    assert.deepEqual(fold([...order, ...order.slice(0, 2)]), expected, order.map((e) => e.type).join(','));
  }
  const failing = [accepted, dispatched, failedN1, failedN2];
  const failed = fold(failing);
  for (const order of permutations(failing)) assert.deepEqual(fold(order), failed);
});

test('the public view has ISO times and no internal fields', () => {
  const view = toStatusView(fold([accepted, dispatched, deliveredN1]))!;
  assert.deepEqual(view, {
    notificationId: id,
    recipientId: 'alice',
    status: 'DELIVERED',
    acceptedAt: new Date(1000).toISOString(),
    updatedAt: new Date(1003).toISOString(),
    history: [
      { status: 'ACCEPTED', at: new Date(1000).toISOString() },
      { status: 'DISPATCHED', at: new Date(1001).toISOString() },
      { status: 'DELIVERED', at: new Date(1003).toISOString(), nodeId: 'n1' },
    ],
  });
  assert.equal(toStatusView(fold([deliveredN1])), undefined, 'a document without its accepted event is not shown');
});

test('evolveAll derives once and gives what folding one event at a time gives, from any start', () => {
  const events = [accepted, dispatched, failedN1, deliveredN1, failedN2, acked];
  for (const order of permutations(events)) {
    assert.deepEqual(evolveAll(null, order), fold(order), order.map((e) => e.type).join(','));
    const start = fold(order.slice(0, 2));
    assert.deepEqual(evolveAll(start, order.slice(2)), fold(order));
  }
  const doc = fold(events);
  assert.equal(evolveAll(doc, events), doc, 'nothing new: the same object, so callers skip the write');
  assert.equal(evolveAll(null, []), null);
});
