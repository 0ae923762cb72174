import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import { collectPageErrors, launchBrowser, screenshot, screenshotDir } from './harness/browser.ts';
import { apiOf } from './harness/api.ts';
import { devApiKey, startStack, type Stack } from '../local-stack/stack.ts';

/**
 * The gateway's dashboard (/dashboard) in headless Chromium against the real stack: before a
 * key it says which key to give and sends nothing; it lists a notification sent over the API,
 * its count changes, its history opens and a search closes it; delivery nodes show their
 * connections; the chart has a time axis and shows accepted and delivered where they
 * coincide; the header holds at 420 px. Screenshots, at 1280 and 420 px wide:
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
const DESKTOP = { width: 1280, height: 1000 };
const NARROW = { width: 420, height: 1000 };

const count = async (page: Page, status: string) => Number(await page.textContent(`[data-count="${status}"]`));

async function openPage(viewport = DESKTOP): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const errors = collectPageErrors(page);
  await page.goto(`${stack.gatewayUrl}/dashboard`);
  return { page, errors };
}

async function openDashboard(viewport = DESKTOP): Promise<{ page: Page; errors: string[] }> {
  const { page, errors } = await openPage(viewport);
  await page.fill('#api-key', stack.apiKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#live[data-state="live"]');
  assert.equal(await page.isHidden('#intro'), true, 'the note on the key goes once the key is taken');
  return { page, errors };
}

/** The header's parts as laid out: any that overlap, stick out of it, or make anything scroll sideways. */
async function assertHeaderHolds(page: Page, when: string): Promise<void> {
  const layout = await page.evaluate(() => {
    const header = document.querySelector('header')!;
    const box = header.getBoundingClientRect();
    const parts = [...header.querySelectorAll('h1, #key-form > *, #live')]
      .filter((el) => el.getClientRects().length > 0)
      .map((el) => ({ name: el.id || el.textContent!.trim() || el.tagName, r: el.getBoundingClientRect() }));
    const overlaps: string[] = [];
    for (const [i, a] of parts.entries()) {
      for (const b of parts.slice(i + 1)) {
        const apart =
          a.r.right <= b.r.left + 0.5 || b.r.right <= a.r.left + 0.5 || a.r.bottom <= b.r.top + 0.5 || b.r.bottom <= a.r.top + 0.5;
        if (!apart) overlaps.push(`${a.name} × ${b.name}`);
      }
    }
    return {
      scrollWidth: header.scrollWidth,
      clientWidth: header.clientWidth,
      pageWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      parts: parts.length,
      overlaps,
      outside: parts.filter(({ r }) => r.left < box.left - 0.5 || r.right > box.right + 0.5).map((p) => p.name),
    };
  });
  assert.ok(layout.parts >= 5, `${when}: the header's parts are laid out`);
  assert.ok(layout.scrollWidth <= layout.clientWidth, `${when}: the header overflows (${layout.scrollWidth} > ${layout.clientWidth})`);
  assert.deepEqual(layout.overlaps, [], `${when}: header parts overlap`);
  assert.deepEqual(layout.outside, [], `${when}: header parts stick out of it`);
  assert.ok(layout.pageWidth <= layout.viewport, `${when}: the page scrolls sideways (${layout.pageWidth} > ${layout.viewport})`);
}

/** What the chart drew, as the page lays it out. */
async function chartOf(page: Page) {
  return page.evaluate(() => {
    const chart = document.querySelector('#chart')!;
    const box = chart.getBoundingClientRect();
    // In the chart's own units (CSS pixels inside its 1 px border).
    const baseline = Number(chart.querySelector('.axis .baseline')!.getAttribute('y1'));
    const labels = [...chart.querySelectorAll<SVGTextElement>('.axis text')].map((text) => {
      const r = text.getBoundingClientRect();
      return { text: text.textContent!, t: Number(text.dataset.t), left: r.left - box.left - 1, right: r.right - box.left - 1 };
    });
    const series = Object.fromEntries(
      [...chart.querySelectorAll<SVGPathElement>('path.series')].map((path, order) => {
        const style = getComputedStyle(path);
        const points = [...path.getAttribute('d')!.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => ({
          x: Number(m[1]),
          y: Number(m[2]),
        }));
        // Where the line leaves the baseline: what it has to show.
        const raised = points.filter((p) => p.y < baseline - 0.5);
        return [
          path.dataset.series!,
          {
            order,
            points: points.length,
            stroke: style.stroke,
            dash: style.strokeDasharray,
            width: Number.parseFloat(style.strokeWidth),
            shown:
              style.visibility === 'visible' && style.display !== 'none' && Number(style.opacity) > 0 && Number(style.strokeOpacity) > 0,
            d: path.getAttribute('d'),
            raised: raised.length > 0 ? { from: Math.min(...raised.map((p) => p.x)), to: Math.max(...raised.map((p) => p.x)) } : undefined,
          },
        ];
      }),
    );
    return {
      width: chart.clientWidth,
      baseline,
      labels,
      series,
      smoothing: (chart as SVGSVGElement).dataset.smoothing,
      note: chart.querySelector('.note')?.textContent,
    };
  });
}

