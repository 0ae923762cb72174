import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ackPacer } from '../src/ack-pacer.ts';
import { BACKOFF_DEFAULTS, backoffBound, backoffDelay } from '../src/backoff.ts';
import { closeAction } from '../src/close-policy.ts';
import { connect, type WebSocketConstructor } from '../src/index.ts';
import { recentIds } from '../src/recent-ids.ts';
import { socketUrl } from '../src/socket-url.ts';

/** The client's pure parts; test/stack.test.ts runs the whole client against a real stack. */
describe('backoff', () => {
  it('full jitter: 0 up to 500 ms × 2^attempt, capped at 30 s', () => {
    assert.deepEqual(
      [0, 1, 2, 5, 6, 20].map((a) => backoffBound(a, BACKOFF_DEFAULTS)),
      [500, 1000, 2000, 16_000, 30_000, 30_000],
    );
    assert.equal(
      backoffDelay(3, BACKOFF_DEFAULTS, () => 0),
      0,
    );
    assert.equal(
      backoffDelay(3, BACKOFF_DEFAULTS, () => 0.999_999),
      4000,
    );
    assert.equal(
      backoffDelay(1, { ...BACKOFF_DEFAULTS, initialMs: 100 }, () => 0.5),
      100,
    );
  });
});

describe('close codes', () => {
  it('never reconnects on 1003, 1009, 4009; refreshes the token on 4001, 4003; retries the rest', () => {
    for (const code of [1003, 1009, 4009]) assert.equal(closeAction(code).action, 'stop', String(code));
    for (const code of [4001, 4003]) assert.equal(closeAction(code).action, 'refresh', String(code));
    for (const code of [1000, 1001, 1006, 1011, 1013, 4008, 4010, 4999]) assert.equal(closeAction(code).action, 'retry', String(code));
    assert.deepEqual(closeAction(4008), { action: 'retry', error: 'TOO_MANY_MESSAGES' });
  });
});

describe('socketUrl', () => {
  it('takes a base or the /ws endpoint, ws or http, and puts the token in the query', () => {
    const t = 'a.b+c';
    assert.equal(socketUrl('ws://h:8080', t), 'ws://h:8080/ws?token=a.b%2Bc');
    assert.equal(socketUrl('ws://h:8080/', t), 'ws://h:8080/ws?token=a.b%2Bc');
    assert.equal(socketUrl('wss://h/ws', t), 'wss://h/ws?token=a.b%2Bc');
    assert.equal(socketUrl('https://h/push/', t), 'wss://h/push/ws?token=a.b%2Bc');
    assert.equal(socketUrl('http://h:8080', t), 'ws://h:8080/ws?token=a.b%2Bc');
    assert.throws(() => socketUrl('ftp://h', t), /not a ws/);
    assert.throws(() => socketUrl('h:8080', t));
  });
});

describe('recentIds', () => {
  it('says a repeat is one, and forgets the oldest beyond its limit', () => {
    const ids = recentIds(2);
    assert.equal(ids.add('a', 1), true);
    assert.equal(ids.add('a', 2), false);
    assert.deepEqual(ids.get('a'), { connection: 1, acked: false });
    ids.add('b', 1);
    ids.add('c', 1);
    assert.equal(ids.get('a'), undefined);
    assert.equal(ids.add('a', 1), true);
  });
});

describe('ackPacer', () => {
  it('sends a second’s allowance at once, the rest at the rate, and drops or drains the queue on demand', async () => {
    const sent: string[] = [];
    const pacer = ackPacer(10, (f) => sent.push(f));
    for (let i = 0; i < 13; i++) pacer.push(String(i));
    assert.equal(sent.length, 10);
    const start = Date.now();
    while (sent.length < 13 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 10));
    const took = Date.now() - start;
    assert.equal(sent.length, 13);
    // Three more at 10 a second: about 300 ms.
    assert.ok(took >= 250 && took < 700, `the three queued acks took ${took} ms`);
    for (let i = 0; i < 12; i++) pacer.push(`x${i}`);
    const sentBeforeClear = sent.length;
    assert.ok(sentBeforeClear < 13 + 12, 'some acks wait');
    pacer.clear();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sent.length, sentBeforeClear, 'cleared acks are never sent');
    const before = sent.length;
    for (let i = 0; i < 20; i++) pacer.push(`y${i}`);
    pacer.drain();
    assert.equal(sent.length, before + 20);
  });
});

describe('connect', () => {
  it('a WebSocket constructor that throws (a browser refusing ws:// from an https page) is a failed connection, retried', async () => {
    let tries = 0;
    const Refusing = class {
      constructor() {
        tries++;
        throw new Error('SecurityError: insecure WebSocket from an https page');
      }
    } as unknown as WebSocketConstructor;
    const client = connect({ url: 'ws://example.invalid', token: 't', WebSocket: Refusing, backoff: { initialMs: 20, maxMs: 20 } });
    const closes: (number | undefined)[] = [];
    client.addEventListener('state', (e) => e.detail.state === 'closed' && closes.push(e.detail.retryInMs));
    const start = Date.now();
    while (tries < 3 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 5));
    client.close();
    assert.ok(tries >= 3, `${tries} tries`);
    assert.ok(
      closes.slice(0, 2).every((ms) => ms !== undefined && ms <= 20),
      `retries planned: ${closes.join(', ')}`,
    );
    assert.equal(client.state, 'closed');
  });
});
