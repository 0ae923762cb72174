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

  it('keeps the imports of a module as they are: a page resolves them itself, nothing is bundled', () => {
    // The demo page's script imports @pushflow/client this way; delivery points it at the
    // library's build (delivery/src/demo-page.ts, checked in delivery/test/demo-page.test.ts).
    writeFileSync(
      join(dir, 'uses.ts'),
      "import { add } from './page.js';\nexport const twice = (n: number): number => add({ x: n, y: n });\n",
    );
    const [asset] = loadStaticAssets(dir, { '/uses.js': 'uses.ts' });
    const code = asset!.body.toString('utf8');
    assert.match(code, /import \{ add \} from "\.\/page\.js"|import \{ add \} from '\.\/page\.js'/);
    assert.ok(!/: number/.test(code), 'types stripped');
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
