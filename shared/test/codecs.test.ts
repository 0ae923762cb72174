import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import {
  CONTENT_CEILINGS,
  NotificationContent,
  deliveryRequestCodec,
  encodeBatch,
  encodeEntry,
  eventCodec,
  makeKeys,
  sendCommandCodec,
  uuidv7,
  type LedgerEvent,
} from '../src/index.ts';

test('ledger events round-trip through a stream entry', () => {
  const events: LedgerEvent[] = [
    { type: 'notification.accepted', notificationId: 'n', at: 1, commandId: 'c', recipientId: 'alice', data: { a: 1 } },
    { type: 'notification.dispatched', notificationId: 'n', at: 2, nodeIds: ['x'] },
    { type: 'notification.delivered', notificationId: 'n', at: 3, nodeId: 'x', connections: 2 },
    { type: 'notification.failed', notificationId: 'n', at: 4, reason: 'RECIPIENT_OFFLINE' },
    { type: 'notification.acknowledged', notificationId: 'n', at: 5, nodeId: 'x' },
  ];
  for (const e of events) assert.deepEqual(eventCodec.decode(encodeEntry(e)), e);
});

test('malformed entries decode to undefined instead of throwing', () => {
  assert.equal(eventCodec.decode(['data', '{not json']), undefined);
  assert.equal(eventCodec.decode(['other', '{}']), undefined);
  assert.equal(eventCodec.decode(encodeEntry({ type: 'notification.failed', notificationId: 'n', at: 1, reason: 'BORED' })), undefined);
  assert.equal(eventCodec.decode(encodeEntry({ type: 'notification.dispatched', notificationId: 'n', at: 1, nodeIds: [] })), undefined);
  assert.equal(sendCommandCodec.decode(encodeEntry({ type: 'notification.send' })), undefined);
  assert.equal(deliveryRequestCodec.decode(encodeEntry({ notificationId: 'n', recipientId: 'r', acceptedAt: 'yesterday' })), undefined);
});

test("a send command's notificationId must be a bare UUID", () => {
  const command = (notificationId: string) =>
    encodeEntry({
      type: 'notification.send',
      correlationId: 'c',
      replyTo: 'r',
      sentAt: 1,
      notificationId,
      notification: { recipientId: 'a' },
    });
  assert.ok(sendCommandCodec.decode(command(uuidv7())));
  for (const bad of ['', 'n-1', `urn:uuid:${uuidv7()}`, `${uuidv7()}0`, `{${uuidv7()}}`, uuidv7().replaceAll('-', '')]) {
    assert.equal(sendCommandCodec.decode(command(bad)), undefined, bad);
  }
});

// The shared schema holds the ceilings; the gateway enforces its configured (lower) limits.
test('notification content: recipient charset and length, extra properties, data keys', () => {
  assert.equal(Value.Check(NotificationContent, { recipientId: 'user-1@example.com', title: 't', data: { k: [1, { x: 2 }] } }), true);
  for (const bad of [
    {},
    { recipientId: '' },
    { recipientId: 'a b' },
    { recipientId: 'x'.repeat(CONTENT_CEILINGS.recipientIdLength + 1) },
    { recipientId: 'a:b' },
    { recipientId: 'a', extra: 1 },
    { recipientId: 'a', data: [] },
    { recipientId: { $ne: null } },
    { recipientId: 'a', title: 'x'.repeat(CONTENT_CEILINGS.titleLength + 1) },
    { recipientId: 'a', body: 'x'.repeat(CONTENT_CEILINGS.bodyLength + 1) },
  ])
    assert.equal(Value.Check(NotificationContent, bad), false, JSON.stringify(bad).slice(0, 80));
});

test('a send command whose data breaks the key rules, at any depth, decodes as malformed', () => {
  const command = (data: Record<string, unknown>) =>
    encodeEntry({
      type: 'notification.send',
      correlationId: 'c',
      replyTo: 'r',
      sentAt: 1,
      notification: { recipientId: 'a', data },
    });
  assert.ok(sendCommandCodec.decode(command({ ok: { nested: [1, { fine: true }] } })));
  for (const data of [
    { $where: 1 },
    { 'a.b': 1 },
    { ok: { $gt: 1 } },
    { 'k\u0000': 1 },
    { ok: [{ 'x.y': 1 }] },
    JSON.parse('{"__proto__":{"x":1}}'),
  ]) {
    assert.equal(sendCommandCodec.decode(command(data)), undefined, JSON.stringify(data));
  }
});

test('key names live under the prefix', () => {
  const k = makeKeys('p:');
  assert.deepEqual(
    [k.commands(0), k.events(0), k.replies('g'), k.deliveries('n'), k.presence('r'), k.nodes],
    ['p:commands', 'p:events', 'p:replies:g', 'p:deliveries:n', 'p:presence:r', 'p:nodes'],
  );
});

test('uuidv7 ids are valid, unique and ordered by time', () => {
  const a = uuidv7(1000),
    b = uuidv7(2000);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(a < b);
  assert.equal(new Set(Array.from({ length: 1000 }, () => uuidv7())).size, 1000);
});

test('a batched entry decodes to its messages in order; a malformed one is set apart from its neighbours', () => {
  const events: LedgerEvent[] = [
    { type: 'notification.accepted', notificationId: 'n', at: 1, commandId: 'c', recipientId: 'alice' },
    { type: 'notification.dispatched', notificationId: 'n', at: 1, nodeIds: ['x'] },
  ];
  assert.deepEqual(eventCodec.decodeAll(encodeBatch(events)), { items: events, malformed: [] });
  const bad = { type: 'notification.failed', notificationId: 'm', at: 1, reason: 'BORED' };
  assert.deepEqual(eventCodec.decodeAll(encodeBatch([events[0], bad, events[1]])), { items: events, malformed: [bad] });
  // Exactly one message, or nothing: `decode` is for the one-message format.
  assert.equal(eventCodec.decode(encodeBatch(events)), undefined);
  assert.deepEqual(eventCodec.decode(encodeBatch([events[0]])), events[0]);
  // The format before batches still reads, and so does junk, as malformed.
  assert.deepEqual(eventCodec.decodeAll(encodeEntry(events[1])), { items: [events[1]], malformed: [] });
  assert.deepEqual(eventCodec.decodeAll(['batch', '{"not":"an array"}']), { items: [], malformed: [{ not: 'an array' }] });
  assert.deepEqual(eventCodec.decodeAll(['batch', '[{']), { items: [], malformed: ['[{'] });
  assert.deepEqual(eventCodec.decodeAll(['other', 'x']), { items: [], malformed: [{ other: 'x' }] });
});
