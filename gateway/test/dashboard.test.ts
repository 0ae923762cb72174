import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { encodeEntry, evolve, groups, type LedgerEvent, type NotificationDoc } from '@pushflow/shared';
import { countStatuses, foldWindow, throughput, type RawEntry } from '../src/dashboard/ledger-window.ts';
import { auth, gatewayWithPeer } from './peer.ts';

/**
 * The dashboard's JSON over a real Redis holding a hand-written ledger, nodes and groups;
 * test/dashboard.test.ts drives the page itself in Chromium.
 */
const T0 = 1_800_000_000_000;
const id = (n: number) => `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const accepted = (n: number, recipientId: string, at: number): LedgerEvent => ({
  type: 'notification.accepted',
  notificationId: id(n),
  at,
  commandId: `c${n}`,
  recipientId,
  title: `#${n}`,
});
const entry = (ms: number, seq: number, e: LedgerEvent): RawEntry => [`${ms}-${seq}`, encodeEntry(e)];

test("the window folds events into statuses with the status store's precedence", () => {
  const newestFirst: RawEntry[] = [
    entry(T0 + 2500, 0, { type: 'notification.acknowledged', notificationId: id(1), at: T0 + 2500, nodeId: 'n1' }),
    entry(T0 + 2100, 0, { type: 'notification.failed', notificationId: id(3), at: T0 + 2100, reason: 'NODE_LOST', nodeId: 'n2' }),
    entry(T0 + 2000, 0, { type: 'notification.delivered', notificationId: id(3), at: T0 + 2000, nodeId: 'n1', connections: 1 }),
    entry(T0 + 1500, 1, { type: 'notification.dispatched', notificationId: id(3), at: T0 + 1500, nodeIds: ['n1', 'n2'] }),
    entry(T0 + 1500, 0, accepted(3, 'carol', T0 + 1500)),
    entry(T0 + 1200, 0, { type: 'notification.failed', notificationId: id(2), at: T0 + 1200, reason: 'RECIPIENT_OFFLINE' }),
    entry(T0 + 1200, 0, accepted(2, 'bob', T0 + 1200)),
    entry(T0 + 1100, 0, { type: 'notification.delivered', notificationId: id(1), at: T0 + 1100, nodeId: 'n1', connections: 1 }),
    entry(T0 + 1000, 1, { type: 'notification.dispatched', notificationId: id(1), at: T0 + 1000, nodeIds: ['n1'] }),
    entry(T0 + 1000, 0, accepted(1, 'alice', T0 + 1000)),
    [`${T0 + 900}-0`, ['data', 'not json']],
  ];
  const w = foldWindow(newestFirst, { from: T0, to: T0 + 3000, cap: 100 });
  assert.equal(w.events, 10, 'the malformed entry is left out');
  assert.equal(w.truncated, false);
  assert.deepEqual(
    w.notifications.map((n) => [n.notificationId, n.recipientId, n.status, n.reason]),
    [
      [id(1), 'alice', 'ACKNOWLEDGED', undefined],
      [id(3), 'carol', 'DELIVERED', undefined], // delivered by one node beats the other's failure
      [id(2), 'bob', 'FAILED', 'RECIPIENT_OFFLINE'],
    ],
  );
  const counts = countStatuses(w.notifications);
  assert.deepEqual(counts.byStatus, { ACCEPTED: 0, DISPATCHED: 0, DELIVERED: 1, ACKNOWLEDGED: 1, FAILED: 1 });
  assert.equal(counts.byReason.RECIPIENT_OFFLINE, 1);
  assert.equal(counts.byReason.NODE_LOST, 0, "a node's failure that another node's delivery outweighs is not a failure");

  const points = throughput(w.timed, T0, T0 + 3000);
  assert.equal(points.length, 4);
  assert.deepEqual(
    points.map((p) => [p.accepted, p.delivered, p.failed, p.acknowledged]),
    [
      [0, 0, 0, 0],
      [3, 1, 1, 0],
      [0, 1, 1, 1],
      [0, 0, 0, 0],
    ],
  );

  const capped = foldWindow(newestFirst.slice(0, 4), { from: T0, to: T0 + 3000, cap: 4 });
  assert.equal(capped.truncated, true);
  assert.equal(capped.from, T0 + 1500, 'a cut-short window starts at its oldest entry');
  assert.equal(capped.notifications.find((n) => n.notificationId === id(1))?.recipientId, undefined, 'accepted before the window');
});

test('the window says what the status store says: it folds with the same evolve', () => {
  const events: LedgerEvent[] = [
    // Dispatch and acceptance older than the window: a node's failure alone proves a dispatch.
    { type: 'notification.failed', notificationId: id(4), at: T0 + 500, reason: 'NODE_LOST', nodeId: 'n2' },
    // Every dispatched node failed: the last failure's reason.
    accepted(5, 'erin', T0 + 100),
    { type: 'notification.dispatched', notificationId: id(5), at: T0 + 110, nodeIds: ['n1', 'n2'] },
    { type: 'notification.failed', notificationId: id(5), at: T0 + 120, reason: 'BACKPRESSURE', nodeId: 'n1' },
    { type: 'notification.failed', notificationId: id(5), at: T0 + 130, reason: 'NODE_LOST', nodeId: 'n2' },
  ];
  const newestFirst = events.map((e, i) => entry(T0 + 1000 + i, 0, e)).reverse();
  const w = foldWindow(newestFirst, { from: T0, to: T0 + 2000, cap: 100 });
  const stored = (n: number) =>
    events.filter((e) => e.notificationId === id(n)).reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;
  assert.deepEqual(
    w.notifications.map((n) => [n.notificationId, n.status, n.reason]),
    [
      [id(5), stored(5).status, stored(5).reason],
      [id(4), stored(4).status, stored(4).reason],
    ],
  );
  assert.deepEqual(
    w.notifications.map((n) => [n.status, n.reason]),
    [
      ['FAILED', 'NODE_LOST'],
      ['DISPATCHED', undefined],
    ],
  );
  assert.equal(w.notifications[1]!.updatedAt, T0 + 1000, 'updated when its entry was appended');
});

