import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

/** What the webhooks scenario reads of its receiver. */
export interface WebhookReceiver {
  url: string;
  /** When each notification's first message arrived (now()). */
  received: Map<string, number>;
  /** From each first message's event (`data.at`) to its arrival, ms. */
  lateness: number[];
  messages(): number;
  badSignatures(): number;
  /** Signatures checked with standardwebhooks and found good. */
  verifiedSignatures(): number;
  /** Verifies every 100th message with this secret from now on. */
  verifyWith(secret: string): void;
  close(): Promise<void>;
}

/** A local webhook receiver on loopback, on a thread of its own (webhook-receiver-thread.ts). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const worker = new Worker(new URL('./webhook-receiver-thread.ts', import.meta.url));
  const received = new Map<string, number>();
  const lateness: number[] = [];
  let messages = 0;
  let badSignatures = 0;
  let verifiedSignatures = 0;
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  type FromReceiver =
    | { op: 'listening'; port: number }
    | { op: 'arrivals'; arrivals: [string, number, number][]; messages: number; badSignatures: number; verifiedSignatures: number };
  worker.on('message', (m: FromReceiver) => {
    if (m.op === 'listening') return listening(m.port);
    messages = m.messages;
    badSignatures = m.badSignatures;
    verifiedSignatures = m.verifiedSignatures;
    for (const [id, at, arrived] of m.arrivals) {
      if (received.has(id)) continue;
      received.set(id, arrived);
      lateness.push(Math.round(arrived - at));
    }
  });
  return {
    url: `http://127.0.0.1:${await port}/hook`,
    received,
    lateness,
    messages: () => messages,
    badSignatures: () => badSignatures,
    verifiedSignatures: () => verifiedSignatures,
    verifyWith: (secret) => worker.postMessage({ op: 'secret', secret }),
    async close() {
      const exited = once(worker, 'exit');
      worker.postMessage({ op: 'close' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}
