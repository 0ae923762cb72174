/**
 * A child process of the connections scenario that opens and holds one share of its idle
 * sockets. One process can hold no more sockets than its open-file limit (ulimit -n, about
 * 20,000 on the machines this was built on), so 100,000 connections need several. It
 * speaks to socket-holders.ts over the IPC channel fork() gives it:
 *
 *   in:  open (once), then held, then close
 *   out: progress (while opening), opened, frame (each notification frame), held, closed
 *
 * It exits by itself when the channel closes, so a parent that dies leaves nothing behind.
 */
import WebSocket from 'ws';
import { openIdleSockets, type Frame, type IdleSockets } from './idle-sockets.ts';
import { sourceAddresses } from './source-addresses.ts';

export interface OpenRequest {
  type: 'open';
  deliveryUrls: string[];
  tokens: string[];
  /** Index of this share's first token in the whole run. */
  firstIndex: number;
  concurrency: number;
  /** x of the first source address 127.0.0.x this process binds to on loopback. */
  firstHost: number;
}

export type HolderRequest = OpenRequest | { type: 'held' } | { type: 'close' };

export type HolderMessage =
  | { type: 'progress'; opened: number; failed: number }
  | ({ type: 'opened' } & Pick<
      IdleSockets,
      'opened' | 'failures' | 'stoppedBy' | 'handshakeMs' | 'perNode' | 'perSourceAddress' | 'seconds'
    >)
  /** `index`: of the socket in the whole run. */
  | { type: 'frame'; index: number; frame: Frame; receivedAt: number }
  /** Indexes in the whole run of the sockets still open, and what the server closed so far. */
  | { type: 'held'; open: number[]; closedByServer: Record<string, number> }
  | { type: 'closed'; seconds: number };

function send(message: HolderMessage): void {
  process.send?.(message);
}

let sockets: IdleSockets | undefined;
let firstIndex = 0;

process.on('message', (message: HolderRequest) => {
  if (message.type === 'open') void open(message);
  else if (message.type === 'held') {
    const open: number[] = [];
    sockets?.sockets.forEach((ws, i) => {
      if (ws?.readyState === WebSocket.OPEN) open.push(firstIndex + i);
    });
    send({ type: 'held', open, closedByServer: { ...sockets?.closedByServer } });
  } else if (message.type === 'close') {
    void (async () => {
      const seconds = (await sockets?.close()) ?? 0;
      send({ type: 'closed', seconds });
      process.disconnect();
    })();
  }
});

// The parent is gone: nothing would ever close these sockets otherwise.
process.on('disconnect', () => {
  for (const ws of sockets?.sockets ?? []) ws?.terminate();
  process.exit(0);
});

async function open(request: OpenRequest): Promise<void> {
  firstIndex = request.firstIndex;
  let ticker: NodeJS.Timeout | undefined;
  const opened = await openIdleSockets({
    deliveryUrls: request.deliveryUrls,
    tokens: request.tokens,
    firstIndex: request.firstIndex,
    concurrency: request.concurrency,
    addresses: sourceAddresses(request.deliveryUrls, undefined, request.firstHost),
    onStart(live) {
      ticker = setInterval(() => send({ type: 'progress', opened: live.opened, failed: sum(live.failures) }), 250);
    },
    onFrame(index, frame, receivedAt) {
      if (frame.type === 'notification') send({ type: 'frame', index: request.firstIndex + index, frame, receivedAt });
    },
  });
  clearInterval(ticker);
  sockets = opened;
  send({
    type: 'opened',
    opened: opened.opened,
    failures: opened.failures,
    ...(opened.stoppedBy && { stoppedBy: opened.stoppedBy }),
    handshakeMs: opened.handshakeMs,
    perNode: opened.perNode,
    perSourceAddress: opened.perSourceAddress,
    seconds: opened.seconds,
  });
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
