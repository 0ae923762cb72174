import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createRedis, makeKeys, type RedisClient } from '@pushflow/shared';
import type { Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * The whole path with the three services as separate processes, driven only through
 * HTTP and raw WebSocket clients, as an application and its users would. Run on one Redis
 * (test/e2e.test.ts) and on a Redis Cluster (test/cluster/e2e.test.ts); the stack needs at
 * least two delivery nodes.
 */
let stack: Stack;
let redis: RedisClient;

export function endToEnd(start: () => Promise<Stack>): void {
  before(async () => {
    stack = await start();
    redis = createRedis(stack.redisUrl, 'test-e2e');
  });

  after(async () => {
    redis?.disconnect();
    const codes = await stack?.stop();
    // SIGTERM drains and exits 0 (docs/design.md, "Failure semantics").
    assert.deepEqual(
      codes,
      stack.services.map(() => 0),
      'every service exits 0 on SIGTERM',
    );
  });

  describe('end to end', endToEndTests);
}

async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  key = stack.apiKey,
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(`${stack.gatewayUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

interface Client {
  ws: WebSocket;
  frames: any[];
  next(timeoutMs?: number): Promise<any>;
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(recipientId: string, node = 0): Promise<Client> {
  const { status, body } = await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 });
  assert.equal(status, 201, JSON.stringify(body));
  const ws = new WebSocket(`${stack.deliveryUrls[node]}/ws?token=${encodeURIComponent(body.token)}`);
  const frames: any[] = [];
  const waiters: ((f: any) => void)[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data));
    frame.receivedAt = Date.now();
    const w = waiters.shift();
    if (w) w(frame);
    else frames.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.once('close', (code, reason) => r({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // The node records presence just after the socket opens; a send racing ahead of that
  // would rightly fail RECIPIENT_OFFLINE, or reach only the recipient's other sockets, so
  // wait until routing can see this socket. The dispatchers route from the presence
  // changes, which on a Redis Cluster the node appends just after the hash
  // (delivery/src/presence.ts): wait for both.
  const keys = makeKeys(stack.prefix);
  const presenceKey = keys.presence(recipientId);
  const nodeId = stack.nodeIds[node]!;
  const published = async () => {
    const recent = (await redis.xrevrange(keys.presenceChanges, '+', '-', 'COUNT', 1000)) as [string, string[]][];
    return recent.some(([, fields]) => {
      const change = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) change.set(fields[i]!, fields[i + 1]!);
      return change.get('node') === nodeId && change.get('recipient') === recipientId && Number(change.get('count')) > 0;
    });
  };
  await waitFor(`presence of ${recipientId}`, async () =>
    Number(await redis.hget(presenceKey, nodeId)) > 0 && (await published()) ? true : undefined,
  ).catch(async (err: Error) => {
    // What Redis holds for the recipient and what the node last said, for the failure message.
    const held = await redis.hgetall(presenceKey).catch((e: Error) => e.message);
    const label = stack.deliveryUrls.length > 1 ? stack.nodeIds[node]! : 'delivery';
    const lines = stack.services
      .find((s) => s.name === label)
      ?.lines.slice(-10)
      .join('\n');
    throw new Error(`${err.message}; presence hash ${JSON.stringify(held)}; ${label} last logged:\n${lines}`);
  });
  return {
    ws,
    frames,
    closed,
    next(timeoutMs = 5000) {
      const f = frames.shift();
      if (f) return Promise.resolve(f);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no frame for ${recipientId} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((frame) => {
          clearTimeout(t);
          resolve(frame);
        });
      });
    },
  };
}

async function statusOf(id: string) {
  const res = await api('GET', `/notifications/${id}/status`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

async function waitForStatus(id: string, status: string) {
  return waitFor(`${id} to be ${status}`, async () => {
    const s = await statusOf(id);
    return s.status === status ? s : undefined;
  });
}

function endToEndTests(): void {
  test('token, connect, send, receive in milliseconds, ack: ACCEPTED -> DISPATCHED -> DELIVERED -> ACKNOWLEDGED', async () => {
    const alice = await connect('alice');
    const sentAt = Date.now();
    const sent = await api('POST', '/notifications', { recipientId: 'alice', title: 'Hi', body: 'Welcome', data: { order: 42 } });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.status, 'ACCEPTED');
    const { notificationId, acceptedAt } = sent.body;

    // Read-your-writes: the status exists as soon as POST answered.
    assert.equal((await api('GET', `/notifications/${notificationId}/status`)).status, 200);

    const frame = await alice.next();
    assert.deepEqual(
      { ...frame, receivedAt: undefined },
      {
        type: 'notification',
        notificationId,
        title: 'Hi',
        body: 'Welcome',
        data: { order: 42 },
        acceptedAt,
        receivedAt: undefined,
      },
    );
    assert.ok(frame.receivedAt - sentAt < 2000, `received ${frame.receivedAt - sentAt} ms after sending`);

    await waitForStatus(notificationId, 'DELIVERED');
    alice.ws.send(JSON.stringify({ type: 'ack', notificationId }));
    const done = await waitForStatus(notificationId, 'ACKNOWLEDGED');
    assert.equal(done.recipientId, 'alice');
    assert.deepEqual(
      done.history.map((h: any) => h.status),
      ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED'],
    );
    const delivered = done.history.find((h: any) => h.status === 'DELIVERED');
    assert.equal(delivered.nodeId, stack.nodeIds[0]);
    for (const h of done.history) assert.ok(!Number.isNaN(Date.parse(h.at)), `history time ${h.at}`);
    alice.ws.close();
  });

  test('a user with no open connection: FAILED, RECIPIENT_OFFLINE', async () => {
    const sent = await api('POST', '/notifications', { recipientId: 'nobody-home', title: 'Hello?' });
    assert.equal(sent.status, 202);
    const s = await waitForStatus(sent.body.notificationId, 'FAILED');
    assert.equal(s.reason, 'RECIPIENT_OFFLINE');
    assert.deepEqual(
      s.history.map((h: any) => [h.status, h.reason]),
      [
        ['ACCEPTED', undefined],
        ['FAILED', 'RECIPIENT_OFFLINE'],
      ],
    );
  });

  test('two connections on two delivery nodes both receive it; status DELIVERED by both nodes', async () => {
    const phone = await connect('bob', 0);
    const laptop = await connect('bob', 1);
    const sent = await api('POST', '/notifications', { recipientId: 'bob', body: 'both devices' });
    const [a, b] = await Promise.all([phone.next(), laptop.next()]);
    assert.equal(a.notificationId, sent.body.notificationId);
    assert.equal(b.notificationId, sent.body.notificationId);
    const s = await waitFor('both nodes recorded', async () => {
      const st = await statusOf(sent.body.notificationId);
      return st.history.filter((h: any) => h.status === 'DELIVERED').length === 2 ? st : undefined;
    });
    assert.equal(s.status, 'DELIVERED');
    assert.deepEqual(
      s.history
        .filter((h: any) => h.status === 'DELIVERED')
        .map((h: any) => h.nodeId)
        .sort(),
      [stack.nodeIds[0], stack.nodeIds[1]].sort(),
    );
    phone.ws.close();
    laptop.ws.close();
  });

  test('bad requests get typed problems and send nothing', async () => {
    const unauthorized = await api('POST', '/notifications', { recipientId: 'alice' }, 'wrong-key-wrong-key');
    assert.equal(unauthorized.status, 401);
    assert.match(unauthorized.headers.get('content-type') ?? '', /application\/problem\+json/);
    const invalid = await api('POST', '/notifications', { recipientId: 'not allowed spaces' });
    assert.equal(invalid.status, 400);
    assert.equal(typeof invalid.body.type, 'string');
    const missing = await api('GET', '/notifications/0190a000-0000-7000-8000-000000000000/status');
    assert.equal(missing.status, 404);
  });

  test('a bad token closes the socket with 4001', async () => {
    const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=not-a-token`);
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    assert.equal(code, 4001);
  });

  test('a burst of 1,000 notifications to 50 connected users: each received exactly once, all DELIVERED', async () => {
    const users = Array.from({ length: 50 }, (_, i) => `burst-user-${i}`);
    const clients = await Promise.all(users.map((u, i) => connect(u, i % stack.deliveryUrls.length)));
    const received = new Map<string, number>();
    const sends = Array.from({ length: 1000 }, (_, i) => ({ recipientId: users[i % users.length]!, title: `#${i}` }));
    const ids: string[] = [];
    // 50 concurrent senders, like an application with a connection pool.
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < sends.length) {
          const body = sends[next++]!;
          const res = await api('POST', '/notifications', body);
          assert.equal(res.status, 202, JSON.stringify(res.body));
          ids.push(res.body.notificationId);
        }
      }),
    );
    assert.equal(new Set(ids).size, 1000);

    await waitFor(
      'every frame',
      async () => {
        const total = clients.reduce((n, c) => n + c.frames.length, 0);
        return total >= 1000 ? true : undefined;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 200)); // would let duplicates show up
    clients.forEach((c, i) => {
      for (const f of c.frames) {
        assert.equal(f.type, 'notification');
        received.set(f.notificationId, (received.get(f.notificationId) ?? 0) + 1);
        assert.ok(f.title.startsWith('#'));
        assert.equal(sends[Number(f.title.slice(1))]!.recipientId, users[i], 'delivered to its own recipient only');
      }
    });
    assert.equal(received.size, 1000, 'every notification received');
    assert.ok(
      [...received.values()].every((n) => n === 1),
      'each exactly once',
    );
    for (const id of ids) assert.ok(received.has(id));

    // Every one ends DELIVERED in the status store.
    const pending = new Set(ids);
    await waitFor(
      'all DELIVERED',
      async () => {
        const batch = [...pending].slice(0, 100);
        await Promise.all(
          batch.map(async (id) => {
            if ((await statusOf(id)).status === 'DELIVERED') pending.delete(id);
          }),
        );
        return pending.size === 0 ? true : undefined;
      },
      30_000,
    );
    for (const c of clients) c.ws.close();
  });
}
