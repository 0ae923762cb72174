import WebSocket from 'ws';
import { now } from '../drivers/clock.ts';
import type { SourceAddresses } from './source-addresses.ts';

/**
 * Many idle WebSocket clients, one per recipient, opened `concurrency` handshakes at a
 * time, round-robin over the delivery nodes. Connection failures are counted by cause,
 * not thrown: the point is to find where opening more stops working. Running out of file
 * descriptors (EMFILE/ENFILE) in this process stops the opening and is reported as such.
 */
export interface IdleSockets {
  /** By recipient index; undefined where the connection failed or was never tried. */
  sockets: (WebSocket | undefined)[];
  opened: number;
  /** Failures to open, by error code or HTTP answer. */
  failures: Record<string, number>;
  /** Sockets the server closed while we held them, by close code. */
  closedByServer: Record<string, number>;
  /** Set when this process could not open more (file descriptors). */
  stoppedBy?: string;
  handshakeMs: number[];
  /** Sockets opened per delivery node (index of deliveryUrls). */
  perNode: number[];
  /** Sockets opened per source address ('any' when the kernel chose: not on loopback). */
  perSourceAddress: Record<string, number>;
  /** Seconds from the first handshake to the last one settled. */
  seconds: number;
  /** Closes every socket; resolves with the seconds it took. */
  close(): Promise<number>;
}

export interface Frame {
  type: string;
  notificationId: string;
  data?: { sentAt?: number; to?: string; warmup?: boolean };
}

export async function openIdleSockets(opts: {
  deliveryUrls: string[];
  tokens: string[];
  /**
   * Where these tokens start in the whole run: socket `i` goes to node
   * `(firstIndex + i) % deliveryUrls.length`, so shares opened by several processes keep
   * one round-robin (default 0).
   */
  firstIndex?: number;
  concurrency: number;
  addresses: SourceAddresses;
  onFrame: (index: number, frame: Frame, receivedAt: number) => void;
  /** Called once with the live tally, before the first handshake (for progress lines). */
  onStart?: (sockets: IdleSockets) => void;
  handshakeTimeoutMs?: number;
}): Promise<IdleSockets> {
  const { deliveryUrls, tokens, addresses } = opts;
  const sockets: (WebSocket | undefined)[] = new Array(tokens.length);
  const firstIndex = opts.firstIndex ?? 0;
  let closing = false;
  const r: IdleSockets = {
    sockets,
    opened: 0,
    failures: {},
    closedByServer: {},
    handshakeMs: [],
    perNode: deliveryUrls.map(() => 0),
    perSourceAddress: {},
    seconds: 0,
    async close() {
      closing = true;
      const started = now();
      await Promise.all(
        sockets.map(
          (ws) =>
            ws &&
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              const t = setTimeout(() => {
                ws.terminate();
                resolve();
              }, 5000);
              ws.once('close', () => {
                clearTimeout(t);
                resolve();
              });
              ws.close();
            }),
        ),
      );
      return (now() - started) / 1000;
    },
  };
  const fail = (cause: string) => {
    r.failures[cause] = (r.failures[cause] ?? 0) + 1;
  };

  const attempt = (index: number, localAddress: string | undefined) =>
    new Promise<'open' | 'retry' | 'failed'>((resolve) => {
      const node = (firstIndex + index) % deliveryUrls.length;
      const url = `${deliveryUrls[node]}/ws?token=${encodeURIComponent(tokens[index]!)}`;
      const started = now();
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, {
          perMessageDeflate: false,
          handshakeTimeout: opts.handshakeTimeoutMs ?? 15_000,
          ...(localAddress && { localAddress }),
        });
      } catch (err) {
        if (isOutOfFiles(err)) r.stoppedBy ??= outOfFiles(err, r.opened);
        fail(codeOf(err));
        return resolve('failed');
      }
      ws.once('open', () => {
        r.handshakeMs.push(now() - started);
        r.opened++;
        r.perNode[node]!++;
        const from = localAddress ?? 'any';
        r.perSourceAddress[from] = (r.perSourceAddress[from] ?? 0) + 1;
        sockets[index] = ws;
        ws.on('message', (raw) => opts.onFrame(index, JSON.parse(String(raw)) as Frame, now()));
        ws.once('close', (code) => {
          if (!closing) r.closedByServer[code] = (r.closedByServer[code] ?? 0) + 1;
        });
        resolve('open');
      });
      ws.once('error', (err) => {
        if (ws.readyState === WebSocket.OPEN) return; // after open: the close handler counts it
        ws.terminate();
        // Out of ephemeral ports on this address: EADDRNOTAVAIL from connect, EADDRINUSE
        // from the bind to port 0 that a local address implies.
        if (localAddress && (codeOf(err) === 'EADDRNOTAVAIL' || codeOf(err) === 'EADDRINUSE')) {
          addresses.exhausted(localAddress);
          return resolve('retry');
        }
        if (isOutOfFiles(err)) r.stoppedBy ??= outOfFiles(err, r.opened);
        fail(codeOf(err));
        resolve('failed');
      });
    });

  opts.onStart?.(r);
  const started = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, tokens.length) }, async () => {
      while (next < tokens.length && r.stoppedBy === undefined) {
        const index = next++;
        for (let tries = 0; tries < 5; tries++) {
          let address: string | undefined;
          try {
            address = addresses.take();
          } catch (err) {
            r.stoppedBy ??= (err as Error).message;
            return;
          }
          if ((await attempt(index, address)) !== 'retry') break;
        }
      }
    }),
  );
  r.seconds = (now() - started) / 1000;
  return r;
}

function codeOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code) return e.code;
  // ws reports a refused upgrade as "Unexpected server response: 503".
  const status = /Unexpected server response: (\d+)/.exec(e.message ?? '')?.[1];
  if (status) return `HTTP ${status}`;
  return e.message ?? String(err);
}

function outOfFiles(err: unknown, opened: number): string {
  return `${codeOf(err)}: this load generator ran out of file descriptors after ${opened} sockets (raise ulimit -n)`;
}

function isOutOfFiles(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'EMFILE' || code === 'ENFILE';
}
