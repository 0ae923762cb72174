import { parentPort } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';
import uWS from 'uWebSockets.js';
import { now } from './clock.ts';

// The bench's webhook receiver (webhook-receiver.ts starts it): a thread of its own, so the
// work of answering the relay does not slow the load generator's event loop, as an
// application's receiver would not. It stands in for a server on another machine, so it
// should take as little of these cores as it can: uWebSockets.js's HTTP answers a POST for
// less CPU than node:http's (docs/performance.md, "Outcome webhooks").

const port = parentPort!;
let verifier: Webhook | undefined;
let messages = 0;
let badSignatures = 0;
let verifiedSignatures = 0;
/** Since the last report: [notificationId, the event's `at` in ms, when it arrived]. */
let arrivals: [string, number, number][] = [];

const app = uWS.App();
app.post('/hook', (res, req) => {
  // uWS's request object is valid only until this handler returns.
  const headers = verifier
    ? {
        'webhook-id': req.getHeader('webhook-id'),
        'webhook-timestamp': req.getHeader('webhook-timestamp'),
        'webhook-signature': req.getHeader('webhook-signature'),
      }
    : undefined;
  const chunks: Buffer[] = [];
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, last) => {
    // uWS reuses the chunk's memory once this returns.
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!last) return;
    if (!aborted) res.cork(() => res.writeStatus('204 No Content').end());
    received(Buffer.concat(chunks).toString('utf8'), headers);
  });
});

function received(body: string, headers: Record<string, string> | undefined): void {
  messages++;
  // Every 100th: standardwebhooks' HMAC is plain JavaScript, CPU the stack would not get.
  if (messages % 100 === 0 && verifier && headers) {
    try {
      verifier.verify(body, headers);
      verifiedSignatures++;
    } catch {
      badSignatures++;
    }
  }
  const { data } = JSON.parse(body) as { data: { notificationId: string; at: string } };
  arrivals.push([data.notificationId, Date.parse(data.at), now()]);
}

setInterval(() => {
  port.postMessage({ op: 'arrivals', arrivals, messages, badSignatures, verifiedSignatures });
  arrivals = [];
}, 50).unref();

let listenSocket: uWS.us_listen_socket | undefined;
port.on('message', (m: { op: 'secret'; secret: string } | { op: 'close' }) => {
  if (m.op === 'secret') verifier = new Webhook(m.secret);
  else {
    port.postMessage({ op: 'arrivals', arrivals, messages, badSignatures, verifiedSignatures });
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
    app.close();
    port.close();
  }
});

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) throw new Error('the webhook receiver could not listen on 127.0.0.1');
  listenSocket = socket;
  port.postMessage({ op: 'listening', port: uWS.us_socket_local_port(socket as unknown as uWS.us_socket) });
});
