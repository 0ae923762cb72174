import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { makeKeys } from '@pushflow/shared';
import { collectPageErrors, launchBrowser, screenshot } from './harness/browser.ts';
import { apiOf } from './harness/api.ts';
import { startStack, type Stack } from '../local-stack/stack.ts';
import { waitFor } from './harness/wait.ts';

/**
 * The delivery node's demo page (/demo) in headless Chromium against the real stack: a
 * token minted over the API is pasted in, the page connects, a notification sent over the
 * API shows up, Ack makes it ACKNOWLEDGED; bad tokens stop it, a node restart reconnects it.
 * Screenshots: test-output/browser/demo-*.png.
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

const demoUrl = () => `${stack.deliveryUrls[0]!.replace(/^ws/, 'http')}/demo`;

const api = apiOf(() => stack);

async function token(recipientId: string): Promise<string> {
  return (await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 })).token;
}

/** Routing sees a socket once the node recorded presence; a send before that is RECIPIENT_OFFLINE. */
async function presenceOf(recipientId: string, atLeast = 1): Promise<void> {
  const key = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(
    `presence of ${recipientId}`,
    async () => (Number(await redis.hget(key, stack.nodeIds[0]!)) >= atLeast ? true : undefined),
    15_000,
  );
}

async function waitForStatus(id: string, status: string): Promise<any> {
  return waitFor(`${id} to be ${status}`, async () => {
    const s = await api('GET', `/notifications/${id}/status`);
    return s.status === status ? s : undefined;
  });
}

async function openDemo(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors = collectPageErrors(page);
  await page.goto(demoUrl());
  return { page, errors };
}

async function connectAs(page: Page, tokenText: string): Promise<void> {
  await page.fill('#token', tokenText);
  await page.click('#connect');
}

describe('demo page in Chromium', () => {
  test('paste a token, connect, a notification sent over the API shows with its latency, Ack makes it ACKNOWLEDGED', async () => {
    const { page, errors } = await openDemo();
    await connectAs(page, await token('demo-alice'));
    await page.waitForSelector('#state[data-state="open"]');
    assert.match((await page.textContent('#recipient')) ?? '', /demo-alice/);
    await presenceOf('demo-alice');

    const sent = await api('POST', '/notifications', {
      recipientId: 'demo-alice',
      title: 'Hello from the API',
      body: 'It works',
      data: { orderId: 42 },
    });
    const item = page.locator(`li[data-notification-id="${sent.notificationId}"]`);
    await item.waitFor();
    assert.equal(await item.locator('.title').textContent(), 'Hello from the API');
    assert.equal(await item.locator('.body').textContent(), 'It works');
    assert.equal(await item.locator('.data').textContent(), '{"orderId":42}');
    assert.match((await item.locator('.latency').textContent()) ?? '', /^-?\d+ ms$/);
    await waitForStatus(sent.notificationId, 'DELIVERED');

    await item.locator('button.ack').click();
    await item.locator('.acked').waitFor();
    const done = await waitForStatus(sent.notificationId, 'ACKNOWLEDGED');
    assert.deepEqual(
      done.history.map((h: any) => h.status),
      ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED'],
    );
    await screenshot(page, 'demo-received-and-acked');
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('a bad token stops with 4001 and does not retry', async () => {
    const { page, errors } = await openDemo();
    await connectAs(page, 'not-a-token');
    await page.waitForSelector('#state[data-state="stopped"]');
    assert.match((await page.textContent('#state')) ?? '', /4001/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await page.getAttribute('#state', 'data-state'), 'stopped');
    // The node upgrades a bad token too (only an open WebSocket can carry a close code).
    assert.equal(await page.textContent('#reconnects'), '0');
    const log = await page.locator('#log li').allTextContents();
    assert.equal(log.filter((l) => /closed/.test(l)).length, 1, `one close, no reconnect: ${log.join(' | ')}`);
    assert.match(log.join('\n'), /closed 4001 \(token invalid\): not reconnecting/);
    await screenshot(page, 'demo-bad-token');
    // Chromium logs a WebSocket closed by the server before it opened as an error; that is
    // the refusal itself, not a page bug.
    assert.deepEqual(
      errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
      [],
    );
    await page.close();
  });

  test('the node restarts: the page reconnects with backoff and receives again, auto-ack on', async () => {
    const { page, errors } = await openDemo();
    await page.check('#auto-ack');
    await connectAs(page, await token('demo-carol'));
    await page.waitForSelector('#state[data-state="open"]');
    await presenceOf('demo-carol');

    await stack.restart('delivery', 'SIGTERM');
    await page.waitForFunction(() => document.querySelector('#reconnects')?.textContent === '1', undefined, { timeout: 30_000 });
    await page.waitForSelector('#state[data-state="open"]');
    assert.match((await page.textContent('#log')) ?? '', /closed 1001 \(going away\): reconnecting in \d+ ms/);
    await presenceOf('demo-carol');

    const sent = await api('POST', '/notifications', { recipientId: 'demo-carol', title: 'after the restart' });
    await page.locator(`li[data-notification-id="${sent.notificationId}"] .acked`).waitFor();
    await waitForStatus(sent.notificationId, 'ACKNOWLEDGED');
    await screenshot(page, 'demo-reconnected');
    assert.deepEqual(
      errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
      [],
    );
    await page.close();
  });
});
