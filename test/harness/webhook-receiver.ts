import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A webhook endpoint for tests: a real HTTP server on loopback that records every POST it
 * gets (headers, body, when) and answers as the test says: at once, late, with an error
 * status, or not at all (stopped, so connections are refused).
 */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** How the next requests are answered; 204 at once by default. Each waits delayMs plus up to jitterMs. */
  behave(b: { status?: number; delayMs?: number; jitterMs?: number }): void;
  /** Stops listening and drops open connections: the endpoint is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0, path = '/hook'): Promise<Receiver> {
  const received: Received[] = [];
  let status = 204;
  let delayMs = 0;
  let jitterMs = 0;
  const sockets = new Set<Socket>();
  const pendingReplies = new Set<ServerResponse>();
  const make = () => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          id: String(req.headers['webhook-id']),
          timestamp: String(req.headers['webhook-timestamp']),
          signature: String(req.headers['webhook-signature']),
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        });
        const answer = () => {
          pendingReplies.delete(res);
          if (!res.destroyed) res.writeHead(status).end();
        };
        if (delayMs > 0 || jitterMs > 0) {
          pendingReplies.add(res);
          setTimeout(answer, delayMs + Math.random() * jitterMs).unref();
        } else answer();
      });
    });
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return server;
  };
  let server: Server = make();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  const stop = async () => {
    for (const s of sockets) s.destroy();
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    url: `http://127.0.0.1:${bound}${path}`,
    port: bound,
    received,
    behave(b) {
      status = b.status ?? 204;
      delayMs = b.delayMs ?? 0;
      jitterMs = b.jitterMs ?? 0;
    },
    down: stop,
    async up() {
      server = make();
      server.listen(bound, '127.0.0.1');
      await once(server, 'listening');
    },
    close: stop,
  };
}

/** Every message verified with the standardwebhooks package against the secret; the parsed bodies. */
export function verifyAll(messages: readonly Received[], secret: string): unknown[] {
  const wh = new Webhook(secret);
  return messages.map((m) => wh.verify(m.body, { 'webhook-id': m.id, 'webhook-timestamp': m.timestamp, 'webhook-signature': m.signature }));
}