type Chart = Awaited<ReturnType<typeof chartOf>>;

/**
 * The chart once `ready` says so, with a screenshot of that same drawing: it is redrawn every
 * second, a bucket further left, so a screenshot between two different readings is retaken.
 */
async function drawnChart(page: Page, ready: (chart: Chart) => boolean): Promise<{ chart: Chart; png: Buffer }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const before = await chartOf(page);
    if (ready(before)) {
      const png = await page.locator('#chart').screenshot();
      const chart = await chartOf(page);
      if (JSON.stringify(chart.series) === JSON.stringify(before.series)) return { chart, png };
    }
    assert.ok(Date.now() < deadline, `the chart never showed it: ${JSON.stringify(before.series)}`);
    await sleep(200);
  }
}

/** Time-axis labels: HH:MM or HH:MM:SS, in order, inside the chart, apart, and within the window shown. */
function assertTimeAxis(chart: Chart, minutes: number, when: string): void {
  const { labels } = chart;
  assert.ok(labels.length >= 3, `${when}: ${labels.length} time-axis labels`);
  const now = Date.now();
  for (const [i, label] of labels.entries()) {
    assert.match(label.text, /^\d{2}:\d{2}(:\d{2})?$/, when);
    const at = new Date(label.t);
    assert.ok(
      label.text.startsWith(`${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`),
      `${when}: local time`,
    );
    assert.ok(label.t <= now && label.t >= now - minutes * 60_000 - 5_000, `${when}: ${label.text} is in the window`);
    assert.ok(label.left >= 0 && label.right <= chart.width, `${when}: ${label.text} inside the chart`);
    const next = labels[i + 1];
    if (next) {
      assert.ok(next.t > label.t, `${when}: labels in order`);
      assert.ok(next.left >= label.right + 8, `${when}: ${label.text} and ${next.text} apart`);
    }
  }
}

/**
 * How many pixels of `png` (a screenshot) are each of `colours` (CSS rgb()), within `box`.
 * Decoded by Chromium in a blank page of its own: the dashboard's CSP rightly refuses data: images.
 */
async function pixelsOf(
  png: Buffer,
  colours: string[],
  box: { left: number; right: number; top: number; bottom: number },
): Promise<number[]> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(
      async ({ src, colours, box }) => {
        const image = new Image();
        image.src = src;
        await image.decode();
        const canvas = document.createElement('canvas');
        canvas.width = image.width;
        canvas.height = image.height;
        const context = canvas.getContext('2d')!;
        context.drawImage(image, 0, 0);
        const { data } = context.getImageData(0, 0, image.width, image.height);
        const targets = colours.map((c) => c.match(/\d+/g)!.map(Number));
        const counts = targets.map(() => 0);
        for (let y = Math.max(0, Math.floor(box.top)); y < Math.min(image.height, box.bottom); y++) {
          for (let x = Math.max(0, Math.floor(box.left)); x < Math.min(image.width, box.right); x++) {
            const i = (y * image.width + x) * 4;
            targets.forEach(([r, g, b], k) => {
              if (Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) <= 60) counts[k]!++;
            });
          }
        }
        return counts;
      },
      { src: `data:image/png;base64,${png.toString('base64')}`, colours, box },
    );
  } finally {
    await page.close();
  }
}

