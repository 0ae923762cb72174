import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import type uWS from 'uWebSockets.js';
import { loadStaticAssets, pageHeaders, type StaticAsset } from '@pushflow/shared/static-pages';
import { bundleClient } from '../../client/scripts/bundle.ts';

/**
 * GET /demo: the demo client page (src/public), which uses the client library
 * (@pushflow/client, client/) as an application's page would. Served from the node itself so
 * that its origin is the node's own, which the origin check always allows (origins.ts).
 */
const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

/** Where the page's script finds the library: a URL next to it, as a browser resolves imports. */
const LIBRARY_URL = './pushflow-client.js';

export function addDemoPage(app: uWS.TemplatedApp): void {
  const assets: StaticAsset[] = [
    ...loadStaticAssets(publicDir, {
      '/demo': 'demo.html',
      '/demo/': 'demo.html',
      // The page's script as its commented source, for people to read.
      '/demo/client.ts': 'client.ts',
      '/demo/demo.css': 'demo.css',
      '/demo/favicon.svg': 'favicon.svg',
    }),
    // Built when the node starts, from source, so a fresh clone needs no build step: the
    // library as dist/index.js holds it, and the page's script importing it from there.
    { path: '/demo/pushflow-client.js', body: Buffer.from(bundleClient()), headers: pageHeaders('pushflow-client.js') },
    { path: '/demo/client.js', body: Buffer.from(pageScript()), headers: pageHeaders('client.js') },
  ];
  for (const asset of assets) {
    app.get(asset.path, (res) => {
      res.cork(() => {
        res.writeStatus('200 OK');
        for (const [name, value] of Object.entries(asset.headers)) res.writeHeader(name, value);
        res.end(asset.body);
      });
    });
  }
}

/**
 * public/client.ts as the module a browser runs: types stripped, and its import of
 * '@pushflow/client' (a bare name, which a browser cannot resolve without an import map, and
 * an import map is an inline script the page's CSP forbids) pointed at LIBRARY_URL.
 */
function pageScript(): string {
  const result = buildSync({
    entryPoints: [`${publicDir}client.ts`],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    alias: { '@pushflow/client': LIBRARY_URL },
    external: [LIBRARY_URL],
    write: false,
  });
  const [out] = result.outputFiles;
  if (!out) throw new Error('esbuild wrote no output for the demo page');
  return out.text;
}