describe('gateway: /dashboard/api', () => {
  const ctx = gatewayWithPeer();
  const get = async (url: string, key = auth()) => {
    const res = await ctx.gw.app.inject({ method: 'GET', url, headers: key });
    return { status: res.statusCode, body: res.json() };
  };

  it('every endpoint wants the API key; the page itself is public, with its CSP', async () => {
    for (const path of ['activity', 'notifications', 'streams', 'nodes']) {
      assert.equal((await get(`/dashboard/api/${path}`, {})).status, 401, path);
    }
    for (const [url, type] of [
      ['/dashboard', 'text/html'],
      ['/dashboard/app.js', 'text/javascript'],
      ['/dashboard/dashboard.css', 'text/css'],
    ]) {
      const res = await ctx.gw.app.inject({ method: 'GET', url: url! });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), new RegExp(`^${type}`));
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
  });

  it('activity and recent notifications come from the ledger; q finds a recipient or an id', async () => {
    const { peer, gw } = ctx;
    const now = Date.now();
    const events: LedgerEvent[] = [
      accepted(11, 'dash-alice', now - 2000),
      { type: 'notification.failed', notificationId: id(11), at: now - 1990, reason: 'RECIPIENT_OFFLINE' },
      accepted(12, 'dash-bob', now - 1000),
    ];
    for (const [i, e] of events.entries()) await peer.xadd(gw.keys.events(0), `${now - 2000 + i * 500}-0`, ...encodeEntry(e));

    const activity = await get('/dashboard/api/activity?minutes=1');
    assert.equal(activity.status, 200, JSON.stringify(activity.body));
    assert.equal(activity.body.events, 3);
    assert.equal(activity.body.counts.byStatus.FAILED, 1);
    assert.equal(activity.body.counts.byStatus.ACCEPTED, 1);
    assert.equal(activity.body.counts.byReason.RECIPIENT_OFFLINE, 1);
    assert.ok(activity.body.throughput.length >= 60);
    assert.equal(
      activity.body.throughput.reduce((n: number, p: any) => n + p.accepted, 0),
      2,
    );

    const all = await get('/dashboard/api/notifications');
    assert.deepEqual(
      all.body.notifications.map((n: any) => n.notificationId),
      [id(12), id(11)],
    );
    const bob = await get('/dashboard/api/notifications?q=dash-bob');
    assert.deepEqual(
      bob.body.notifications.map((n: any) => [n.recipientId, n.status, n.title]),
      [['dash-bob', 'ACCEPTED', '#12']],
    );
    const byId = await get(`/dashboard/api/notifications?q=${id(11)}`);
    assert.deepEqual(
      byId.body.notifications.map((n: any) => n.notificationId),
      [id(11)],
    );
    assert.equal((await get('/dashboard/api/notifications?q=a%20b')).status, 400);
    assert.equal((await get('/dashboard/api/activity?minutes=0')).status, 400);
  });

  it("streams list each consumer group's lag and pending; nodes their heartbeat and connections", async () => {
    const { peer, gw } = ctx;
    await peer.xgroup('CREATE', gw.keys.commands(0), groups.dispatcher, '$', 'MKSTREAM');
    await peer.xadd(gw.keys.commands(0), '*', 'data', '{}');
    await peer.zadd(gw.keys.nodes, Date.now(), 'node-a', Date.now() - 60_000, 'node-b');
    await peer.hset(gw.keys.nodeConnections, 'node-a', '7');
    await peer.xgroup('CREATE', gw.keys.deliveries('node-a'), groups.delivery, '$', 'MKSTREAM');

    const streams = await get('/dashboard/api/streams');
    assert.equal(streams.status, 200, JSON.stringify(streams.body));
    const commands = streams.body.groups.find((g: any) => g.stream === 'commands');
    assert.deepEqual(commands, { stream: 'commands', group: 'dispatcher', lag: 1, pending: 0 });
    assert.ok(streams.body.groups.some((g: any) => g.stream === 'deliveries:node-a' && g.group === 'delivery'));

    const nodes = await get('/dashboard/api/nodes');
    assert.deepEqual(
      nodes.body.nodes.map((n: any) => [n.nodeId, n.alive, n.connections]),
      [
        ['node-b', false, null],
        ['node-a', true, 7],
      ],
    );
  });

  it('is in the OpenAPI document, behind the API key', async () => {
    const doc = (await ctx.gw.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of ['/dashboard/api/activity', '/dashboard/api/notifications', '/dashboard/api/streams', '/dashboard/api/nodes']) {
      const op = doc.paths[path]?.get;
      assert.ok(op, path);
      assert.deepEqual(op.tags, ['dashboard']);
      assert.equal(op.security, undefined, `${path} uses the document's bearerAuth`);
      assert.ok(op.responses['200'] && op.responses['401'], path);
    }
    assert.equal(doc.paths['/dashboard'], undefined, 'the page is not an API operation');
  });
});
