import { fileURLToPath } from 'node:url';
import type uWS from 'uWebSockets.js';
import { loadStaticAssets } from '@pushflow/shared/static-pages';

/**
 * GET /demo: the demo client page (src/public), a raw WebSocket client of this node that
 * doubles as the reference client. Served from the node itself so that its origin is the
 * node's own, which the origin check always allows (origins.ts).
 */
const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

export function addDemoPage(app: uWS.TemplatedApp): void {
  const assets = loadStaticAssets(publicDir, {
    '/demo': 'demo.html',
    '/demo/': 'demo.html',
    '/demo/client.js': 'client.ts',
    // The same client as its commented source: the reference for writing one.
    '/demo/client.ts': 'client.ts',
    '/demo/demo.css': 'demo.css',
    '/demo/favicon.svg': 'favicon.svg',
  });
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
