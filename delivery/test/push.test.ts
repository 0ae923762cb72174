import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadLetterStream, encodeBatch, uuidv7 } from '@pushflow/shared';
import { dispatch, eventsFor, ledger, openAccepted, pendingCount, type TestClient, type TestNode, withTestNode } from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

describe('delivery: pushing and acks', () => {
  let t: TestNode;
  withTestNode({}, (node) => (t = node));

  const nextFrame = (c: TestClient, n = 1) => waitFor(`frame ${n}`, () => (c.frames.length >= n ? c.frames[n - 1] : undefined), 2000);
  const settled = (id: string) =>
    waitFor(
      `outcome of ${id}`,
      async () => {
        const events = await eventsFor(t, id);
        return events.length > 0 ? events : undefined;
      },
      2000,
    );

  it('pushes the exact frame to every socket of the recipient and records one delivered event', async () => {
    const a = await openAccepted(t, 'erin');
    const b = await openAccepted(t, 'erin');
    const other = await openAccepted(t, 'frank');
    const notificationId = uuidv7();
    const acceptedAt = new Date().toISOString();
    await dispatch(t, {
      notificationId,
      recipientId: 'erin',
      title: 'Hi',
      body: 'there',
      data: { n: 1, nested: { ok: true } },
      acceptedAt,
    });

    const expected = { type: 'notification', notificationId, title: 'Hi', body: 'there', data: { n: 1, nested: { ok: true } }, acceptedAt };
    assert.deepEqual(await nextFrame(a), expected);
    assert.deepEqual(await nextFrame(b), expected);
    const events = await settled(notificationId);
    assert.equal(events.length, 1);
    const [delivered] = events;
    assert.equal(delivered?.type, 'notification.delivered');
    assert.ok(delivered?.type === 'notification.delivered');
    assert.equal(delivered.nodeId, t.node.nodeId);
    assert.equal(delivered.connections, 2);
    assert.ok(Math.abs(Date.now() - delivered.at) < 5000);
    await waitFor('partition has nothing pending', async () => ((await pendingCount(t)) === 0 ? true : undefined), 2000);
    assert.equal(other.frames.length, 0);
    for (const c of [a, b, other]) c.ws.close(1000);
  });

  it('leaves optional fields out of the frame when the request has none', async () => {
    const c = await openAccepted(t, 'gina');
    const notificationId = uuidv7();
    const acceptedAt = new Date().toISOString();
    await dispatch(t, { notificationId, recipientId: 'gina', acceptedAt });
    assert.deepEqual(await nextFrame(c), { type: 'notification', notificationId, acceptedAt });
    c.ws.close(1000);
  });

  it('records RECIPIENT_OFFLINE with its node id when the recipient has no socket here', async () => {
    const notificationId = uuidv7();
    await dispatch(t, { notificationId, recipientId: 'nobody', title: 'x', acceptedAt: new Date().toISOString() });
    const [failed, ...rest] = await settled(notificationId);
    assert.equal(rest.length, 0);
    assert.ok(failed?.type === 'notification.failed');
    assert.equal(failed.reason, 'RECIPIENT_OFFLINE');
    assert.equal(failed.nodeId, t.node.nodeId);
    await waitFor('acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 2000);
  });

  it('sets an undecodable entry aside without an event and goes on with the batch', async () => {
    const before = (await ledger(t.redis, t.keys)).length;
    await t.redis.xadd(t.keys.deliveries(t.node.nodeId), '*', 'data', '{"notificationId": 1}');
    await t.redis.xadd(t.keys.deliveries(t.node.nodeId), '*', 'data', 'not json');
    const notificationId = uuidv7();
    await dispatch(t, { notificationId, recipientId: 'nobody', acceptedAt: new Date().toISOString() });
    await settled(notificationId);
    await waitFor('all acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 2000);
    assert.equal((await ledger(t.redis, t.keys)).length, before + 1);
    assert.equal(await t.redis.xlen(deadLetterStream(t.keys.deliveries(t.node.nodeId))), 2);
  });

  it('delivers every good request of a batched entry and sets aside the malformed one between them', async () => {
    const c = await openAccepted(t, 'ivy');
    const acceptedAt = new Date().toISOString();
    const ids = [uuidv7(), uuidv7()];
    const dead = deadLetterStream(t.keys.deliveries(t.node.nodeId));
    const deadBefore = await t.redis.xlen(dead);
    await t.redis.xadd(
      t.keys.deliveries(t.node.nodeId),
      '*',
      ...encodeBatch([
        { notificationId: ids[0], recipientId: 'ivy', title: 'one', acceptedAt },
        { notificationId: 'broken', recipientId: 'ivy', acceptedAt: 'yesterday' },
        { notificationId: ids[1], recipientId: 'ivy', title: 'two', acceptedAt },
      ]),
    );
    await nextFrame(c, 2);
    assert.deepEqual(
      c.frames.map((f) => (f as { notificationId: string }).notificationId),
      ids,
      'in order, the broken one left out',
    );
    for (const id of ids) assert.equal((await settled(id))[0]?.type, 'notification.delivered');
    await waitFor('acked', async () => ((await pendingCount(t)) === 0 ? true : undefined), 2000);
    assert.equal((await t.redis.xlen(dead)) - deadBefore, 1);
    c.ws.close(1000);
  });

  it('turns a client ack into notification.acknowledged, once', async () => {
    const c = await openAccepted(t, 'hank');
    const notificationId = uuidv7();
    await dispatch(t, { notificationId, recipientId: 'hank', body: 'b', acceptedAt: new Date().toISOString() });
    await nextFrame(c);
    c.ws.send(JSON.stringify({ type: 'ack', notificationId }));
    c.ws.send(JSON.stringify({ type: 'ack', notificationId }));
    const acked = await waitFor(
      'acknowledged event',
      async () => {
        const events = await eventsFor(t, notificationId);
        const found = events.filter((e) => e.type === 'notification.acknowledged');
        return found.length > 0 ? found : undefined;
      },
      2000,
    );
    assert.equal(acked[0]?.nodeId, t.node.nodeId);
    await new Promise((r) => setTimeout(r, 100)); // room for a wrong second event to show up
    const all = await eventsFor(t, notificationId);
    assert.deepEqual(
      all.map((e) => e.type),
      ['notification.delivered', 'notification.acknowledged'],
    );
    c.ws.close(1000);
  });

  it('ignores an ack for a notification the socket was never sent', async () => {
    const victim = await openAccepted(t, 'ivy');
    const attacker = await openAccepted(t, 'jack');
    const theirs = uuidv7();
    const own = uuidv7();
    await dispatch(t, { notificationId: theirs, recipientId: 'ivy', acceptedAt: new Date().toISOString() });
    await dispatch(t, { notificationId: own, recipientId: 'jack', acceptedAt: new Date().toISOString() });
    await nextFrame(victim);
    await nextFrame(attacker);
    attacker.ws.send(JSON.stringify({ type: 'ack', notificationId: theirs }));
    attacker.ws.send(JSON.stringify({ type: 'ack', notificationId: uuidv7() }));
    // Frames of one socket are handled in order and acks flushed in order, so once the
    // attacker's own ack is in the ledger its earlier ones have been dealt with.
    attacker.ws.send(JSON.stringify({ type: 'ack', notificationId: own }));
    await waitFor(
      "the attacker's own ack",
      async () => {
        const events = await eventsFor(t, own);
        return events.some((e) => e.type === 'notification.acknowledged') ? true : undefined;
      },
      2000,
    );
    assert.deepEqual(
      (await eventsFor(t, theirs)).map((e) => e.type),
      ['notification.delivered'],
    );
    victim.ws.close(1000);
    attacker.ws.close(1000);
  });
});
