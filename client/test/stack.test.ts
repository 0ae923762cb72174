import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { makeKeys } from '@pushflow/shared';
import { signConnectToken } from '@pushflow/shared/tokens';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { apiOf } from '../../test/harness/api.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { backoffBound, BACKOFF_DEFAULTS } from '../src/backoff.ts';
import { connect, PushFlowError, type ConnectOptions, type PushFlowClient, type PushNotification } from '../src/index.ts';
import { opens, presenceOf, record, statusBecomes, stopped, type Recorded } from './harness.ts';

/**
 * @pushflow/client from Node against a real stack (Redis, a MongoDB-protocol server, gateway,
 * dispatcher, one delivery node): notifications, acks, a node restart, token refresh, a
 * redelivered frame, the backoff's timing and every error the client reports. The node is
 * set to close sockets when their token expires with no clock skew, to hold 3 sockets per
 * user and take 20 frames a second, so that 4003, 4009 and 4008 come quickly.
 */
let stack: Stack;
let redis: Redis;
const clients: PushFlowClient[] = [];

before(async () => {
  stack = await startStack({
    env: {
      PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS: '0',
      PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT: '3',
      PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND: '20',
    },
  });
  redis = new Redis(stack.redisUrl);
});

after(async () => {
  for (const c of clients) c.close();
  redis?.disconnect();
  await stack?.stop();
});

const api = apiOf(() => stack);
const url = () => stack.deliveryUrls[0]!;

async function token(recipientId: string, ttlSeconds = 600): Promise<string> {
  return (await api('POST', '/connect-tokens', { recipientId, ttlSeconds })).token;
}

/** A token signed here, as an application's backend may sign them: `exp` any time, even past. */
async function signed(recipientId: string, expInSeconds: number): Promise<string> {
  return await signConnectToken({ sub: recipientId, exp: Math.floor(Date.now() / 1000) + expInSeconds }, stack.connectSecret);
}

function start(opts: Partial<ConnectOptions>): { client: PushFlowClient; seen: Recorded } {
  const client = connect({ url: url(), ...opts });
  clients.push(client);
  return { client, seen: record(client) };
}

const presence = (recipientId: string, atLeast = 1) => presenceOf(stack, redis, recipientId, atLeast);

async function send(recipientId: string, title: string): Promise<string> {
  return (await api('POST', '/notifications', { recipientId, title, body: 'b', data: { n: 1 } })).notificationId;
}

const statusIs = (id: string, status: string) => statusBecomes(api, id, status);

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref());
}

const until = <T>(what: string, probe: () => T | undefined, ms = 10_000) => waitFor(what, probe, ms);

