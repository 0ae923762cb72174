import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { signConnectToken } from '@pushflow/shared/tokens';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { apiOf } from '../../test/harness/api.ts';
import { collectPageErrors, launchBrowser } from '../../test/harness/browser.ts';
import { presenceOf, statusBecomes } from './harness.ts';

/**
 * @pushflow/client in headless Chromium, loaded as the ES module a delivery node serves
 * (/demo/pushflow-client.js, the library's build) into a page of that node's origin, the way
 * a page of an application's own would import it: the browser's WebSocket, EventTarget and
 * CustomEvent, against a real stack.
 */
let stack: Stack;
let redis: Redis;
let browser: Browser;

before(async () => {
  stack = await startStack();
  redis = new Redis(stack.redisUrl);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  redis?.disconnect();
  await stack?.stop();
});

const api = apiOf(() => stack);
const token = async (recipientId: string) => (await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 })).token as string;

/** A page of the node's origin (its demo page), with the library imported as `window.pushflow`. */
async function pageWithLibrary(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${stack.deliveryUrls[0]!.replace(/^ws/, 'http')}/demo`);
  await page.evaluate(async () => {
    const w = window as any;
    w.pushflow = await import('/demo/pushflow-client.js' as string);
    w.seen = { states: [], notifications: [], errors: [] };
    // Records a client's events into window.seen.
    w.record = (client: EventTarget) => {
      for (const type of ['state', 'notification', 'error']) {
        client.addEventListener(type, (e) => {
          const d = (e as CustomEvent).detail;
          const list = w.seen[type === 'state' ? 'states' : `${type}s`];
          list.push(
            type === 'error' ? { code: d.code, closeCode: d.closeCode, fatal: d.fatal, isError: d instanceof w.pushflow.PushFlowError } : d,
          );
        });
      }
      return client;
    };
  });
  return { page, errors };
}

const presence = (recipientId: string) => presenceOf(stack, redis, recipientId);

const seen = (page: Page) => page.evaluate(() => (window as any).seen);

describe('@pushflow/client in Chromium', () => {
  test('connects with the page origin as url, receives in for await, autoAck acknowledges, close() ends the loop', async () => {
    const { page, errors } = await pageWithLibrary();
    await page.evaluate(
      (t) => {
        const w = window as any;
        w.client = w.record(w.pushflow.connect({ url: location.origin, token: t, autoAck: true }));
        w.loop = (async () => {
          for await (const n of w.client) {
            w.client.close();
            return n;
          }
        })();
      },
      await token('b-alice'),
    );
    await page.waitForFunction(() => (window as any).client.state === 'open');
    await presence('b-alice');
    const sent = await api('POST', '/notifications', { recipientId: 'b-alice', title: 'to the browser', data: { k: [1, 2] } });
    const got = await page.evaluate(() => (window as any).loop);
    assert.equal(got.notificationId, sent.notificationId);
    assert.equal(got.title, 'to the browser');
    assert.deepEqual(got.data, { k: [1, 2] });
    await statusBecomes(api, sent.notificationId, 'ACKNOWLEDGED');
    const s = await seen(page);
    assert.deepEqual(
      s.states.map((x: any) => x.state),
      ['connecting', 'open', 'closed'],
    );
    assert.deepEqual(s.errors, []);
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('an expired token (4003): getToken gives a fresh one, and the client connects', async () => {
    const { page, errors } = await pageWithLibrary();
    const expired = await signConnectToken({ sub: 'b-bob', exp: Math.floor(Date.now() / 1000) - 120 }, stack.connectSecret);
    // The page asks the test (standing in for the application's backend) for a token.
    await page.exposeFunction('freshToken', () => token('b-bob'));
    await page.evaluate((t) => {
      const w = window as any;
      w.client = w.record(w.pushflow.connect({ url: location.origin, token: t, getToken: w.freshToken, backoff: { initialMs: 50 } }));
    }, expired);
    await page.waitForFunction(
      () => (window as any).client.state === 'open' && (window as any).seen.states.some((s: any) => s.code === 4003),
    );
    const s = await seen(page);
    const closed = s.states.filter((x: any) => x.state === 'closed');
    assert.deepEqual(
      closed.map((x: any) => [x.code, x.retryInMs !== undefined]),
      [[4003, true]],
    );
    assert.deepEqual(s.errors, []);
    await page.evaluate(() => (window as any).client.close());
    assert.deepEqual(
      errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
      [],
    );
    await page.close();
  });

  test('a bad token (4001) with no getToken: a PushFlowError TOKEN_INVALID, no retry, the loop throws it', async () => {
    const { page } = await pageWithLibrary();
    const thrown = await page.evaluate(async () => {
      const w = window as any;
      w.client = w.record(w.pushflow.connect({ url: location.origin, token: 'not-a-token' }));
      try {
        for await (const _ of w.client) return 'a notification';
        return 'ended quietly';
      } catch (err) {
        return `${(err as Error).name} ${(err as { code: string }).code}`;
      }
    });
    assert.equal(thrown, 'PushFlowError TOKEN_INVALID');
    await new Promise((r) => setTimeout(r, 700));
    const s = await seen(page);
    assert.deepEqual(s.errors, [{ code: 'TOKEN_INVALID', closeCode: 4001, fatal: true, isError: true }]);
    assert.equal(s.states.filter((x: any) => x.state === 'connecting').length, 1, 'no retry');
    assert.equal(s.states.at(-1).retryInMs, undefined);
    await page.close();
  });
});
