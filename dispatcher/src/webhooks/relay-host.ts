import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { within, type Logger } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import type { AttemptOutcome } from './relay.ts';
import type { FromRelay, ToRelay } from './relay-messages.ts';

/**
 * The dispatcher's side of the webhook relay, which runs on a thread of its own
 * (relay-thread.ts) at a lower CPU priority (PUSHFLOW_WEBHOOK_NICE): its POSTs, signatures
 * and retry-store writes never take the event loop that sends, and under a saturated CPU
 * the kernel serves sends first while the relay's backlog waits in the ledger. The main
 * thread's leases tell it which partitions to consume; it reports attempts, backlogs and
 * log lines back, so metrics and logs stay the dispatcher's.
 */
export interface RelayThread {
  /** Consumes the partition's events for the relay until the returned stop. */
  consume(partition: number, reclaim: boolean): { stop(): Promise<void> };
  /** Stores a `webhook.test` message for the endpoint and sends it now; its webhook-id. */
  sendTest(endpointId: string): Promise<string>;
  /** Messages the relay holds in memory for an endpoint, as last reported (4 times a second). */
  inMemory(endpointId: string): number;
  /** Once the thread is connected: its nice value, or why the priority stayed as it was. */
  ready: Promise<{ nice?: number; priorityError?: string }>;
  /** Takes no more batches; the first step of a stop. */
  halt(): void;
  stop(): Promise<void>;
}

export interface RelayThreadDeps {
  config: DispatcherConfig;
  log: Logger;
  onAttempt(endpointId: string, outcome: AttemptOutcome, latencyMs: number): void;
  onBatch(stream: string, size: number): void;
  /** The thread died: nothing sends webhooks until the dispatcher is restarted. */
  onCrash(err: Error): void;
}

/** How long the thread gets to hand off what it holds (relay.ts's stop is bounded by 9 s). */
const STOP_MS = 9500;

export function startRelayThread(deps: RelayThreadDeps): RelayThread {
  const { log } = deps;
  const worker = new Worker(new URL('./relay-thread.ts', import.meta.url), {
    workerData: { config: deps.config },
    name: 'webhook-relay',
  });
  const destination = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!;
  let counts = new Map<string, number>();
  const calls = new Map<number, { resolve(v: string | undefined): void; reject(err: Error): void }>();
  let nextId = 1;
  let stopping = false;
  let markReady!: (r: { nice?: number; priorityError?: string }) => void;
  const ready = new Promise<{ nice?: number; priorityError?: string }>((r) => (markReady = r));

  worker.on('message', (m: FromRelay) => {
    switch (m.op) {
      case 'log':
        return destination.write(m.line);
      case 'attempts':
        for (const [endpointId, outcome, latencyMs] of m.list) deps.onAttempt(endpointId, outcome, latencyMs);
        return;
      case 'in-memory':
        counts = new Map(m.counts);
        return;
      case 'batch':
        return deps.onBatch(m.stream, m.size);
      case 'ready':
        return markReady(m);
      case 'reply': {
        const call = calls.get(m.id);
        calls.delete(m.id);
        if (m.error !== undefined) call?.reject(new Error(m.error));
        else call?.resolve(m.value);
      }
    }
  });
  const failCalls = (err: Error) => {
    for (const call of calls.values()) call.reject(err);
    calls.clear();
  };
  worker.on('error', (err) => {
    log.fatal({ err }, 'webhook relay thread failed');
    failCalls(err);
    deps.onCrash(err);
  });
  worker.on('exit', (code) => {
    if (stopping) return;
    const err = new Error(`webhook relay thread exited (code ${code})`);
    failCalls(err);
    if (code !== 1) deps.onCrash(err); // 1 follows an 'error', reported above
  });

  const post = (m: ToRelay) => worker.postMessage(m);
  function call(m: Record<string, unknown> & { op: 'release' | 'test' | 'stop' }): Promise<string | undefined> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      calls.set(id, { resolve, reject });
      post({ ...m, id } as ToRelay);
    });
  }

  return {
    consume(partition, reclaim) {
      post({ op: 'consume', partition, reclaim });
      return { stop: async () => void (await call({ op: 'release', partition }).catch(() => {})) };
    },
    async sendTest(endpointId) {
      return (await call({ op: 'test', endpointId }))!;
    },
    inMemory: (endpointId) => counts.get(endpointId) ?? 0,
    ready,
    halt: () => post({ op: 'halt' }),
    async stop() {
      if (stopping) return;
      stopping = true;
      // Past the deadline, what it still holds is pending in the ledger or due in the store.
      const stopped = await within(
        STOP_MS,
        call({ op: 'stop' }).then(() => true),
      );
      if (!stopped) log.warn({ ms: STOP_MS }, 'webhook relay thread did not stop in time; terminated');
      await worker.terminate();
    },
  };
}