describe('@pushflow/client against a real stack', () => {
  test('receives, acks with autoAck, yields to for await, and ends the loop on close()', async () => {
    const { client, seen } = start({ token: await token('c-alice'), autoAck: true });
    // Iterating from the start, as an application does: the iterator yields what comes after it was made.
    const loop = (async () => {
      const got: PushNotification[] = [];
      for await (const n of client) {
        got.push(n);
        client.close();
      }
      return got;
    })();
    await until('open', () => (client.state === 'open' ? true : undefined));
    await presence('c-alice');
    const id = await send('c-alice', 'hello');
    const got = await Promise.race([loop, timeout(10_000, 'the for await loop to end')]);
    assert.equal(got.length, 1);
    assert.deepEqual(
      { ...got[0], acceptedAt: undefined },
      { notificationId: id, title: 'hello', body: 'b', data: { n: 1 }, acceptedAt: undefined },
    );
    assert.match(got[0]!.acceptedAt, /^\d{4}-\d\d-\d\dT/);
    await statusIs(id, 'ACKNOWLEDGED');
    assert.deepEqual(
      seen.states.map((s) => s.state),
      ['connecting', 'open', 'closed'],
      JSON.stringify(seen.states),
    );
    assert.equal(seen.states.at(-1)!.code, 1000);
    assert.deepEqual(seen.errors, []);
  });

  test('ack(id) by hand, on the WebSocket class of the ws package (the Node 20 way)', async () => {
    const { client, seen } = start({ token: await token('c-bob'), WebSocket: WebSocket as unknown as ConnectOptions['WebSocket'] });
    await until('open', () => (client.state === 'open' ? true : undefined));
    await presence('c-bob');
    const id = await send('c-bob', 'by hand');
    await until('the notification', () => seen.notifications[0]);
    await statusIs(id, 'DELIVERED');
    assert.equal(client.ack('not-sent-on-this-socket'), false);
    assert.equal(client.ack(id), true);
    await statusIs(id, 'ACKNOWLEDGED');
    client.close();
    assert.equal(client.ack(id), false, 'no ack once closed');
  });

  test('a delivery node restart: closed 1001, reconnects with backoff, receives again', async () => {
    const { client, seen } = start({ token: await token('c-carol'), autoAck: true });
    await until('open', () => (client.state === 'open' ? true : undefined));
    await presence('c-carol');
    await stack.restart('delivery', 'SIGTERM');
    await until('open again', () => (opens(seen) === 2 ? true : undefined), 30_000);
    const closed = seen.states.filter((s) => s.state === 'closed');
    assert.equal(closed[0]!.code, 1001, 'the node said it was going away');
    for (const c of closed) assert.ok(c.retryInMs !== undefined && c.retryInMs <= backoffBound(c.attempt - 1, BACKOFF_DEFAULTS));
    await presence('c-carol');
    const id = await send('c-carol', 'after the restart');
    await until('the notification', () => seen.notifications.find((n) => n.notificationId === id));
    await statusIs(id, 'ACKNOWLEDGED');
    assert.deepEqual(seen.errors, []);
    client.close();
  });

  test('the node stopped: each wait is between 0 and the exponential bound, and the client waits it', async () => {
    const backoff = { initialMs: 100, maxMs: 400, stableMs: 10_000 };
    const { client, seen } = start({ token: await token('c-dave'), backoff });
    await until('open', () => (client.state === 'open' ? true : undefined));
    await stack.service('delivery').stop('SIGKILL');
    // Seven retries bounded by 100, 200, 400, 400, ... ms: at most 2.3 s of waiting.
    await until('seven retries', () => (seen.states.filter((s) => s.state === 'closed').length >= 8 ? true : undefined));
    await stack.restart('delivery');
    await until('open again', () => (opens(seen) === 2 ? true : undefined), 15_000);

    const s = seen.states;
    const waits: { bound: number; planned: number; took: number }[] = [];
    for (let i = 0; i + 1 < s.length; i++) {
      if (s[i]!.state !== 'closed' || s[i + 1]!.state !== 'connecting') continue;
      waits.push({ bound: backoffBound(s[i]!.attempt - 1, backoff), planned: s[i]!.retryInMs!, took: s[i + 1]!.at - s[i]!.at });
    }
    assert.ok(waits.length >= 8, `${waits.length} waits`);
    assert.deepEqual(
      waits.slice(0, 5).map((w) => w.bound),
      [100, 200, 400, 400, 400],
      'the bound doubles from initialMs up to maxMs',
    );
    for (const w of waits) {
      assert.ok(w.planned >= 0 && w.planned <= w.bound, `planned ${w.planned} ms, bound ${w.bound} ms`);
      // Timers never fire early; late by a little on a loaded machine.
      assert.ok(w.took >= w.planned - 1 && w.took <= w.planned + 300, `waited ${w.took} ms for a planned ${w.planned} ms`);
    }
    // Full jitter: random waits, not the bound each time.
    assert.ok(new Set(waits.map((w) => w.planned)).size > 1, `waits: ${waits.map((w) => w.planned).join(', ')}`);
    assert.deepEqual(seen.errors, [], 'a lost node is no error: the client retries');
    client.close();
  });

  test('token expiry: closed 4003 while connected, getToken gives a fresh token, connected again', async () => {
    let calls = 0;
    const getToken = async () => {
      calls++;
      return token('c-erin');
    };
    // Expires in 2 s (the node is set to allow no clock skew).
    const { client, seen } = start({ token: await signed('c-erin', 2), getToken, autoAck: true });
    await until('open again after 4003', () => (opens(seen) === 2 ? true : undefined), 15_000);
    assert.equal(calls, 1);
    assert.deepEqual(
      seen.states.filter((s) => s.state === 'closed').map((s) => [s.code, s.reason]),
      [[4003, 'token expired']],
    );
    assert.deepEqual(seen.errors, [], 'a refreshed token is no error');
    await presence('c-erin');
    const id = await send('c-erin', 'with the fresh token');
    await until('the notification', () => seen.notifications.find((n) => n.notificationId === id));
    await statusIs(id, 'ACKNOWLEDGED');
    client.close();
  });

  test('a redelivered frame is dropped, and acked again', async () => {
    const sent: string[] = [];
    // The global WebSocket, keeping what the client sends.
    const Recording = class extends globalThis.WebSocket {
      override send(data: string): void {
        sent.push(data);
        super.send(data);
      }
    };
    const { client, seen } = start({ token: await token('c-frank'), autoAck: true, WebSocket: Recording });
    // A plain socket beside it, to see what the node sends.
    const raw = new WebSocket(`${url()}/ws?token=${await token('c-frank')}`);
    const rawFrames: { notificationId: string }[] = [];
    raw.on('message', (data) => rawFrames.push(JSON.parse(String(data))));
    await until('open', () => (client.state === 'open' && raw.readyState === WebSocket.OPEN ? true : undefined));
    await presence('c-frank', 2);
    const id = await send('c-frank', 'once');
    await until('the notification', () => seen.notifications[0]);
    await statusIs(id, 'ACKNOWLEDGED');

    // Redeliver: the dispatcher's entry for this notification appended again to the node's
    // stream, as a dispatcher does when it handles a command a second time after a crash.
    const stream = makeKeys(stack.prefix).deliveries(stack.nodeIds[0]!);
    const entries = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
    const entry = entries.find(([, fields]) => fields.some((f) => f.includes(id)));
    assert.ok(entry, `the delivery entry of ${id}`);
    await redis.xadd(stream, '*', ...entry[1]);
    // The node sends to every socket of the user in one go: the client's got it when the plain one did.
    await until('the node sent it twice', () => (rawFrames.filter((f) => f.notificationId === id).length === 2 ? true : undefined));
    const ack = JSON.stringify({ type: 'ack', notificationId: id });
    await until('the second ack', () => (sent.filter((f) => f === ack).length === 2 ? true : undefined));
    assert.deepEqual(
      seen.notifications.map((n) => n.notificationId),
      [id],
      'shown once',
    );
    raw.close();
    client.close();
  });

  test('acks are paced under the node’s frame limit; unpaced, a burst gets 4008 and the client reconnects', async () => {
    const burst = async (recipientId: string) =>
      (
        await api('POST', '/notifications/batch', {
          notifications: Array.from({ length: 30 }, (_, i) => ({ recipientId, title: `n${i}` })),
        })
      ).notifications.map((n: any) => n.notificationId as string);

    // 10 acks a second, under the node's 20: 30 acks take 2 s, and every one counts.
    const paced = start({ token: await token('c-gina'), autoAck: true, acksPerSecond: 10 });
    await until('open', () => (paced.client.state === 'open' ? true : undefined));
    await presence('c-gina');
    const ids = await burst('c-gina');
    for (const id of ids) await statusIs(id, 'ACKNOWLEDGED');
    assert.equal(opens(paced.seen), 1, 'never closed');
    assert.deepEqual(paced.seen.errors, []);
    paced.client.close();

    const unpaced = start({ token: await token('c-hank'), autoAck: true, acksPerSecond: 1000, backoff: { initialMs: 50 } });
    await until('open', () => (unpaced.client.state === 'open' ? true : undefined));
    await presence('c-hank');
    await burst('c-hank');
    await until('reconnected after 4008', () => (opens(unpaced.seen) === 2 ? true : undefined));
    const error = unpaced.seen.errors[0];
    assert.ok(error instanceof PushFlowError);
    assert.deepEqual([error.code, error.closeCode, error.fatal], ['TOO_MANY_MESSAGES', 4008, false]);
    unpaced.client.close();
  });
});

