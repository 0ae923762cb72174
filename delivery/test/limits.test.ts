import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { loadConfig, uuidv7 } from '@pushflow/shared';
import { DeliveryConfigSchema } from '../src/config.ts';
import { fullBudget, spendMessage } from '../src/message-rate.ts';
import {
  connectClient,
  dispatch,
  eventsFor,
  ledgerLength,
  openAccepted,
  openClient,
  presenceIs,
  startTestNode,
  tokenFor,
  withTimeout,
  type TestClient,
  type TestNode,
  withTestNode,
} from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

test("the message budget holds one second's allowance and refills at that rate", () => {
  const budget = fullBudget(3, 1000);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => spendMessage(budget, 3, 1000)),
    [true, true, true, false],
  );
  assert.equal(spendMessage(budget, 3, 1200), false); // 0.6 of a message refilled
  assert.equal(spendMessage(budget, 3, 1400), true); // 1.2
  assert.equal(spendMessage(budget, 3, 1400), false);
  // An hour idle refills to the burst, not beyond.
  assert.deepEqual(
    [1, 2, 3, 4].map(() => spendMessage(budget, 3, 3_601_400)),
    [true, true, true, false],
  );
  // A clock that steps back refills nothing.
  assert.equal(spendMessage(budget, 3, 0), false);
});

test('limits have defaults and bad values stop the service naming the variable', () => {
  const base = { PUSHFLOW_CONNECT_SECRET: 'x'.repeat(32) };
  const config = loadConfig(DeliveryConfigSchema, base);
  assert.equal(config.PUSHFLOW_MAX_CONNECTIONS, 100_000);
  assert.equal(config.PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT, 16);
  assert.equal(config.PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND, 50);
  assert.equal(config.PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS, 30);
  assert.equal(config.PUSHFLOW_ALLOWED_ORIGINS, '');
  assert.equal(config.PUSHFLOW_TOKEN_AUDIENCE, undefined);
  for (const [name, value] of [
    ['PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS', '301'],
    ['PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS', '-1'],
    ['PUSHFLOW_MAX_CONNECTIONS', '0'],
    ['PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT', 'many'],
    ['PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND', '0'],
  ] as const) {
    assert.throws(() => loadConfig(DeliveryConfigSchema, { ...base, [name]: value }), new RegExp(name), `${name}=${value}`);
  }
});

/** Frames of the client's notifications received so far. */
const ids = (c: TestClient) => c.frames.map((f) => (f as { notificationId: string }).notificationId);

/** A notification to another client on the node still arrives and is recorded delivered. */
async function othersStillReceive(t: TestNode, clients: TestClient[], recipientId: string): Promise<void> {
  const notificationId = uuidv7();
  await dispatch(t, { notificationId, recipientId, title: 'still here', acceptedAt: new Date().toISOString() });
  for (const c of clients) await waitFor(`${recipientId} receives`, () => (ids(c).includes(notificationId) ? true : undefined), 2000);
  const events = await waitFor(
    'outcome',
    async () => {
      const e = await eventsFor(t, notificationId);
      return e.length > 0 ? e : undefined;
    },
    2000,
  );
  assert.equal(events.length, 1);
  assert.ok(events[0]!.type === 'notification.delivered');
  assert.equal(events[0]!.connections, clients.length);
}