describe('dashboard in Chromium', () => {
  test('before a key: says which key to give, asks for it, sends nothing', async () => {
    const { page, errors } = await openPage();
    const asked: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/dashboard/api/')) asked.push(request.url());
    });
    await page.locator('#intro').waitFor();
    const intro = (await page.textContent('#intro'))!.replace(/\s+/g, ' ');
    assert.match(intro, /PUSHFLOW_API_KEYS/);
    assert.match(intro, /Authorization: Bearer/);
    assert.match(intro, /Under make dev, the key is printed in its banner; by default/);
    assert.ok(intro.includes(devApiKey), intro);
    assert.equal(await page.inputValue('#api-key'), '', 'the key is not filled in for the operator');
    assert.equal(await page.isHidden('#main'), true);
    // Longer than a poll: nothing is sent without a key.
    await page.waitForTimeout(1500);
    assert.deepEqual(asked, []);
    assert.equal(await page.getAttribute('#live', 'data-state'), 'idle');
    await screenshot(page, 'dashboard-empty');

    await page.setViewportSize(NARROW);
    await assertHeaderHolds(page, '420 px, no key');
    assert.equal(await page.isVisible('#intro'), true);
    await screenshot(page, 'dashboard-empty-420');
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('lists a notification sent over the API, its count changes, its history opens, a search closes it', async () => {
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

    // Typing a search closes the history; so does submitting one.
    await page.fill('#search', 'dash-nob');
    assert.equal(await page.isHidden('#history-panel'), true, 'typing in the search box closes the history');
    await page.fill('#search', 'dash-nobody');
    await row.click();
    await page.locator('#history-panel').waitFor();
    await page.click('#search-form button');
    assert.equal(await page.isHidden('#history-panel'), true, 'submitting a search closes the history');
    // A whole id opens that one's history instead.
    await page.fill('#search', sent.notificationId);
    await page.press('#search', 'Enter');
    await page.locator('#history li[data-status="FAILED"]').waitFor();
    assert.equal(await page.textContent('#history-id'), sent.notificationId);

    await page.click('#forget-key');
    assert.equal(await page.isHidden('#main'), true);
    assert.equal(await page.isHidden('#history-panel'), true);
    assert.equal(await page.isVisible('#intro'), true, 'forgetting the key brings the note on it back');
    assert.deepEqual(errors, [], 'no script errors or CSP violations');
    await page.close();
  });

  test('a connected user: its node shows the connection, DELIVERED counts up, search finds it, the chart shows it', async (t) => {
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

    // The chart: once the second it was sent in is whole, accepted and delivered both rise, in
    // the same place (alice got it in the second it was accepted), and both can be seen there.
    // Waited for until delivered's one event spans the whole 5 s average (5 buckets, 4 px apart).
    const { chart, png } = await drawnChart(page, (c) => {
      const rise = c.series.delivered?.raised;
      return rise !== undefined && rise.to - rise.from >= 15;
    });
    assertTimeAxis(chart, 5, '1280 px');
    const { accepted, delivered } = chart.series;
    assert.ok(accepted && delivered, JSON.stringify(chart.series));
    for (const [name, s] of Object.entries({ accepted, delivered })) {
      assert.ok(s.shown && s.stroke !== 'none' && s.width > 0, `${name} is drawn: ${JSON.stringify(s)}`);
      assert.ok(s.points > 10 && s.raised, `${name} rises: ${JSON.stringify(s)}`);
    }
    assert.notEqual(accepted.stroke, delivered.stroke, 'accepted and delivered in different colours');
    assert.ok(accepted.order > delivered.order && accepted.dash !== 'none', 'accepted dashed, over delivered');
    assert.equal(chart.smoothing, 'moving-average', 'a trickle is drawn as a moving average');
    assert.match(chart.note ?? '', /^\d+ s moving average$/);
    mkdirSync(screenshotDir, { recursive: true });
    writeFileSync(join(screenshotDir, 'dashboard-chart.png'), png);
    // In pixels, where delivered rises (above the baseline's own lines): both colours show.
    // The screenshot has the chart's border, 1 px each side.
    const [amber, blue] = await pixelsOf(png, [accepted.stroke, delivered.stroke], {
      left: delivered.raised!.from + 1 - 5,
      right: delivered.raised!.to + 1 + 3,
      top: 0,
      bottom: chart.baseline + 1 - 3,
    });
    t.diagnostic(`where delivered rises: ${amber} px accepted, ${blue} px delivered`);
    // Delivered shows in the dashes' gaps (11 to 40 px, by where the dashes fall); hidden, 0 to 3.
    assert.ok(amber! >= 6 && blue! >= 6, `accepted ${amber} px and delivered ${blue} px where they coincide`);
    await screenshot(page, 'dashboard-live');

    // 420 px wide: the header holds, nothing scrolls sideways, the chart redraws to fit with its time axis.
    await page.setViewportSize(NARROW);
    await page.waitForFunction(() => {
      const chart = document.querySelector('#chart')!;
      return chart.getAttribute('viewBox')?.split(' ')[2] === String(chart.clientWidth);
    });
    await assertHeaderHolds(page, '420 px, live');
    assertTimeAxis(await chartOf(page), 5, '420 px');
    await screenshot(page, 'dashboard-live-420');
    await page.locator(`#recent tr[data-notification-id="${sent.notificationId}"]`).click();
    await page.locator('#history li[data-status="DELIVERED"]').waitFor();
    const panel = await page.locator('#history-panel').boundingBox();
    assert.ok(panel && panel.x >= 0 && panel.x + panel.width <= NARROW.width, `the history fits at 420 px: ${JSON.stringify(panel)}`);
    await screenshot(page, 'dashboard-history-420');
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
    assert.equal(await page.isVisible('#intro'), true, 'the note on which key to give stays');
    await page.close();
  });
});
