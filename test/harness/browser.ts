import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { root } from '../../local-stack/stack.ts';

/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by
 * playwright-core, which downloads no browser of its own. A missing binary fails the test
 * and says how to install one; the browser tests are never skipped.
 */
export class ChromiumMissingError extends Error {
  constructor(looked: string[]) {
    super(
      `no Chromium for the browser tests (looked at ${looked.join(', ')}): ` +
        'install it (`apt-get install chromium`; .ci/run does) or set PUSHFLOW_CHROMIUM_BIN to a Chromium or Chrome binary',
    );
    this.name = 'ChromiumMissingError';
  }
}

/** PUSHFLOW_CHROMIUM_BIN, else `chromium` or `chromium-browser` on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const looked: string[] = [];
  const fromEnv = env.PUSHFLOW_CHROMIUM_BIN;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    // Named explicitly but wrong: say so rather than quietly use another browser.
    throw new ChromiumMissingError([`PUSHFLOW_CHROMIUM_BIN=${fromEnv} (not an executable file)`]);
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
    looked.push(`${name} on PATH`);
  }
  throw new ChromiumMissingError(['PUSHFLOW_CHROMIUM_BIN (unset)', ...looked]);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    // Containers and CI machines often run as root without user namespaces, where
    // Chromium's sandbox cannot start; the pages under test are our own.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** Where a test's screenshots go: test-output/browser/<test>.png, for a reviewer to look at. */
export const screenshotDir = join(root, 'test-output', 'browser');

export async function screenshot(page: Page, testName: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = join(screenshotDir, `${testName.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Console errors and uncaught exceptions of a page: a CSP violation or a script error
 * shows up here, and a test asserts the list stays empty.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}