describe('delivery: per-socket and per-recipient limits', () => {
  let redis: Server;
  let t: TestNode;
  let bystander: TestClient;

  before(async () => {
    redis = await redisServer();
    t = await startTestNode(redis.url, {
      PUSHFLOW_MAX_FRAME_BYTES: '1024',
      PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT: '2',
      PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND: '20',
    });
    bystander = await openClient(t.url(await tokenFor('bystander')));
    await presenceIs(t, 'bystander', 1);
  });
  after(async () => {
    bystander?.ws.terminate();
    await t?.close();
    await redis?.stop();
  });

  /** Runs the abuse by a fresh client of `recipientId`; it must close with `code` and change nothing. */
  async function abuse(recipientId: string, act: (c: TestClient) => void, code: number): Promise<void> {
    const ledgerBefore = await ledgerLength(t);
    const c = await openClient(t.url(await tokenFor(recipientId)));
    await presenceIs(t, recipientId, 1);
    act(c);
    assert.equal((await withTimeout(c.closed, 3000, `close ${code}`)).code, code);
    await presenceIs(t, recipientId, 0);
    assert.equal(await ledgerLength(t), ledgerBefore, 'no event appended');
    await presenceIs(t, 'bystander', 1);
    await othersStillReceive(t, [bystander], 'bystander');
  }

  it('closes a flood of invalid text frames with 4008: garbage counts toward the rate', async () => {
    await abuse(
      'flooder',
      (c) => {
        for (let i = 0; i < 200; i++) c.ws.send('not json');
      },
      4008,
    );
  });

  it('closes a flood of acks with 4008', async () => {
    await abuse(
      'acker',
      (c) => {
        for (let i = 0; i < 200; i++) c.ws.send(JSON.stringify({ type: 'ack', notificationId: uuidv7() }));
      },
      4008,
    );
  });

  it('closes a flood of pings with 4008', async () => {
    await abuse(
      'pinger',
      (c) => {
        for (let i = 0; i < 200; i++) c.ws.ping();
      },
      4008,
    );
  });

  it('lets a burst up to the allowance through', async () => {
    const c = await openClient(t.url(await tokenFor('bursty')));
    const before = t.node.server.stats.invalidFrames;
    for (let i = 0; i < 20; i++) c.ws.send('{}');
    await waitFor('20 frames handled', () => (t.node.server.stats.invalidFrames - before === 20 ? true : undefined), 2000);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.ws.close(1000);
    await c.closed;
  });

  it('closes a binary frame with 1003', async () => {
    await abuse('binary', (c) => c.ws.send(Buffer.from(JSON.stringify({ type: 'ack', notificationId: 'x' }))), 1003);
  });

  it('closes a frame over PUSHFLOW_MAX_FRAME_BYTES with 1009', async () => {
    await abuse('big', (c) => c.ws.send('x'.repeat(1025)), 1009);
  });

  it('closes a third connection of one recipient with 4009 and keeps the first two', async () => {
    const ledgerBefore = await ledgerLength(t);
    const a = await openClient(t.url(await tokenFor('rita')));
    const b = await openClient(t.url(await tokenFor('rita')));
    await presenceIs(t, 'rita', 2);
    const third = connectClient(t.url(await tokenFor('rita')));
    const { code, reason } = await withTimeout(third.closed, 2000, 'third closed');
    assert.equal(code, 4009);
    assert.equal(reason, 'too many connections for this recipient');
    await presenceIs(t, 'rita', 2);
    assert.equal(await ledgerLength(t), ledgerBefore);
    await othersStillReceive(t, [a, b], 'rita');
    // A slot freed is a slot taken again.
    a.ws.close(1000);
    await presenceIs(t, 'rita', 1);
    const again = await openClient(t.url(await tokenFor('rita')));
    await presenceIs(t, 'rita', 2);
    for (const c of [b, again]) c.ws.close(1000);
    await presenceIs(t, 'rita', 0);
  });
});

describe("delivery: the node's connection limit", () => {
  let t: TestNode;
  withTestNode({ PUSHFLOW_MAX_CONNECTIONS: '2' }, (node) => (t = node));

  it('closes a connection past PUSHFLOW_MAX_CONNECTIONS with 1013; those open keep receiving', async () => {
    const ledgerBefore = await ledgerLength(t);
    // The limit counts sockets the node has taken, not those still being checked.
    const a = await openAccepted(t, 'n1');
    const b = await openAccepted(t, 'n2');
    const over = connectClient(t.url(await tokenFor('n3')));
    const { code, reason } = await withTimeout(over.closed, 2000, 'over the limit closed');
    assert.equal(code, 1013);
    assert.equal(reason, 'node at connection limit');
    assert.equal(t.node.server.openConnections(), 2);
    await presenceIs(t, 'n1', 1);
    await presenceIs(t, 'n2', 1);
    await presenceIs(t, 'n3', 0);
    assert.equal(await ledgerLength(t), ledgerBefore);
    await othersStillReceive(t, [a], 'n1');
    await othersStillReceive(t, [b], 'n2');
    b.ws.close(1000);
    await waitFor('one open', () => (t.node.server.openConnections() === 1 ? true : undefined), 2000);
    const c = await openClient(t.url(await tokenFor('n3')));
    await presenceIs(t, 'n3', 1);
    for (const x of [a, c]) x.ws.close(1000);
  });
});
