import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evolveAll, toStatusView, type NotificationAccepted, type NotificationDispatched, type NotificationFailed } from '@pushflow/shared';
import { encodeSnapshot, snapshotDoc } from '../src/projection/snapshots.ts';

const id = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const accepted: NotificationAccepted = {
  type: 'notification.accepted',
  notificationId: id,
  at: 1_764_763_200_000,
  commandId: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c',
  // A recipient id may hold anything JSON must escape.
  recipientId: 'user "17" \\ ,]|\u2028',
  title: 'left out of the snapshot',
  data: { n: 1 },
};
const dispatched: NotificationDispatched = {
  type: 'notification.dispatched',
  notificationId: id,
  at: accepted.at + 3,
  nodeIds: ['node-a', 'node-b'],
};
const failed: NotificationFailed = { type: 'notification.failed', notificationId: id, at: accepted.at + 1, reason: 'RECIPIENT_OFFLINE' };

for (const routed of [dispatched, failed]) {
  test(`a snapshot of accepted and ${routed.type} answers the status its document does`, () => {
    const value = encodeSnapshot({ accepted, routed });
    assert.doesNotThrow(() => JSON.parse(value), value);
    const fromSnapshot = snapshotDoc(id, value);
    assert.ok(fromSnapshot, value);
    assert.deepEqual(toStatusView(fromSnapshot), toStatusView(evolveAll(null, [accepted, routed])!));
    assert.equal(fromSnapshot.title, undefined, 'content is left out');
    assert.equal(fromSnapshot.data, undefined, 'content is left out');
  });
}

test('a value that is not a snapshot answers nothing', () => {
  for (const value of [
    'null',
    JSON.stringify(evolveAll(null, [accepted, dispatched])),
    '[]',
    `[2,"c","r",1,2,["n"]]`,
    `[1,7,"r",1,2,["n"]]`,
    `[1,"c","r","1",2,["n"]]`,
    `[1,"c","r",1,2,"NOT_A_REASON"]`,
    `[1,"c","r",1,2,{}]`,
  ]) {
    assert.equal(snapshotDoc(id, value), undefined, value);
  }
});
