import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Frame } from './idle-sockets.ts';
import type { HolderMessage, HolderRequest } from './socket-holder.ts';
import { socketsPerAddress } from './source-addresses.ts';

/**
 * The connections scenario's idle sockets, held by child processes of at most
 * `perProcess` sockets each (see socket-holder.ts for why). Shares are contiguous runs of
 * the tokens; together they keep one round-robin over the delivery nodes, and each
 * process has its own 127.0.0.x source addresses. Handshakes in flight add up to
 * `concurrency` across the processes.
 */
export interface HeldSockets {
  processes: number;
  opened: number;
  failures: Record<string, number>;
  /** What stopped a process from opening its whole share (running out of descriptors). */
  stoppedBy: string[];
  handshakeMs: number[];
  perNode: number[];
  perSourceAddress: Record<string, number>;
  /** Seconds from the first handshake to the last one settled, over every process. */
  seconds: number;
  /** Indexes of the sockets open now, and the server's closes so far by close code. */
  held(): Promise<{ open: number[]; closedByServer: Record<string, number> }>;
  /** Closes every socket and ends the processes; resolves with the seconds it took. */
  close(): Promise<number>;
}

const holderEntry = new URL('./socket-holder.ts', import.meta.url);

export async function holdIdleSockets(opts: {
  deliveryUrls: string[];
  tokens: string[];
  concurrency: number;
  perProcess: number;
  onFrame: (index: number, frame: Frame, receivedAt: number) => void;
  /** Sockets opened and failed so far, over every process (for progress lines). */
  onProgress?: (opened: number, failed: number) => void;
}): Promise<HeldSockets> {
  const shares = Math.max(1, Math.ceil(opts.tokens.length / opts.perProcess));
  const children: ChildProcess[] = [];
  const progress = new Array<{ opened: number; failed: number }>(shares).fill({ opened: 0, failed: 0 });
  // One waiting reply per child at a time: the protocol is request, then answer.
  const replies = new Map<ChildProcess, (m: HolderMessage) => void>();
  const request = <T extends HolderMessage['type']>(child: ChildProcess, message: HolderRequest, answer: T) =>
    new Promise<Extract<HolderMessage, { type: T }>>((resolve, reject) => {
      const gone = () => reject(new Error(`socket holder ${child.pid} exited before answering ${message.type}`));
      child.once('exit', gone);
      replies.set(child, (m) => {
        if (m.type !== answer) return;
        child.off('exit', gone);
        replies.delete(child);
        resolve(m as Extract<HolderMessage, { type: T }>);
      });
      child.send(message);
    });

  const closeAll = async (): Promise<number> => {
    const started = performance.now();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        try {
          await request(child, { type: 'close' }, 'closed');
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }),
    );
    return (performance.now() - started) / 1000;
  };

  try {
    for (let k = 0; k < shares; k++) {
      // stdout stays ours: the bench prints its JSON there.
      const child = fork(holderEntry, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(child);
      child.on('message', (m: HolderMessage) => {
        if (m.type === 'frame') return opts.onFrame(m.index, m.frame, m.receivedAt);
        if (m.type === 'progress') {
          progress[k] = m;
          opts.onProgress?.(
            progress.reduce((a, p) => a + p.opened, 0),
            progress.reduce((a, p) => a + p.failed, 0),
          );
          return;
        }
        replies.get(child)?.(m);
      });
    }
    const addressesPerProcess = Math.ceil(opts.perProcess / socketsPerAddress);
    const started = performance.now();
    const results = await Promise.all(
      children.map((child, k) => {
        const first = k * opts.perProcess;
        return request(
          child,
          {
            type: 'open',
            deliveryUrls: opts.deliveryUrls,
            tokens: opts.tokens.slice(first, first + opts.perProcess),
            firstIndex: first,
            concurrency: Math.max(1, Math.round(opts.concurrency / shares)),
            firstHost: 1 + k * addressesPerProcess,
          },
          'opened',
        );
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const failures: Record<string, number> = {};
    const perSourceAddress: Record<string, number> = {};
    for (const r of results) {
      for (const [cause, n] of Object.entries(r.failures)) failures[cause] = (failures[cause] ?? 0) + n;
      for (const [address, n] of Object.entries(r.perSourceAddress)) perSourceAddress[address] = (perSourceAddress[address] ?? 0) + n;
    }
    return {
      processes: shares,
      opened: results.reduce((a, r) => a + r.opened, 0),
      failures,
      stoppedBy: results.flatMap((r) => r.stoppedBy ?? []),
      handshakeMs: results.flatMap((r) => r.handshakeMs),
      perNode: opts.deliveryUrls.map((_, i) => results.reduce((a, r) => a + (r.perNode[i] ?? 0), 0)),
      perSourceAddress,
      seconds,
      async held() {
        const answers = await Promise.all(children.map((child) => request(child, { type: 'held' }, 'held')));
        const closedByServer: Record<string, number> = {};
        for (const a of answers)
          for (const [code, n] of Object.entries(a.closedByServer)) closedByServer[code] = (closedByServer[code] ?? 0) + n;
        return { open: answers.flatMap((a) => a.open), closedByServer };
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
