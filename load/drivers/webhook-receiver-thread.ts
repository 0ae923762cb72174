import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';
import { now } from './clock.ts';

// The bench's webhook receiver (webhook-receiver.ts starts it): a thread of its own, so the
// work of answering the relay does not slow the load generator's event loop, as an
// application's receiver would not.

const port = parentPort!;
let verifier: Webhook | undefined;
let messages = 0;
let badSignatures = 0;
/** Since the last report: [notificationId, the event's `at` in ms, when it arrived]. */
let arrivals: [string, number, number][] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(204).end();
    const body = Buffer.concat(chunks).toString('utf8');
    messages++;
    // Every 100th: standardwebhooks' HMAC is plain JavaScript, CPU the stack would not get.
    if (messages % 100 === 0 && verifier) {
      try {
        verifier.verify(body, req.headers as Record<string, string>);
      } catch {
        badSignatures++;
      }
    }
    const { data } = JSON.parse(body) as { data: { notificationId: string; at: string } };
    arrivals.push([data.notificationId, Date.parse(data.at), now()]);
  });
});

setInterval(() => {
  port.postMessage({ op: 'arrivals', arrivals, messages, badSignatures });
  arrivals = [];
}, 50).unref();

port.on('message', (m: { op: 'secret'; secret: string } | { op: 'close' }) => {
  if (m.op === 'secret') verifier = new Webhook(m.secret);
  else {
    port.postMessage({ op: 'arrivals', arrivals, messages, badSignatures });
    server.closeAllConnections();
    server.close(() => port.close());
  }
});

server.listen(0, '127.0.0.1', () => port.postMessage({ op: 'listening', port: (server.address() as AddressInfo).port }));
