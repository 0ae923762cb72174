import { createServer, type Server } from 'node:http';
import type { Registry } from '@pushflow/shared';

export interface MetricsEndpoint {
  registry: Registry;
  /** Given the Authorization header (metricsAccess). */
  authorized: (authorization: string | undefined) => boolean;
}

/**
 * /healthz (the process runs), /readyz (its dependencies answer) for orchestrators, and
 * /metrics for Prometheus. The dispatcher speaks no other HTTP.
 */
export function createHealthServer(ready: () => Promise<boolean>, metrics?: MetricsEndpoint): Server {
  return createServer((req, res) => {
    const reply = (status: number, body: object, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return reply(405, { status: 'method not allowed' });
    if (req.url === '/healthz') return reply(200, { status: 'ok' });
    if (req.url === '/readyz') {
      ready().then(
        (ok) => reply(ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' }),
        () => reply(503, { status: 'not ready' }),
      );
      return;
    }
    if (req.url === '/metrics' && metrics) {
      if (!metrics.authorized(req.headers.authorization)) return reply(401, { status: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => reply(500, { status: 'metrics unavailable' }),
      );
      return;
    }
    reply(404, { status: 'not found' });
  });
}
