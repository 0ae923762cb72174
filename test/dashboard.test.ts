import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import { collectPageErrors, launchBrowser, screenshot } from './harness/browser.ts';
import { apiOf } from './harness/api.ts';
import { startStack, type Stack } from '../local-stack/stack.ts';

/**
 * The gateway's dashboard (/dashboard) in headless Chromium against the real stack: it
 * asks for the API key, lists a notification sent over the API, its count changes, its
 * history opens; delivery nodes show their connections. Screenshots:
 * test-output/browser/dashboard-*.png.
 */
let stack: Stack;
let browser: Browser;

before(async () => {
  stack = await startStack();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

const api = apiOf(() => stack);

const count = async (page: Page, status: string) => Number(await page.textContent(`[data-count="${status}"]`));

async function openDashboard(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = collectPageErrors(page);
  await page.goto(`${stack.gatewayUrl}/dashboard`);
  await page.fill('#api-key', stack.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#live[data-state="live"]');
  return { page, errors };
}

describe('dashboard in Chromium', () => {
  test('lists a notification sent over the API, its count changes, its history opens', async () => {
    const { page, errors } = await openDashboard();
    const failedBefore = await count(page, 'FAILED');

    const sent = await api('POST', '/notifications', { recipientId: 'dash-nobody', title: 'Is anyone there?' });
    const row = page.locator(`#recent tr[data-notification-id="${sent.notificationId}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /dash-nobody/);
    assert.match((await row.textContent()) ?? '', /Is anyone there\?/);
    // Offline recipient: FAILED RECIPIENT_OFFLINE, in the row and in the counts.
    await page.waitForFunction(
      (id) => document.querySelector(`#recent tr[data-notification-id="${id}"] .status`)?.textContent === 'FAILED RECIPIENT_OFFLINE',
      sent.notificationId,
    );
    await page.waitForFunction(
      (before) => Number(document.querySelector('[data-count="FAILED"]')?.textContent) === before + 1,
      failedBefore,
    );
    await page.locator('#reasons li[data-reason="RECIPIENT_OFFLINE"]').waitFor();

    await row.click();
    await page.locator('#history li[data-status="FAILED"]').waitFor();
    assert.deepEqual(await page.locator('#history li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.status)), [
      'ACCEPTED',
      'FAILED',
    ]);
    assert.match((await page.textContent('#history-summary')) ?? '', /dash-nobody: FAILED \(RECIPIENT_OFFLINE\)/);
    await screenshot(page, 'dashboard-history');
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('a connected user: its node shows the connection, DELIVERED counts up, search finds it, throughput moves', async () => {
    const { page, errors } = await openDashboard();
    const { token } = await api('POST', '/connect-tokens', { recipientId: 'dash-alice', ttlSeconds: 600 });
    const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(token)}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await page.waitForFunction(
      (nodeId) => document.querySelector(`#nodes tr[data-node-id="${nodeId}"] td:nth-child(2)`)?.textContent === '1',
      stack.nodeIds[0],
    );

    const deliveredBefore = await count(page, 'DELIVERED');
    const frame = new Promise<any>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
    // The node reported the connection, so presence (recorded at open, before) routes to it.
    const sent = await api('POST', '/notifications', { recipientId: 'dash-alice', title: 'for alice' });
    assert.equal((await frame).notificationId, sent.notificationId);
    await page.waitForFunction(
      (before) => Number(document.querySelector('[data-count="DELIVERED"]')?.textContent) >= before + 1,
      deliveredBefore,
    );

    await page.fill('#search', 'dash-alice');
    await page.click('#search-form button');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#recent tr')];
      return rows.length === 1 && rows[0]!.textContent!.includes('dash-alice') && rows[0]!.textContent!.includes('DELIVERED');
    });
    assert.match((await page.textContent('#rate')) ?? '', /accepted/);
    const streams = await page.locator('#streams tr').allTextContents();
    assert.ok(
      streams.some((s) => s.startsWith('commandsdispatcher')),
      streams.join(' | '),
    );
    assert.ok(
      streams.some((s) => s.startsWith(`deliveries:${stack.nodeIds[0]}delivery`)),
      streams.join(' | '),
    );
    await screenshot(page, 'dashboard-live');
    ws.close();
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('a wrong API key is refused and shows nothing', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.gatewayUrl}/dashboard`);
    await page.fill('#api-key', 'not-the-key-not-the-key');
    await page.click('#key-form button[type="submit"]');
    await page.waitForSelector('#live[data-state="error"]');
    assert.equal(await page.textContent('#live'), 'API key refused');
    assert.equal(await page.isHidden('#main'), true);
    await page.close();
  });
});