describe('every error the client reports, each from the real node', () => {
  /** Waits until the client stopped for good and returns its one error. */
  async function stoppedWith(seen: Recorded): Promise<PushFlowError> {
    const last = await until('the client to stop', () => stopped(seen));
    assert.equal(seen.errors.length, 1, seen.errors.map((e) => e.message).join('; '));
    assert.equal(last.error, seen.errors[0], 'the final state carries the error');
    return seen.errors[0]!;
  }

  test('TOKEN_INVALID: close 4001 and no getToken; the for await loop throws it', async () => {
    const { client, seen } = start({ token: 'not-a-token' });
    const loop = (async () => {
      for await (const _ of client) assert.fail('no notification');
    })();
    await assert.rejects(
      Promise.race([loop, timeout(10_000, 'the for await loop to throw')]),
      (err: PushFlowError) => err.code === 'TOKEN_INVALID',
    );
    const error = await stoppedWith(seen);
    assert.deepEqual([error.code, error.closeCode, error.fatal], ['TOKEN_INVALID', 4001, true]);
    assert.equal(opens(seen), 1, 'the node upgrades, then closes');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(seen.states.filter((s) => s.state === 'connecting').length, 1, 'no retry');
  });

  test('TOKEN_INVALID: getToken gives no other after a 4001', async () => {
    let calls = 0;
    const { seen } = start({
      token: 'not-a-token',
      getToken: async () => (calls++ === 0 ? (await signed('c-ivy', 600)).slice(0, -2) : null),
    });
    const error = await stoppedWith(seen);
    assert.deepEqual([error.code, error.closeCode, calls], ['TOKEN_INVALID', 4001, 2]);
  });

  test('TOKEN_EXPIRED: close 4003 at connect, getToken gives none', async () => {
    const { seen } = start({ token: await signed('c-jack', -5), getToken: () => undefined });
    const error = await stoppedWith(seen);
    assert.deepEqual([error.code, error.closeCode, error.fatal], ['TOKEN_EXPIRED', 4003, true]);
    assert.match(error.message, /token expired.*getToken gave none/);
  });

  test('NO_TOKEN: getToken gives none for the first connect', async () => {
    const { seen } = start({ getToken: async () => '' });
    const error = await stoppedWith(seen);
    assert.deepEqual([error.code, error.closeCode], ['NO_TOKEN', undefined]);
  });

  test('TOKEN_FETCH_FAILED: getToken throws, the client retries it with backoff and connects', async () => {
    let calls = 0;
    const { client, seen } = start({
      backoff: { initialMs: 50 },
      getToken: async () => {
        if (++calls === 1) throw new Error('backend down');
        return token('c-kim');
      },
    });
    await until('open', () => (client.state === 'open' ? true : undefined));
    assert.equal(seen.errors.length, 1);
    const error = seen.errors[0]!;
    assert.deepEqual([error.code, error.fatal, (error.cause as Error).message], ['TOKEN_FETCH_FAILED', false, 'backend down']);
    client.close();
  });

  /** A WebSocket that sends `frame` as soon as it opens: a client with a bug. */
  function sendingOnOpen(frame: string | Uint8Array): ConnectOptions['WebSocket'] {
    return class extends globalThis.WebSocket {
      constructor(address: string) {
        super(address);
        this.addEventListener('open', () => this.send(frame));
      }
    };
  }

  for (const [code, closeCode, frame] of [
    ['UNSUPPORTED_DATA', 1003, new TextEncoder().encode('{"type":"ack"}')],
    ['MESSAGE_TOO_BIG', 1009, JSON.stringify({ type: 'ack', notificationId: 'x'.repeat(20_000) })],
  ] as const) {
    test(`${code}: close ${closeCode}, not retried`, async () => {
      const { seen } = start({ token: await token('c-lee'), WebSocket: sendingOnOpen(frame) });
      const error = await stoppedWith(seen);
      assert.deepEqual([error.code, error.closeCode, error.fatal], [code, closeCode, true]);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(seen.states.filter((s) => s.state === 'connecting').length, 1, 'no retry');
    });
  }

  test('TOO_MANY_CONNECTIONS: close 4009 for the 4th socket of a user, not retried', async () => {
    const maxToken = await signed('c-max', 600);
    const first = [0, 1, 2].map(() => start({ token: maxToken }));
    await until('three open', () => (first.every((c) => c.client.state === 'open') ? true : undefined));
    const { seen } = start({ token: maxToken });
    const error = await stoppedWith(seen);
    assert.deepEqual([error.code, error.closeCode, error.fatal], ['TOO_MANY_CONNECTIONS', 4009, true]);
    for (const c of first) c.client.close();
  });

  test('NO_WEBSOCKET and BAD_OPTIONS are thrown by connect()', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err instanceof PushFlowError ? err.code : String(err);
      }
      return 'no throw';
    };
    assert.equal(
      code(() => connect({ url: '' })),
      'BAD_OPTIONS',
    );
    assert.equal(
      code(() => connect({ url: url() })),
      'BAD_OPTIONS',
    );
    assert.equal(
      code(() => connect({ url: 'nope', token: 't' })),
      'BAD_OPTIONS',
    );
    assert.equal(
      code(() => connect({ url: 'ftp://host', token: 't' })),
      'BAD_OPTIONS',
    );
    assert.equal(
      code(() => connect({ url: url(), token: 't', acksPerSecond: 0 })),
      'BAD_OPTIONS',
    );
    const global = globalThis.WebSocket;
    try {
      // Node 20 has no global WebSocket.
      (globalThis as { WebSocket?: unknown }).WebSocket = undefined;
      assert.equal(
        code(() => connect({ url: url(), token: 't' })),
        'NO_WEBSOCKET',
      );
    } finally {
      globalThis.WebSocket = global;
    }
  });
});
