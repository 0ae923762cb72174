import { createServer, type Server } from 'node:http';

/**
 * /healthz (the process runs) and /readyz (its dependencies answer) for orchestrators.
 * The dispatcher speaks no other HTTP.
 */
export function createHealthServer(ready: () => Promise<boolean>): Server {
  return createServer((req, res) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
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
    reply(404, { status: 'not found' });
  });
}

/** Resolves false instead of hanging when a dependency is down. */
export function within<T>(ms: number, work: Promise<T>): Promise<boolean> {
  return Promise.race([
    work.then(() => true, () => false),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
  ]);
}
