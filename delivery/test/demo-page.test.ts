import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withTestNode, type TestNode } from './helpers.ts';

/** The demo page's files over plain HTTP; test/demo.test.ts drives it in Chromium. */
describe('delivery: GET /demo', () => {
  let t: TestNode;
  withTestNode({}, (node) => (t = node));
  const get = (path: string) => fetch(`http://127.0.0.1:${t.node.port}${path}`);

  for (const [path, type, marker] of [
    ['/demo', 'text/html; charset=utf-8', '<script type="module" src="/demo/client.js">'],
    ['/demo/', 'text/html; charset=utf-8', '<title>PushFlow demo client</title>'],
    ['/demo/client.js', 'text/javascript; charset=utf-8', 'export function connectClient'],
    // The commented source, types and all, for people to read.
    ['/demo/client.ts', 'text/plain; charset=utf-8', 'export function connectClient(token: string'],
    ['/demo/demo.css', 'text/css; charset=utf-8', '.notification'],
  ] as const) {
    it(`${path}: ${type}, a CSP allowing only its own origin, nosniff`, async () => {
      const res = await get(path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), type);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      for (const directive of ['script-src', 'style-src', 'connect-src']) assert.match(csp, new RegExp(`${directive} 'self'(;|$)`));
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await res.text()).includes(marker), `${path} holds ${marker}`);
    });
  }

  it('/ redirects to /demo', async () => {
    const res = await fetch(`http://127.0.0.1:${t.node.port}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/demo');
    // The redirect holds for the root only: anything else unknown is still a 404.
    assert.equal((await get('/nope')).status, 404);
  });

  it('other paths under /demo are 404', async () => {
    assert.equal((await get('/demo/nope.js')).status, 404);
    assert.equal((await get('/demo/../package.json')).status, 404);
  });
});
