import type uWS from 'uWebSockets.js';
import type { Registry } from '@pushflow/shared';
import { addDemoPage } from './demo-page.ts';

/**
 * The node's plain HTTP routes: `/healthz` and `/readyz` for orchestrators, `/metrics` for
 * Prometheus, `/demo` for people (`/` redirects there), and a JSON 404 for anything else.
 * Kept apart from the WebSocket handlers (socket-handlers.ts): they read no socket state,
 * only what is passed in.
 */
export interface HttpRouteOptions {
  isReady: () => Promise<boolean>;
  metrics?: {
    registry: Registry;
    /** Given the Authorization header (metricsAccess). */
    authorized: (authorization: string | undefined) => boolean;
  };
}

export function addHttpRoutes(app: uWS.TemplatedApp, opts: HttpRouteOptions): void {
  app.get('/healthz', (res) => {
    json(res, '200 OK', { status: 'ok' });
  });

  app.get('/readyz', async (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const ready = await opts.isReady().catch(() => false);
    if (aborted) return;
    res.cork(() => json(res, ready ? '200 OK' : '503 Service Unavailable', { status: ready ? 'ready' : 'not ready' }));
  });

  const { metrics } = opts;
  if (metrics) {
    app.get('/metrics', async (res, req) => {
      // uWS frees req at the first await: read it before.
      if (!metrics.authorized(req.getHeader('authorization'))) {
        res
          .writeStatus('401 Unauthorized')
          .writeHeader('www-authenticate', 'Bearer')
          .writeHeader('content-type', 'application/json')
          .end('{"status":"unauthorized"}');
        return;
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const body = await metrics.registry.metrics().catch(() => undefined);
      if (aborted) return;
      res.cork(() => {
        if (body === undefined) json(res, '500 Internal Server Error', { status: 'metrics unavailable' });
        else res.writeStatus('200 OK').writeHeader('content-type', metrics.registry.contentType).end(body);
      });
    });
  }

  addDemoPage(app);
  // Someone who opens the node's address in a browser lands on the demo client, not a 404.
  app.get('/', (res) => {
    res.writeStatus('302 Found').writeHeader('location', '/demo').end();
  });

  app.any('/*', (res) => {
    json(res, '404 Not Found', { status: 'not found' });
  });
}

function json(res: uWS.HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
}
