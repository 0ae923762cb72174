import WebSocket from 'ws';
import { sleep } from './clock.ts';
import type { System } from './system.ts';

/**
 * The receiving side: one client per recipient, opened by the system under test (see
 * system.ts), counting every publication and its accept-to-receive latency. Publications
 * whose data has `warmup` are probes (see awaitRoutable) and are not counted.
 */
export interface Receivers {
  recipients: string[];
  /** Publications per id; more than one is a duplicate. */
  counts: Map<string, number>;
  /** Receive time minus data.sentAt, first receipt of each publication. */
  latencyMs: number[];
  frames: number;
  /** Publications that reached a recipient other than the one they were sent to. */
  misrouted: number;
  /** Recipients whose socket closed before we closed it. */
  dropped: number;
  close(): Promise<void>;
}

export interface ReceiverTarget {
  gatewayUrl: string;
  deliveryUrls: string[];
  apiKey: string;
}

export async function connectReceivers(system: System, recipients: string[], onProbe: (recipientId: string) => void): Promise<Receivers> {
  const sockets: WebSocket[] = [];
  let closing = false;
  const r: Receivers = {
    recipients,
    counts: new Map(),
    latencyMs: [],
    frames: 0,
    misrouted: 0,
    dropped: 0,
    async close() {
      closing = true;
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              const t = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 2000);
              ws.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              ws.close();
            }),
        ),
      );
    },
  };
  const open = async (recipientId: string, index: number) => {
    const ws = await system.openSocket(recipientId, index, (p, receivedAt) => {
      if (p.warmup) return onProbe(recipientId);
      r.frames++;
      if (p.to !== recipientId) r.misrouted++;
      const id = p.id ?? '(no id)';
      const seen = r.counts.get(id) ?? 0;
      r.counts.set(id, seen + 1);
      if (seen === 0 && typeof p.sentAt === 'number') r.latencyMs.push(receivedAt - p.sentAt);
    });
    sockets.push(ws);
    ws.once('close', () => {
      if (!closing) r.dropped++;
    });
  };
  // A few at a time: thousands of simultaneous handshakes measure nothing useful.
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(16, recipients.length) }, async () => {
        while (next < recipients.length) {
          const i = next++;
          await open(recipients[i]!, i);
        }
      }),
    );
  } catch (err) {
    await r.close();
    throw err;
  }
  return r;
}

/** A WebSocket once open; an error before that rejects (and closes it). */
export function openWebSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    // Kept after the open: an error event without a listener would throw.
    ws.on('error', (err) => {
      ws.terminate();
      reject(err);
    });
  });
}

export async function connectToken(target: ReceiverTarget, recipientId: string): Promise<string> {
  const res = await fetch(`${target.gatewayUrl}/connect-tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ recipientId, ttlSeconds: 3600 }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) throw new Error(`POST /connect-tokens answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { token: string }).token;
}

/**
 * A socket is routable only once its node has recorded presence, a moment after it
 * opened; sending earlier would rightly fail RECIPIENT_OFFLINE. Probing every recipient
 * until a probe arrives works against any stack, without reading its Redis.
 */
export async function awaitRoutable(
  recipients: string[],
  probe: (recipientId: string) => Promise<void>,
  arrived: Set<string>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = recipients.filter((id) => !arrived.has(id));
    if (waiting.length === 0) return;
    if (Date.now() > deadline) throw new Error(`${waiting.length} recipients still not routable after ${timeoutMs} ms`);
    await Promise.all(waiting.map(probe));
    const until = Date.now() + 1000;
    while (Date.now() < until && recipients.some((id) => !arrived.has(id))) await sleep(20);
  }
}
