import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bundleClient } from '../../client/scripts/bundle.ts';
import { withTestNode, type TestNode } from './helpers.ts';

/** The demo page's files over plain HTTP; test/demo.test.ts drives it in Chromium. */
describe('delivery: GET /demo', () => {
  let t: TestNode;
  withTestNode({}, (node) => (t = node));
  const get = (path: string) => fetch(`http://127.0.0.1:${t.node.port}${path}`);

  for (const [path, type, marker] of [
    ['/demo', 'text/html; charset=utf-8', '<script type="module" src="/demo/client.js">'],
    ['/demo/', 'text/html; charset=utf-8', '<title>PushFlow demo client</title>'],
    // The page's script, its import of the library pointed at the library's module next to it.
    ['/demo/client.js', 'text/javascript; charset=utf-8', 'from "./pushflow-client.js"'],
    // The library itself, built from client/src when the node started.
    ['/demo/pushflow-client.js', 'text/javascript; charset=utf-8', 'function connect('],
    // The page's commented source, types and all, for people to read.
    ['/demo/client.ts', 'text/plain; charset=utf-8', 'import { connect, type PushFlowClient'],
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

  it('/demo/pushflow-client.js is the library as its build makes it (client/dist/index.js)', async () => {
    assert.equal(await (await get('/demo/pushflow-client.js')).text(), bundleClient());
  });

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
