import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Script } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { loadStaticAssets } from '../src/static-pages.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Loads a module from its text, as a browser would load the served file. */
const importText = (code: string) => import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);

describe('static pages: a .ts file is served as JavaScript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-pages-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('strips the types, keeps the code and its exports, and says text/javascript', async () => {
    writeFileSync(
      join(dir, 'page.ts'),
      [
        'interface Point { x: number; y: number }',
        'type Pair = [number, number];',
        '/** Adds. */',
        'export function add({ x, y }: Point): number { return x + y; }',
        'export const pair = (p: Point): Pair => [p.x, p.y] as Pair;',
        'const counts = new Map<string, number>();',
        'export function count(key: string): number { counts.set(key, (counts.get(key) ?? 0) + 1); return counts.get(key)!; }',
      ].join('\n'),
    );
    const [asset] = loadStaticAssets(dir, { '/page.js': 'page.ts' });
    assert.ok(asset);
    assert.equal(asset.path, '/page.js');
    assert.equal(asset.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(asset.headers['x-content-type-options'], 'nosniff');
    const code = asset.body.toString('utf8');
    for (const typeOnly of ['interface', 'type Pair', ': number', ': Point', 'as Pair', '<string, number>', '!;']) {
      assert.ok(!code.includes(typeOnly), `"${typeOnly}" is left in:\n${code}`);
    }
    // Exports stay where they were written (the demo page's test looks for `export function`).
    assert.match(code, /export function add\(/);
    const mod = await importText(code);
    assert.equal(mod.add({ x: 2, y: 3 }), 5);
    assert.deepEqual(mod.pair({ x: 1, y: 2 }), [1, 2]);
    assert.equal(mod.count('a'), 1);
    assert.equal(mod.count('a'), 2);
  });

  it('serves other files as they are', () => {
    writeFileSync(join(dir, 'plain.js'), 'export const a = 1; // as written\n');
    const [asset] = loadStaticAssets(dir, { '/plain.js': 'plain.js' });
    assert.equal(asset?.body.toString('utf8'), 'export const a = 1; // as written\n');
    assert.equal(asset?.headers['content-type'], 'text/javascript; charset=utf-8');
  });

  it('a syntax error stops the service at start, naming the file', () => {
    writeFileSync(join(dir, 'broken.ts'), 'export function (: {\n');
    assert.throws(() => loadStaticAssets(dir, { '/broken.js': 'broken.ts' }), /broken\.ts/);
  });

  it('the demo client comes out as a module that runs: its backoff and token helpers work', async () => {
    const [asset] = loadStaticAssets(join(root, 'delivery/src/public'), { '/demo/client.js': 'client.ts' });
    const client = await importText(asset!.body.toString('utf8'));
    // Full jitter: 0 to 500 ms × 2^attempt, capped at 30 s.
    assert.equal(
      client.backoffDelay(0, () => 1),
      500,
    );
    assert.equal(
      client.backoffDelay(3, () => 0.5),
      2000,
    );
    assert.equal(
      client.backoffDelay(20, () => 1),
      30_000,
    );
    const payload = Buffer.from(JSON.stringify({ sub: 'user-1' })).toString('base64url');
    assert.equal(client.tokenSubject(`e30.${payload}.sig`), 'user-1');
    assert.equal(client.tokenSubject('not-a-token'), undefined);
    assert.equal(client.socketUrl('t', { href: 'https://example.test/demo', protocol: 'https:' }), 'wss://example.test/ws?token=t');
  });

  it('the dashboard script comes out as JavaScript a browser can parse', () => {
    const source = readFileSync(join(root, 'gateway/src/public/dashboard.ts'), 'utf8');
    assert.match(source, /interface Activity/);
    const [asset] = loadStaticAssets(join(root, 'gateway/src/public'), { '/dashboard/app.js': 'dashboard.ts' });
    const code = asset!.body.toString('utf8');
    assert.ok(!/\binterface\b/.test(code), 'no interfaces left');
    // It has no imports or exports: compiling it as a script checks the syntax without running it.
    assert.doesNotThrow(() => new Script(code, { filename: 'app.js' }));
  });
});

describe('static pages: only the services that serve pages load the page code', () => {
  it("no module of the dispatcher, the CLI or shared's index imports it or esbuild", () => {
    const importsPages = /from\s+'(esbuild|@pushflow\/shared\/static-pages|[^']*static-pages\.ts)'/;
    const offenders = ['dispatcher/src', 'cli/src', 'shared/src']
      .flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((file) => join(dir, file)))
      .filter((file) => file.endsWith('.ts') && file !== join('shared/src', 'static-pages.ts'))
      .filter((file) => importsPages.test(readFileSync(join(root, file), 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
